"""What one request may ask of the server, declared once: body size, images
per request, pixels per input image, waiting jobs. Prompt length is the
engine's own limit (request.MAX_PROMPT_CHARS), so the CLI and the window
refuse the same prompts.
Only the standard library and the engine's request module: `studio --help`
reads DEFAULT_MAX_QUEUE from here."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.byte_sizes import size_text
from ..engine.request import MAX_BATCH, MAX_PROMPT_CHARS, MAX_SIDE

IMAGE_PATH = "/generate/image"
JOBS_PATH = "/jobs"  # POST /jobs takes the body of /generate/image
IMAGE_BODY_PATHS = (IMAGE_PATH, JOBS_PATH)
IMAGE_FIELDS = ("init_image", "mask_image", "control_image")
MAX_IMAGE_FIELD = 40 * 2**20  # base64 characters of one input image
MAX_IMAGE_FILE = MAX_IMAGE_FIELD * 3 // 4  # the file they decode to: 30 MB
# The largest image a request may ask for. A larger input only gets scaled down,
# and a small file can declare a huge size (a PNG of one colour compresses
# 1000:1), so the header's size is checked before the pixels are decoded.
MAX_INPUT_PIXELS = MAX_SIDE * MAX_SIDE
MAX_IMAGES_PER_REQUEST = MAX_BATCH  # prompts × batch_count: one batch, as in the window
DEFAULT_MAX_QUEUE = 16  # waiting jobs; `studio serve --max-queue`
# A full queue drains at the speed of the model, which the server cannot promise;
# a few seconds lets a polite client come back soon without hammering it.
QUEUE_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class JobLimits:
    """How long the job API (jobs_api.py) keeps a job nobody follows, and ended ones."""

    # A job whose events stream closed (or was never opened) and that nobody
    # follows again within this many seconds is cancelled: its client is gone.
    grace_s: float = 30.0
    # Ended jobs keep their images in memory this long, and only the newest few
    # (16 PNGs of a large image are ~100 MB); then GET says they are gone.
    keep_s: float = 600.0
    keep_count: int = 16


# The text of a body: the prompt, the negative prompt and the batch's other
# prompts, each up to MAX_PROMPT_CHARS, which JSON may write as two \uXXXX
# escapes per character (12 bytes); plus numbers, names, LoRA paths, a watermark.
_JSON_BYTES_PER_CHAR = 12
_OTHER_FIELDS_BYTES = 64 * 2**10
MAX_TEXT_BODY = (
    MAX_IMAGES_PER_REQUEST + 1
) * MAX_PROMPT_CHARS * _JSON_BYTES_PER_CHAR + _OTHER_FIELDS_BYTES
# An image field on the wire: its base64, where some encoders write "/" as "\/"
# (one base64 character in 64, on average).
IMAGE_FIELD_WIRE_BYTES = MAX_IMAGE_FIELD * 33 // 32
MAX_IMAGE_BODY = MAX_TEXT_BODY + len(IMAGE_FIELDS) * IMAGE_FIELD_WIRE_BYTES


def too_large_sentence(path: str) -> str:
    if path in IMAGE_BODY_PATHS:
        allowed = (
            f"at most {size_text(MAX_TEXT_BODY)} of text plus {size_text(MAX_IMAGE_FILE)} per "
            f"image ({', '.join(IMAGE_FIELDS)})"
        )
    else:
        allowed = f"at most {size_text(MAX_TEXT_BODY)}"
    return f"The request body is too large; {path} takes {allowed}. Send less."

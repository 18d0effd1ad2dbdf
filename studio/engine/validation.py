"""Checking a request at the boundary: every bad request is a sentence.

Ranges and choices come from the fields' declarations (request_fields.py); what
they cannot say (combinations, images, files) is checked here. No torch here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from .errors import RequestError, RequestTooLargeError
from .request_fields import request_fields
from .request_values import (
    INIT_MODES,
    MAX_BATCH,
    MAX_PROMPT_CHARS,
    MAX_PROMPT_CHUNKS,
    MAX_SIDE,
    MIN_SIDE,
    PROMPT_CHUNK_TOKENS,
    SIZE_MULTIPLE,
    Mode,
)
from .watermark import Watermark

# A GenerationRequest: request.py imports this module, so it is not named here.
Request = TypeVar("Request", bound=Any)

# Set on what validate() returns; not a field, so replace() makes an unchecked copy.
_VALIDATED = "_validated_notices"


def is_validated(request: Any) -> bool:
    return _VALIDATED in request.__dict__


def snap_side(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"The {what} must be a whole number of pixels, not {value!r}.")
    snapped = int(value / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE  # halves round up
    if not MIN_SIDE <= snapped <= MAX_SIDE:
        raise RequestError(
            f"The {what} must be between {MIN_SIDE} and {MAX_SIDE} pixels; {value} is out of range."
        )
    return snapped


def _check_range(value: float, low: float, high: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"The {what} must be a number, not {value!r}.")
    if not low <= value <= high:
        raise RequestError(f"The {what} must be between {low:g} and {high:g}; got {value:g}.")


def _check_prompt_lengths(r: Any) -> None:
    texts = [("The prompt", r.prompt), ("The negative prompt", r.negative_prompt)]
    texts += [(f"Batch prompt {i}", p) for i, p in enumerate(r.extra_prompts, start=2)]
    for what, text in texts:
        if len(text) > MAX_PROMPT_CHARS:
            raise RequestTooLargeError(
                f"{what} is {len(text):,} characters long; at most {MAX_PROMPT_CHARS:,} are "
                f"accepted (about {MAX_PROMPT_CHUNKS} chunks of {PROMPT_CHUNK_TOKENS} tokens, "
                "more than a model follows). Shorten it."
            )


def _mask_is_empty(mask: Image.Image) -> bool:
    # A mask painted with a soft brush may be faint; anything at or below 1%
    # grey is treated as unpainted.
    return mask.getextrema()[1] <= 2


def validate(request: Request) -> tuple[Request, list[str]]:
    if request.is_validated:
        return request, list(request.__dict__[_VALIDATED])
    notices: list[str] = []
    r = request
    if not isinstance(r.prompt, str) or not isinstance(r.negative_prompt, str):
        raise RequestError("The prompt and negative prompt must be text.")
    if not isinstance(r.extra_prompts, tuple) or not all(
        isinstance(p, str) for p in r.extra_prompts
    ):
        raise RequestError("The batch prompts must be a list of texts.")
    _check_prompt_lengths(r)
    mode = r.mode
    if not isinstance(r.model, str) or not r.model.strip():
        raise RequestError("No model is chosen: pick a catalog model, a folder or a file.")
    for f in request_fields(type(r)):
        value = getattr(r, f.name)
        if f.spec.choices and value is not None and value not in f.choices:
            raise RequestError(f.choice_sentence(value))
        if f.is_number and not f.spec.multiple:  # sizes are snapped below
            f.check(value)
    if mode in INIT_MODES and r.strength <= 0:
        raise RequestError("A strength of 0 changes nothing; use a value above 0.")
    if r.image_count > MAX_BATCH:
        raise RequestError(
            f"{len(r.prompts)} prompts × {r.batch_count} images make {r.image_count} images in "
            f"one job; at most {MAX_BATCH} fit. Lower the batch count or split the prompts."
        )
    if r.watermark is not None and not isinstance(r.watermark, Watermark):
        raise RequestError("The watermark settings are not a Watermark.")
    watermark = r.watermark.validated() if r.watermark is not None else None
    if r.canny_low > r.canny_high:
        raise RequestError(
            f"The canny low threshold ({r.canny_low}) must not exceed "
            f"the high one ({r.canny_high})."
        )
    for lora in r.loras:
        path = Path(lora.path)
        if path.suffix.lower() != ".safetensors":
            raise RequestError(f"LoRA {path.name!r} is not a .safetensors file.")
        if not path.is_file():
            raise RequestError(f"LoRA file {str(path)!r} does not exist.")
        _check_range(lora.weight, -5.0, 5.0, f"weight of LoRA {lora.name!r}")

    init, mask, control = r.init_image, r.mask_image, r.control_image
    for image, what in ((init, "init image"), (mask, "mask"), (control, "control image")):
        if image is not None and not isinstance(image, Image.Image):
            raise RequestError(f"The {what} is not an image.")
    if mode in INIT_MODES and init is None:
        raise RequestError(f"{mode.value} needs an init image: open or paint one first.")
    if mode is Mode.INPAINT:
        if mask is None:
            raise RequestError("Inpainting needs a mask: paint the area to change.")
        if mask.size != init.size:
            raise RequestError(
                f"The mask is {mask.size[0]}×{mask.size[1]} but the image is "
                f"{init.size[0]}×{init.size[1]}; they must be the same size."
            )
        mask = _in_mode(mask, "L")
        if _mask_is_empty(mask):
            raise RequestError("The mask is empty: paint the area to change with the mask brush.")
    if mode is Mode.CONTROLNET_CANNY and control is None:
        if init is None:
            raise RequestError("ControlNet canny needs a control image to take edges from.")
        control = init
        notices.append("No control image was given; edges are taken from the init image.")

    # Sizes: explicit sizes win; otherwise an input image sets them; otherwise
    # the model's default is filled in later (None stays None).
    source = init if mode in INIT_MODES else control
    width, height = r.width, r.height
    if source is not None:
        width = source.width if width is None else width
        height = source.height if height is None else height
    if width is not None:
        snapped = snap_side(width, "width")
        if snapped != width:
            notices.append(f"Width {width} was rounded to {snapped} (a multiple of 8).")
        width = snapped
    if height is not None:
        snapped = snap_side(height, "height")
        if snapped != height:
            notices.append(f"Height {height} was rounded to {snapped} (a multiple of 8).")
        height = snapped

    resolved = r.replace(
        width=width,
        height=height,
        init_image=_in_mode(init, "RGB"),
        mask_image=mask if mode is Mode.INPAINT else None,
        control_image=_in_mode(control, "RGB"),
        watermark=watermark,
    )
    object.__setattr__(resolved, _VALIDATED, tuple(notices))
    return resolved, notices


def _in_mode(image: Image.Image | None, mode: str) -> Image.Image | None:
    # Not copied when it already is: a big image is not copied again when the
    # same images reach validation in several jobs (a batch's).
    return image if image is None or image.mode == mode else image.convert(mode)


def check_denoising_steps(request: Any) -> None:
    """img2img runs only strength × steps of its steps; zero of them is an error."""
    partial = request.mode in INIT_MODES and request.steps is not None
    if partial and int(request.steps * request.strength) < 1:
        raise RequestError(
            f"With {request.steps} steps and strength {request.strength:g} no denoising step "
            "would run; raise the steps or the strength."
        )

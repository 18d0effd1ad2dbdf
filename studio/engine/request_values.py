"""The values a generation request takes: its limits, modes and samplers.

Below request.py and validation.py, which both read them. No torch here.
"""

from __future__ import annotations

from enum import StrEnum

MIN_SIDE = 64
MAX_SIDE = 4096
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_BATCH = 16
MAX_SEED = 2**64 - 1
SIZE_MULTIPLE = 8
# Prompts: A1111-style long prompts are encoded in chunks of the CLIP window (77
# tokens less the start and end markers); no model follows more than a few.
PROMPT_CHUNK_TOKENS = 75
MAX_PROMPT_CHUNKS = 8
# Characters are counted, not tokens, so no tokenizer is loaded to say no. English
# averages about 4 characters per CLIP token; 8 leaves room for A1111's (word:1.2)
# weights and <lora:...> tags, which add characters but few or no tokens.
CHARS_PER_TOKEN = 8
MAX_PROMPT_CHARS = PROMPT_CHUNK_TOKENS * MAX_PROMPT_CHUNKS * CHARS_PER_TOKEN


class Mode(StrEnum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    CONTROLNET_CANNY = "controlnet-canny"


class InpaintContext(StrEnum):
    """Which part of the image the model sees when inpainting."""

    WHOLE = "whole"  # the whole picture, at the requested size
    MASKED = "masked"  # only the mask's bounding box plus padding, at native size


SCHEDULERS = ("euler", "euler-a", "dpm++2m", "dpm++2m-karras", "ddim", "lcm")

INIT_MODES = (Mode.IMG2IMG, Mode.INPAINT)  # the modes that start from an image
# What the panel shows for each choice (the infotext has names of its own).
MODE_LABELS = {
    Mode.TXT2IMG: "Text to image",
    Mode.IMG2IMG: "Image to image",
    Mode.INPAINT: "Inpaint (masked area)",
    Mode.CONTROLNET_CANNY: "ControlNet canny (follow edges)",
}
SCHEDULER_LABELS = {
    "euler": "Euler",
    "euler-a": "Euler a",
    "dpm++2m": "DPM++ 2M",
    "dpm++2m-karras": "DPM++ 2M Karras",
    "ddim": "DDIM",
    "lcm": "LCM",
}
INPAINT_CONTEXT_LABELS = {
    InpaintContext.WHOLE: "Whole picture",
    InpaintContext.MASKED: "Only masked area (more detail)",
}
INPAINT_AREA_NAMES = {InpaintContext.WHOLE: "Whole picture", InpaintContext.MASKED: "Only masked"}

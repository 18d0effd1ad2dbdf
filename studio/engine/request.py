"""Every input of a generation in one immutable request, validated at the boundary.

Nothing here imports torch: the window, the CLI and the HTTP API build and
check requests before any model is touched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from PIL import Image

from .errors import RequestError, RequestTooLargeError
from .models import DEFAULT_IMAGE_MODEL
from .watermark import Watermark

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


@dataclass(frozen=True)
class LoraSpec:
    path: str
    weight: float = 1.0

    @property
    def name(self) -> str:
        return Path(self.path).stem


@dataclass(frozen=True)
class GenerationRequest:
    """One generation. `None` means "the model's default" for steps, guidance,
    scheduler and size, and "random" for the seed."""

    prompt: str
    mode: Mode = Mode.TXT2IMG
    negative_prompt: str = ""
    model: str = DEFAULT_IMAGE_MODEL
    controlnet: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    strength: float = 0.75
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    batch_count: int = 1
    init_image: Image.Image | None = field(default=None, repr=False, compare=False)
    mask_image: Image.Image | None = field(default=None, repr=False, compare=False)
    mask_blur: int = 4
    control_image: Image.Image | None = field(default=None, repr=False, compare=False)
    control_is_edges: bool = False
    canny_low: int = 100
    canny_high: int = 200
    controlnet_scale: float = 1.0
    inpaint_context: InpaintContext = InpaintContext.WHOLE
    inpaint_padding: int = 32
    loras: tuple[LoraSpec, ...] = ()
    # More prompts with the same settings, run in the same pipeline call: image
    # i of the job uses prompts[i // batch_count] (see batch.py).
    extra_prompts: tuple[str, ...] = ()
    watermark: Watermark | None = None  # None: the engine's default (usually none)
    force_regenerate: bool = False  # skip the result cache (the new result is stored)

    @property
    def prompts(self) -> tuple[str, ...]:
        return (self.prompt, *self.extra_prompts)

    @property
    def image_count(self) -> int:
        return len(self.prompts) * self.batch_count

    def replace(self, **changes: object) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def validated(self) -> tuple[GenerationRequest, list[str]]:
        """Checks every field; returns the request with sizes snapped to
        multiples of 8 and images in the colour mode the engine expects, plus
        notices for what was adjusted. Raises RequestError with a sentence."""
        return validate(self)


@dataclass(frozen=True)
class GenerationResult:
    images: tuple[Image.Image, ...]
    seeds: tuple[int, ...]
    request: GenerationRequest  # fully resolved: no None left for defaults
    model_label: str
    infotexts: tuple[str, ...]
    elapsed_s: float
    notices: tuple[str, ...] = ()
    cached: bool = False  # served from the result cache, not generated now


def snap_side(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"The {what} must be a whole number of pixels, not {value!r}.")
    snapped = int(value / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE  # halves round up
    if not MIN_SIDE <= snapped <= MAX_SIDE:
        raise RequestError(
            f"The {what} must be between {MIN_SIDE} and {MAX_SIDE} pixels; {value} is out of range."
        )
    return snapped


def _check_range(value: float, low: float, high: float, what: str, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"The {what} must be a number, not {value!r}.")
    if not low <= value <= high:
        raise RequestError(f"The {what} must be between {low:g} and {high:g}; got {value:g}.{hint}")


def _check_prompt_lengths(r: GenerationRequest) -> None:
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


def validate(request: GenerationRequest) -> tuple[GenerationRequest, list[str]]:
    notices: list[str] = []
    r = request
    if not isinstance(r.prompt, str) or not isinstance(r.negative_prompt, str):
        raise RequestError("The prompt and negative prompt must be text.")
    if not isinstance(r.extra_prompts, tuple) or not all(
        isinstance(p, str) for p in r.extra_prompts
    ):
        raise RequestError("The batch prompts must be a list of texts.")
    _check_prompt_lengths(r)
    try:
        mode = Mode(r.mode)
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise RequestError(f"Unknown mode {r.mode!r}; choose one of: {choices}.") from None
    try:
        context = InpaintContext(r.inpaint_context)
    except ValueError:
        raise RequestError(
            f"Unknown inpaint context {r.inpaint_context!r}; choose 'whole' or 'masked'."
        ) from None
    if not isinstance(r.model, str) or not r.model.strip():
        raise RequestError("No model is chosen: pick a catalog model, a folder or a file.")
    if r.scheduler is not None and r.scheduler not in SCHEDULERS:
        raise RequestError(
            f"Unknown scheduler {r.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}."
        )
    if r.steps is not None:
        if isinstance(r.steps, bool) or not isinstance(r.steps, int):
            raise RequestError(f"Steps must be a whole number, not {r.steps!r}.")
        _check_range(r.steps, 1, MAX_STEPS, "number of steps")
    if r.guidance_scale is not None:
        _check_range(r.guidance_scale, 0.0, MAX_GUIDANCE, "guidance scale (CFG)")
    _check_range(r.strength, 0.0, 1.0, "strength")
    if mode in (Mode.IMG2IMG, Mode.INPAINT) and r.strength <= 0:
        raise RequestError("A strength of 0 changes nothing; use a value above 0.")
    if r.seed is not None:
        if isinstance(r.seed, bool) or not isinstance(r.seed, int):
            raise RequestError(f"The seed must be a whole number, not {r.seed!r}.")
        _check_range(r.seed, 0, MAX_SEED, "seed", " Leave it empty for a random seed.")
    if isinstance(r.batch_count, bool) or not isinstance(r.batch_count, int):
        raise RequestError(f"The batch count must be a whole number, not {r.batch_count!r}.")
    _check_range(r.batch_count, 1, MAX_BATCH, "batch count")
    if r.image_count > MAX_BATCH:
        raise RequestError(
            f"{len(r.prompts)} prompts × {r.batch_count} images make {r.image_count} images in "
            f"one job; at most {MAX_BATCH} fit. Lower the batch count or split the prompts."
        )
    if r.watermark is not None and not isinstance(r.watermark, Watermark):
        raise RequestError("The watermark settings are not a Watermark.")
    watermark = r.watermark.validated() if r.watermark is not None else None
    _check_range(r.mask_blur, 0, 256, "mask feather")
    _check_range(r.inpaint_padding, 0, 1024, "inpaint padding")
    _check_range(r.controlnet_scale, 0.0, 2.0, "ControlNet conditioning scale")
    _check_range(r.canny_low, 0, 255, "canny low threshold")
    _check_range(r.canny_high, 0, 255, "canny high threshold")
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
    if mode in (Mode.IMG2IMG, Mode.INPAINT) and init is None:
        raise RequestError(f"{mode.value} needs an init image: open or paint one first.")
    if mode is Mode.INPAINT:
        if mask is None:
            raise RequestError("Inpainting needs a mask: paint the area to change.")
        if mask.size != init.size:
            raise RequestError(
                f"The mask is {mask.size[0]}×{mask.size[1]} but the image is "
                f"{init.size[0]}×{init.size[1]}; they must be the same size."
            )
        mask = mask.convert("L")
        if _mask_is_empty(mask):
            raise RequestError("The mask is empty: paint the area to change with the mask brush.")
    if mode is Mode.CONTROLNET_CANNY and control is None:
        if init is None:
            raise RequestError("ControlNet canny needs a control image to take edges from.")
        control = init
        notices.append("No control image was given; edges are taken from the init image.")

    # Sizes: explicit sizes win; otherwise an input image sets them; otherwise
    # the model's default is filled in later (None stays None).
    source = init if mode in (Mode.IMG2IMG, Mode.INPAINT) else control
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
        mode=mode,
        inpaint_context=context,
        width=width,
        height=height,
        init_image=init.convert("RGB") if init is not None else None,
        mask_image=mask if mode is Mode.INPAINT else None,
        control_image=control.convert("RGB") if control is not None else None,
        watermark=watermark,
    )
    return resolved, notices


def check_denoising_steps(request: GenerationRequest) -> None:
    """img2img runs only strength × steps of its steps; zero of them is an error."""
    partial = request.mode in (Mode.IMG2IMG, Mode.INPAINT) and request.steps is not None
    if partial and int(request.steps * request.strength) < 1:
        raise RequestError(
            f"With {request.steps} steps and strength {request.strength:g} no denoising step "
            "would run; raise the steps or the strength."
        )

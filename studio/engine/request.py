"""Every input of a generation in one immutable request, each field declared once.

Nothing here imports torch: the window, the CLI and the HTTP API build and
check requests before any model is touched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .catalog import DEFAULT_IMAGE_MODEL
from .errors import RequestError
from .request_fields import RequestField, declared, request_fields
from .request_values import (
    INIT_MODES,
    INPAINT_AREA_NAMES,
    INPAINT_CONTEXT_LABELS,
    MAX_BATCH,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    MODE_LABELS,
    SCHEDULER_LABELS,
    SCHEDULERS,
    SIZE_MULTIPLE,
    InpaintContext,
    Mode,
)
from .request_values import MAX_PROMPT_CHARS as MAX_PROMPT_CHARS  # re-exported
from .validation import check_denoising_steps as check_denoising_steps  # re-exported
from .validation import is_validated, validate
from .validation import snap_side as snap_side  # re-exported
from .watermark import Watermark


@dataclass(frozen=True)
class LoraSpec:
    path: str
    weight: float = 1.0

    @property
    def name(self) -> str:
        return Path(self.path).stem


_INPAINT = (Mode.INPAINT,)  # the modes a field applies to
_CANNY = (Mode.CONTROLNET_CANNY,)
_NEEDS_CANNY = "ControlNet canny"


@dataclass(frozen=True)
class GenerationRequest:
    """One generation. `None` means "the model's default" for steps, guidance,
    scheduler and size, and "random" for the seed. Each field declares its
    range, label, help and surface names once (request_fields.py)."""

    prompt: str = declared(label="Prompt", help="what to draw", infotext="Prompt", cli_short="-p")
    mode: Mode = declared(
        Mode.TXT2IMG,
        label="Mode",
        help="generation mode (default: txt2img)",
        infotext="Mode",
        choice_labels=MODE_LABELS,
    )
    negative_prompt: str = declared(
        "",
        label="Negative prompt",
        help="what to avoid (negative prompt)",
        infotext="Negative prompt",
        cli="--negative",
        panel="negative",
    )
    model: str = declared(
        DEFAULT_IMAGE_MODEL,
        label="Model",
        help="catalog name, diffusers folder, .safetensors file or cached hub id "
        f"(default: {DEFAULT_IMAGE_MODEL}, bundled)",
        api_help="what `studio generate --model` takes: a catalog name (sd15, sd21, sdxl, "
        "sd-turbo, ..., tiny-random), a diffusers folder, a .safetensors file or a cached "
        "hub id; null: the server's default",
        infotext="Model",
        cli_short="-m",
    )
    controlnet: str | None = declared(
        None,
        label="ControlNet",
        help="ControlNet model (default: the model's canny one)",
        infotext="Model",
        infotext_unit=True,
        modes=_CANNY,
        panel=None,  # the model's own canny ControlNet; other ones from the CLI and API
    )
    scheduler: str | None = declared(
        None,
        label="Sampler",
        what="scheduler",
        help="sampler (default: the model's)",
        api_help="euler, euler-a, dpm++2m, ...; null: the model's default",
        infotext="Sampler",
        choices=SCHEDULERS,
        none_label="Model default",
        choice_labels=SCHEDULER_LABELS,
    )
    steps: int | None = declared(
        None,
        label="Steps",
        what="number of steps",
        help="denoising steps (default: the model's)",
        api_help="null: the model's default",
        low=1,
        high=MAX_STEPS,
        api="num_inference_steps",
        infotext="Steps",
    )
    guidance_scale: float | None = declared(
        None,
        label="Guidance (CFG)",
        what="guidance scale (CFG)",
        help="guidance scale / CFG (default: the model's)",
        api_help="null: the model's default",
        low=0.0,
        high=MAX_GUIDANCE,
        cli="--guidance",
        panel="guidance",
        panel_step=0.5,
        panel_decimals=1,
        infotext="CFG scale",
    )
    strength: float = declared(
        0.75,
        label="Strength",
        help="img2img / inpaint: how much changes (0 to 1)",
        low=0.0,
        high=1.0,
        modes=INIT_MODES,
        panel_low=0.01,  # 0 changes nothing: validation refuses it in these modes
        panel_step=0.05,
        infotext="Denoising strength",
    )
    width: int | None = declared(
        None,
        label="Width",
        help="width in pixels, a multiple of 8",
        api_help="pixels, rounded to a multiple of 8; null: the model's default",
        low=MIN_SIDE,
        high=MAX_SIDE,
        multiple=SIZE_MULTIPLE,
        panel_step=SIZE_MULTIPLE,
        panel_suffix=" px",
        infotext="Size",
    )
    height: int | None = declared(
        None,
        label="Height",
        help="height in pixels, a multiple of 8",
        api_help="pixels, rounded to a multiple of 8; null: the model's default",
        low=MIN_SIDE,
        high=MAX_SIDE,
        multiple=SIZE_MULTIPLE,
        panel_step=SIZE_MULTIPLE,
        panel_suffix=" px",
        infotext="Size",
    )
    seed: int | None = declared(
        None,
        label="Seed",
        help="seed; -1 for random (default)",
        api_help="null or -1: random (reported back)",
        low=0,
        high=MAX_SEED,
        hint=" Leave it empty for a random seed.",
        random_alias=-1,
        infotext="Seed",
    )
    batch_count: int = declared(
        1,
        label="Batch",
        what="batch count",
        help="images per prompt (default: 1)",
        low=1,
        high=MAX_BATCH,
        cli="--batch",
        panel="batch",
        infotext="Batch size",
        infotext_if_changed=True,
    )
    init_image: Image.Image | None = declared(
        None,
        repr=False,
        compare=False,
        label="Init image",
        help="init image for img2img and inpaint",
        api_help="base64 PNG/JPEG (img2img, inpaint)",
        cli="--init",
        panel=None,  # the canvas
        infotext=None,
    )
    mask_image: Image.Image | None = declared(
        None,
        repr=False,
        compare=False,
        label="Mask",
        help="mask image for inpaint (white = change)",
        api_help="base64; white = change (inpaint)",
        cli="--mask",
        panel=None,  # the canvas's mask layer
        infotext=None,
    )
    control_image: Image.Image | None = declared(
        None,
        repr=False,
        compare=False,
        label="Control image",
        help="source image for ControlNet canny edges",
        api_help="base64 (controlnet-canny)",
        cli="--control",
        panel=None,  # the canvas
        infotext=None,
    )
    control_is_edges: bool = declared(
        False,
        label="Control image is an edge map",
        help="--control is an edge map",
        api_help="control_image is an edge map already",
        modes=_CANNY,
        panel=None,  # the canvas is a picture, never an edge map
        infotext=None,  # the edge map is not in the text either
    )
    canny_low: int = declared(
        100,
        label="Low threshold",
        what="canny low threshold",
        help="canny low threshold",
        low=0,
        high=255,
        modes=_CANNY,
        panel_group=_NEEDS_CANNY,
        infotext="Threshold A",
        infotext_unit=True,
    )
    canny_high: int = declared(
        200,
        label="High threshold",
        what="canny high threshold",
        help="canny high threshold",
        low=0,
        high=255,
        modes=_CANNY,
        panel_group=_NEEDS_CANNY,
        infotext="Threshold B",
        infotext_unit=True,
    )
    controlnet_scale: float = declared(
        1.0,
        label="Control strength",
        what="ControlNet conditioning scale",
        help="ControlNet strength",
        low=0.0,
        high=2.0,
        modes=_CANNY,
        cli="--control-scale",
        panel="control_scale",
        panel_group=_NEEDS_CANNY,
        panel_step=0.05,
        infotext="Weight",
        infotext_unit=True,
    )
    inpaint_context: InpaintContext = declared(
        InpaintContext.WHOLE,
        label="Area",
        what="inpaint context",
        help="inpaint the whole picture or only the masked region",
        modes=_INPAINT,
        cli="--inpaint-area",
        api="inpaint_area",
        panel_group="Inpainting",
        choice_labels=INPAINT_CONTEXT_LABELS,
        infotext="Inpaint area",
        infotext_values=INPAINT_AREA_NAMES,
    )
    inpaint_padding: int = declared(
        32,
        label="Padding",
        what="inpaint padding",
        help="padding around the masked region",
        low=0,
        high=1024,
        modes=_INPAINT,
        cli="--padding",
        panel="padding",
        panel_group="Inpainting",
        panel_step=8,
        panel_suffix=" px",
        infotext="Masked area padding",
    )
    mask_blur: int = declared(
        4,
        label="Mask feather",
        help="mask feather in pixels",
        low=0,
        high=256,
        modes=_INPAINT,
        panel_group="Inpainting",
        panel_suffix=" px",
        infotext="Mask blur",
    )
    loras: tuple[LoraSpec, ...] = declared(
        (),
        label="LoRAs",
        help="apply a LoRA .safetensors file (repeatable)",
        cli="--lora",
        panel=None,  # not in the panel yet
        infotext="Lora",
        infotext_read=False,  # names only: the files come from the user
    )
    # More prompts with the same settings, run in the same pipeline call: image
    # i of the job uses prompts[i // batch_count] (see batch.py).
    extra_prompts: tuple[str, ...] = declared(
        (),
        label="Batch prompts",
        help="more prompts with the same settings",
        # Each surface has its own way to many prompts, split into jobs by batch.py:
        cli=None,  # --prompts-file
        api=None,  # "prompts"
        panel=None,  # "one prompt per line"
        infotext=None,  # each image has its own prompt
    )
    watermark: Watermark | None = declared(
        None,
        label="Watermark",
        help="null: the server's watermark setting (usually none)",
        cli=None,  # the --watermark options set the engine's default (ServiceOptions)
        panel=None,  # a preference, not a per-image setting
        infotext=None,  # the image's pixels show it
    )
    force_regenerate: bool = declared(
        False,
        label="Force regenerate",
        help="force regenerate: do not answer from the cache",
        api_help="skip the result cache",
        cli="--force",
        panel=None,  # a menu action, per job
        infotext=None,  # the same recipe either way
    )

    def __post_init__(self) -> None:
        # Enums are coerced once, here, so nobody re-wraps Mode(...) later.
        for f in _ENUM_FIELDS:
            value = getattr(self, f.name)
            if not isinstance(value, f.kind):
                try:
                    object.__setattr__(self, f.name, f.kind(value))
                except ValueError:
                    raise RequestError(f.choice_sentence(value)) from None

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
        notices for what was adjusted. Raises RequestError with a sentence.
        A request this returned is returned as it is, with the same notices:
        each path validates once however many layers ask."""
        return validate(self)

    @property
    def is_validated(self) -> bool:
        return is_validated(self)


FIELDS: tuple[RequestField, ...] = request_fields(GenerationRequest)
FIELD: dict[str, RequestField] = {f.name: f for f in FIELDS}
_ENUM_FIELDS = tuple(f for f in FIELDS if f.is_enum)


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

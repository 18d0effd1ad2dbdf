"""The second stage of a generation: running a Plan through its pipeline.

run() loads the pipeline (or takes it from memory), sets the sampler and the
LoRAs, and denoises, reporting every step and checking for cancellation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from . import masking
from .canny import canny_edges
from .errors import EngineError, JobCancelledError, OutOfMemoryError
from .pipelines import PipelineStore
from .plan import Plan
from .preview import latents_to_rgb
from .request import GenerationRequest, InpaintContext, Mode
from .resolve import ResolvedModel
from .schedulers import make_scheduler


@dataclass(frozen=True)
class StepInfo:
    step: int  # 1-based: the step just finished
    total: int
    preview: Image.Image | None  # latents of the first image, one pixel per latent
    region: tuple[int, int, int, int] | None = None  # where it lands; None: whole image


OnStep = Callable[[StepInfo], None]
OnLoading = Callable[[str], None]  # the label of the model whose weights are being read
ShouldCancel = Callable[[], bool]


def run(
    plan: Plan,
    store: PipelineStore,
    on_step: OnStep | None,
    cancelled: ShouldCancel,
    on_loading: OnLoading | None = None,
) -> list[Image.Image]:
    """The plan's images, straight from the pipeline. Raises JobCancelledError
    when `cancelled()` turns true (checked before loading and at every step),
    else an EngineError with a sentence for the user."""
    if cancelled():
        raise JobCancelledError
    model, controlnet, request = plan.model, plan.controlnet, plan.request
    if on_loading is not None and store.will_load(model, controlnet):
        # the first job of a model spends its first seconds (or minutes) here
        loading = model if controlnet is None or store.will_load(model) else controlnet
        on_loading(loading.label)
    pipe = store.pipeline_for(model, request.mode, controlnet)
    pipe.scheduler = make_scheduler(request.scheduler, store.original_scheduler)
    store.loras.apply(pipe, request.loras)
    try:
        return _denoise(pipe, plan, on_step, cancelled)
    except JobCancelledError:
        raise
    except Exception as exc:
        raise translate_error(exc, request) from exc


def _denoise(
    pipe: Any, plan: Plan, on_step: OnStep | None, cancelled: ShouldCancel
) -> list[Image.Image]:
    import torch

    request, model = plan.request, plan.model
    width, height = request.width, request.height
    assert width is not None and height is not None
    region: tuple[int, int, int, int] | None = None

    def step_end(p: Any, index: int, _timestep: Any, tensors: dict) -> dict:
        if cancelled():
            raise JobCancelledError
        if on_step is not None:
            preview = latents_to_rgb(tensors["latents"], model.architecture)
            on_step(StepInfo(index + 1, p.num_timesteps, preview, region))
        return tensors

    prompts = request.prompts
    kwargs: dict[str, Any] = {
        # A list of prompts is diffusers' batch dimension: one call for them all.
        "prompt": prompts[0] if len(prompts) == 1 else list(prompts),
        "negative_prompt": _negative_argument(plan.negatives),
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "num_images_per_prompt": request.batch_count,
        # One CPU generator per image: image i is reproducible from its own
        # seed alone, on any device.
        "generator": [torch.Generator("cpu").manual_seed(s) for s in plan.seeds],
        "callback_on_step_end": step_end,
        "callback_on_step_end_tensor_inputs": ["latents"],
        "output_type": "pil",
    }
    mode = request.mode
    if mode is Mode.TXT2IMG:
        return pipe(width=width, height=height, **kwargs).images
    if mode is Mode.CONTROLNET_CANNY:
        control = request.control_image
        edges = (
            control
            if request.control_is_edges
            else canny_edges(control, request.canny_low, request.canny_high)
        )
        return pipe(
            image=_fit(edges, width, height),
            controlnet_conditioning_scale=request.controlnet_scale,
            width=width,
            height=height,
            **kwargs,
        ).images
    init = _fit(request.init_image, width, height)
    if mode is Mode.IMG2IMG:
        return pipe(image=init, strength=request.strength, **kwargs).images

    soft = masking.feather(_fit(request.mask_image, width, height), request.mask_blur)
    if request.inpaint_context is InpaintContext.WHOLE:
        out = pipe(
            image=init,
            mask_image=soft,
            strength=request.strength,
            width=width,
            height=height,
            **kwargs,
        ).images
        return [masking.composite(init, image, soft) for image in out]

    box = masking.mask_bbox(soft, request.inpaint_padding)
    assert box is not None  # validation refused empty masks
    region = box
    return _inpaint_region(pipe, request, model, init, soft, box, kwargs)


def _inpaint_region(
    pipe: Any,
    request: GenerationRequest,
    model: ResolvedModel,
    init: Image.Image,
    soft: Image.Image,
    box: tuple[int, int, int, int],
    kwargs: dict[str, Any],
) -> list[Image.Image]:
    """Inpaints the mask's surroundings at the model's native size, then pastes
    them back: small masks get the model's full resolution."""
    rw, rh = masking.region_size(box, model.defaults.width)
    crop_size = (box[2] - box[0], box[3] - box[1])
    out = pipe(
        image=init.crop(box).resize((rw, rh), Image.Resampling.LANCZOS),
        mask_image=soft.crop(box).resize((rw, rh), Image.Resampling.BILINEAR),
        strength=request.strength,
        width=rw,
        height=rh,
        **kwargs,
    ).images
    results = []
    for image in out:
        pasted = init.copy()
        pasted.paste(image.resize(crop_size, Image.Resampling.LANCZOS), box[:2])
        results.append(masking.composite(init, pasted, soft))
    return results


def _negative_argument(negatives: tuple[str, ...]) -> str | list[str] | None:
    # None, not "", when there is none: SDXL then uses zero embeddings, as it should.
    if not any(negatives):
        return None
    return negatives[0] if len(negatives) == 1 else list(negatives)


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    if image.size == (width, height):
        return image
    resample = Image.Resampling.BILINEAR if image.mode == "L" else Image.Resampling.LANCZOS
    return image.resize((width, height), resample)


def translate_error(exc: Exception, request: GenerationRequest) -> EngineError:
    """An error from inside a running job as a sentence for the user."""
    if isinstance(exc, EngineError):
        return exc
    text = str(exc)
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text.lower():
        return OutOfMemoryError(
            f"The device ran out of memory generating {request.image_count} × "
            f"{request.width}×{request.height}. Lower the size or the batch count, or turn on "
            "CPU offload or attention slicing in the settings."
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return EngineError(f"Generation failed: {first}")

"""One generation, start to finish: generate(request, store, on_step, should_cancel)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from . import masking
from .cache import CachedResult, ResultCache, job_key
from .canny import canny_edges
from .errors import EngineError, JobCancelledError, OutOfMemoryError
from .infotext import format_infotext
from .models import Kind, ResolvedModel, resolve_model
from .options import DIRECT_SERVICES, ServiceOptions
from .pipelines import PipelineStore
from .pngfile import png_info
from .preview import latents_to_rgb
from .request import (
    GenerationRequest,
    GenerationResult,
    InpaintContext,
    Mode,
    check_denoising_steps,
)
from .safety import (
    find_image_checker,
    image_checker_status,
    load_image_checker,
    prompt_filter,
    screen_images,
)
from .schedulers import check_steps, make_scheduler, resolve_scheduler_id
from .watermark import apply_watermark

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepInfo:
    step: int  # 1-based: the step just finished
    total: int
    preview: Image.Image | None  # latents of the first image, one pixel per latent
    region: tuple[int, int, int, int] | None = None  # where it lands; None: whole image


OnStep = Callable[[StepInfo], None]
OnLoading = Callable[[str], None]  # the label of the model whose weights are being read
ShouldCancel = Callable[[], bool]


def resolve_defaults(request: GenerationRequest, model: ResolvedModel) -> GenerationRequest:
    """Fills what the user left to the model: steps, guidance, scheduler, size.
    The scheduler is named before the cache key is made: the model's own one by
    its id (read from its config, no weights), so a recipe restored with that id
    written out is the same job."""
    d = model.defaults
    return request.replace(
        steps=d.steps if request.steps is None else request.steps,
        guidance_scale=d.guidance_scale
        if request.guidance_scale is None
        else request.guidance_scale,
        scheduler=resolve_scheduler_id(request.scheduler or d.scheduler, model),
        width=d.width if request.width is None else request.width,
        height=d.height if request.height is None else request.height,
    )


def _resolve(spec: str, store: PipelineStore) -> ResolvedModel:
    o = store.options
    return resolve_model(
        spec, allow_pickle=o.allow_pickle, model_dirs=o.model_dirs, models_root=o.models_root
    )


def _controlnet_for(request: GenerationRequest, model: ResolvedModel, store: PipelineStore):
    spec = request.controlnet or model.controlnet
    if spec is None:
        raise EngineError(
            f"No canny ControlNet is known for {model.label!r}; choose a ControlNet folder."
        )
    controlnet = _resolve(spec, store)
    if controlnet.kind is not Kind.CONTROLNET:
        raise EngineError(f"{controlnet.label!r} is not a ControlNet model.")
    return controlnet


def generate(
    request: GenerationRequest,
    store: PipelineStore,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
    *,
    services: ServiceOptions | None = None,
    on_loading: OnLoading | None = None,
) -> GenerationResult:
    """Runs one request; returns the images and the exact parameters used.

    `services` (cache, safety filter, default watermark) default to
    DIRECT_SERVICES: the safety filter at its default and no cache. The job
    queue, the CLI and the server pass their own. `on_loading(label)` is
    called before a model's weights are read from disk (not when they are
    already in memory), `on_step` after every denoising step.

    Raises RequestError/EngineError subclasses with a user-facing sentence, or
    JobCancelledError when `should_cancel` turned true (checked at every step)."""
    started = time.perf_counter()
    services = services or DIRECT_SERVICES
    cancelled = should_cancel or (lambda: False)
    request, notices = request.validated()
    model = _resolve(request.model, store)
    request = resolve_defaults(request, model)
    check_denoising_steps(request)
    check_steps(request.scheduler, request.steps, model)
    controlnet = None
    if request.mode is Mode.CONTROLNET_CANNY:
        controlnet = _controlnet_for(request, model, store)
        request = request.replace(controlnet=controlnet.spec)
    random_seed = request.seed is None
    if random_seed:
        request = request.replace(seed=secrets.randbits(32))
    if request.watermark is None and services.watermark is not None:
        request = request.replace(watermark=services.watermark.validated())
    screened = prompt_filter(services).apply(request.prompts, request.negative_prompt)
    notices += screened.notices
    if len(request.prompts) == 1:
        request = request.replace(negative_prompt=screened.negatives[0])
    checker_folder = _image_checker_folder(services, notices)

    cache = key = None
    if services.cache:
        cache = ResultCache(services.cache_folder(), services.cache_max_mb * 2**20)
        key = job_key(request, model, controlnet, screened.negatives, store, checker_folder)
        # A random seed was drawn just now: looking it up could only miss.
        if not random_seed and not request.force_regenerate:
            hit = cache.get(key)
            if hit is not None:
                return _from_cache(hit, request, model, notices, started)
    if cancelled():
        raise JobCancelledError
    if on_loading is not None and store.will_load(model, controlnet):
        # the first job of a model spends its first seconds (or minutes) here
        loading = model if controlnet is None or store.will_load(model) else controlnet
        on_loading(loading.label)
    pipe = store.pipeline_for(model, request.mode, controlnet)
    pipe.scheduler = make_scheduler(request.scheduler, store.original_scheduler)
    store.loras.apply(pipe, request.loras)

    seeds = tuple(request.seed + i for i in range(request.image_count))
    try:
        images = _run(pipe, request, model, seeds, screened.negatives, on_step, cancelled, store)
        if checker_folder is not None:
            checker = load_image_checker(checker_folder, store.device, store.dtype)
            images, checked = screen_images(images, checker)
            notices += checked
    except JobCancelledError:
        raise
    except Exception as exc:
        raise _translate(exc, request) from exc
    if request.watermark is not None:
        images = [apply_watermark(image, request.watermark) for image in images]

    infotexts = tuple(
        _infotext(request, screened.negatives, i, s, model.label) for i, s in enumerate(seeds)
    )
    if cache is not None and key is not None:
        try:
            cache.put(key, images, seeds, infotexts, request.scheduler, notices, png_info)
        except OSError as exc:  # a full disk costs the cache, not the result
            log.warning("result not cached: %s", exc)
    return GenerationResult(
        images=tuple(images),
        seeds=seeds,
        request=request,
        model_label=model.label,
        infotexts=infotexts,
        elapsed_s=time.perf_counter() - started,
        notices=tuple(notices),
    )


def _infotext(
    request: GenerationRequest, negatives: tuple[str, ...], index: int, seed: int, label: str
) -> str:
    """Image `index`'s own parameters: its prompt, the negative it ran with, its seed."""
    which = index // request.batch_count
    own = request.replace(
        prompt=request.prompts[which], negative_prompt=negatives[which], extra_prompts=()
    )
    extra = {"Watermark": request.watermark.describe()} if request.watermark else None
    return format_infotext(own.replace(seed=seed), seed, label, extra)


def _image_checker_folder(services: ServiceOptions, notices: list[str]) -> Path | None:
    """The image checker's folder when it is on and present; else None (and a
    notice when it is on but missing)."""
    if not services.image_checker:
        return None
    folder = find_image_checker(services.image_checker_model)
    if folder is None:
        notices.append(image_checker_status(services.image_checker_model)[1])
    return folder


def _from_cache(
    hit: CachedResult,
    request: GenerationRequest,
    model: ResolvedModel,
    notices: list[str],
    started: float,
) -> GenerationResult:
    request = request.replace(scheduler=hit.scheduler or request.scheduler)
    said = [*notices, *(n for n in hit.notices if n not in notices)]
    said.append(
        "This result came from the cache (same settings and seed); "
        "use Force regenerate to run the model again."
    )
    return GenerationResult(
        images=hit.images,
        seeds=hit.seeds,
        request=request,
        model_label=model.label,
        infotexts=hit.infotexts,
        elapsed_s=time.perf_counter() - started,
        notices=tuple(said),
        cached=True,
    )


def _run(
    pipe: Any,
    request: GenerationRequest,
    model: ResolvedModel,
    seeds: tuple[int, ...],
    negatives: tuple[str, ...],
    on_step: OnStep | None,
    cancelled: ShouldCancel,
    store: PipelineStore,
) -> list[Image.Image]:
    import torch

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
        "negative_prompt": _negative_argument(negatives),
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "num_images_per_prompt": request.batch_count,
        # One CPU generator per image: image i is reproducible from its own
        # seed alone, on any device.
        "generator": [torch.Generator("cpu").manual_seed(s) for s in seeds],
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


def _translate(exc: Exception, request: GenerationRequest) -> EngineError:
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

"""One generation, start to finish: generate(request, store, on_step, should_cancel).

Three stages: prepare (plan.py, no torch: validate, resolve the model, fill in
defaults, draw the seed, screen the prompts, look in the cache) gives a Plan;
run (denoise.py: pipeline, sampler, LoRA, the steps) gives its images; finish
(here: image checks, watermark, infotext, cache store) gives the result.
"""

from __future__ import annotations

import logging
import time

from PIL import Image

from .denoise import OnLoading, OnStep, ShouldCancel, run, translate_error
from .infotext import format_infotext
from .options import DIRECT_SERVICES, ServiceOptions
from .pipelines import PipelineStore
from .plan import Plan, prepare
from .pngfile import png_info
from .request import GenerationRequest, GenerationResult
from .safety import load_image_checker, screen_images
from .watermark import apply_watermark

log = logging.getLogger(__name__)


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
    plan = prepare(request, store, services or DIRECT_SERVICES)
    if plan.cached is not None:
        return plan.cached
    loads = store.will_load(plan.model)
    images = run(plan, store, on_step, should_cancel or (lambda: False), on_loading)
    # said once per model load, so neither cached nor repeated by every job
    notice = store.decoder_notice(plan.model) if loads else None
    return finish(plan, images, store, (notice,) if notice else ())


def finish(
    plan: Plan, images: list[Image.Image], store: PipelineStore, said: tuple[str, ...] = ()
) -> GenerationResult:
    """The result of a plan's images: screened by the image checker when it is
    on, watermarked when asked, each with its infotext, stored in the cache;
    `said` is added to its notices but not stored."""
    request, seeds = plan.request, plan.seeds
    notices = list(plan.notices)
    if plan.checker_folder is not None:
        try:
            checker = load_image_checker(plan.checker_folder, store.device, store.dtype)
            images, checked = screen_images(images, checker)
        except Exception as exc:
            raise translate_error(exc, request) from exc
        notices += checked
    if request.watermark is not None:
        images = [apply_watermark(image, request.watermark) for image in images]
    # A1111 names the VAE it decoded with the same way ("VAE: name").
    vae = {"VAE": store.decoder.name} if store.decoder is not None else {}
    infotexts = tuple(
        _infotext(request, plan.negatives, i, s, plan.model.label, vae) for i, s in enumerate(seeds)
    )
    if plan.cache is not None and plan.key is not None:
        try:
            plan.cache.put(plan.key, images, seeds, infotexts, request.scheduler, notices, png_info)
        except OSError as exc:  # a full disk costs the cache, not the result
            log.warning("result not cached: %s", exc)
    return GenerationResult(
        images=tuple(images),
        seeds=seeds,
        request=request,
        model_label=plan.model.label,
        infotexts=infotexts,
        elapsed_s=time.perf_counter() - plan.started,
        notices=(*notices, *said),
    )


def _infotext(
    request: GenerationRequest,
    negatives: tuple[str, ...],
    index: int,
    seed: int,
    label: str,
    extra: dict[str, str],
) -> str:
    """Image `index`'s own parameters: its prompt, the negative it ran with, its seed."""
    which = index // request.batch_count
    own = request.replace(
        prompt=request.prompts[which], negative_prompt=negatives[which], extra_prompts=()
    )
    if request.watermark:
        extra = {**extra, "Watermark": request.watermark.describe()}
    return format_infotext(own.replace(seed=seed), seed, label, extra)

"""The first stage of a generation: a request made ready to run, as a Plan.

prepare() validates the request, resolves its model, fills in what the user
left to the model, draws the seed, screens the prompts and looks the job up in
the result cache. It loads no weights and runs no model: it reads configs
(diffusers builds the model's sampler from its config to name it; the cache
key names the torch and diffusers versions), and builds a model this machine
makes (tiny-random) the first time it is named, since its files are read here.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .cache import CachedResult, ResultCache, job_key
from .catalog import Kind
from .errors import EngineError
from .options import DIRECT_SERVICES, ServiceOptions
from .pipelines import PipelineStore, ensure_files
from .request import GenerationRequest, GenerationResult, Mode, check_denoising_steps
from .resolve import ResolvedModel, image_model_problem, resolve_model
from .safety import find_image_checker, image_checker_status, prompt_filter
from .schedulers import check_steps, resolve_scheduler_id


@dataclass(frozen=True)
class Plan:
    """Everything a job runs with, decided; nothing loaded yet."""

    request: GenerationRequest  # validated; defaults, seed, watermark and ControlNet filled in
    model: ResolvedModel
    controlnet: ResolvedModel | None
    negatives: tuple[str, ...]  # one per prompt, as the prompt filter left them
    notices: tuple[str, ...]
    checker_folder: Path | None  # the image checker's, when it is on and present
    started: float  # time.perf_counter() when the job began, for elapsed_s
    cache: ResultCache | None = None  # None: the result cache is off
    key: str | None = None  # this job's key in `cache`
    cached: GenerationResult | None = None  # a cache hit: there is nothing left to run

    @property
    def seeds(self) -> tuple[int, ...]:
        """One seed per image: image i is reproducible from its own seed alone."""
        request = self.request
        assert request.seed is not None
        return tuple(request.seed + i for i in range(request.image_count))


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


def model_for(spec: str, store: PipelineStore) -> ResolvedModel:
    """The model on disk, as `store`'s options find it. One this machine makes is
    built now: its sampler config and its files (the cache key) are read before
    it loads."""
    o = store.options
    model = resolve_model(
        spec, allow_pickle=o.allow_pickle, model_dirs=o.model_dirs, models_root=o.models_root
    )
    ensure_files(model)
    return model


def prepare(
    request: GenerationRequest,
    store: PipelineStore,
    services: ServiceOptions = DIRECT_SERVICES,
) -> Plan:
    """The plan of one job, or a clear RequestError/EngineError. A plan whose
    `cached` is set is a finished job: the cache held its result."""
    started = time.perf_counter()
    request, notices = request.validated()
    model = model_for(request.model, store)
    if problem := image_model_problem(model):
        raise EngineError(problem)
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
    plan = Plan(
        request, model, controlnet, screened.negatives, tuple(notices), checker_folder, started
    )
    if not services.cache:
        return plan
    # A random seed was drawn just now: looking it up could only miss.
    return _look_up(plan, services, store, look=not random_seed)


def _controlnet_for(
    request: GenerationRequest, model: ResolvedModel, store: PipelineStore
) -> ResolvedModel:
    spec = request.controlnet or model.controlnet
    if spec is None:
        raise EngineError(
            f"No canny ControlNet is known for {model.label!r}; choose a ControlNet folder."
        )
    controlnet = model_for(spec, store)
    if controlnet.kind is not Kind.CONTROLNET:
        raise EngineError(f"{controlnet.label!r} is not a ControlNet model.")
    return controlnet


def _image_checker_folder(services: ServiceOptions, notices: list[str]) -> Path | None:
    """The image checker's folder when it is on and present; else None (and a
    notice when it is on but missing)."""
    if not services.image_checker:
        return None
    folder = find_image_checker(services.image_checker_model)
    if folder is None:
        notices.append(image_checker_status(services.image_checker_model)[1])
    return folder


def _look_up(plan: Plan, services: ServiceOptions, store: PipelineStore, look: bool) -> Plan:
    """The plan with its cache and key; with the result too when `look` and the
    cache holds it (Force regenerate never looks)."""
    cache = ResultCache(services.cache_folder(), services.cache_max_mb * 2**20)
    key = job_key(
        plan.request, plan.model, plan.controlnet, plan.negatives, store, plan.checker_folder
    )
    hit = cache.get(key) if look and not plan.request.force_regenerate else None
    cached = _from_cache(hit, plan) if hit is not None else None
    return replace(plan, cache=cache, key=key, cached=cached)


def _from_cache(hit: CachedResult, plan: Plan) -> GenerationResult:
    request = plan.request.replace(scheduler=hit.scheduler or plan.request.scheduler)
    said = [*plan.notices, *(n for n in hit.notices if n not in plan.notices)]
    said.append(
        "This result came from the cache (same settings and seed); "
        "use Force regenerate to run the model again."
    )
    return GenerationResult(
        images=hit.images,
        seeds=hit.seeds,
        request=request,
        model_label=plan.model.label,
        infotexts=hit.infotexts,
        elapsed_s=time.perf_counter() - plan.started,
        notices=tuple(said),
        cached=True,
    )

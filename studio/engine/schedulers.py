"""Samplers a user can switch between without reloading the model.

Every job gets a fresh scheduler built from the model's own scheduler config,
so what the model was trained with (prediction type, beta schedule, timestep
spacing, steps offset) carries over to whichever sampler is chosen; a sampler
only sets what defines it (DPM++ 2M: second-order DPM-Solver++, Karras sigmas
or not). This is how diffusers' documentation, InvokeAI's SCHEDULER_MAP and
A1111's sampler names map onto diffusers classes.

Two faults of diffusers 0.42 appear with a cosine beta schedule
(`squaredcos_cap_v2`, the bundled demo model's), whose betas are capped at
0.999, so that its last sigma is 2·10⁴ against 6·10² one step earlier:
- Karras sigmas put several steps between those two, which all truncate to
  the same integer timestep. A scheduler finds its first step by looking up
  that timestep and, finding it twice, takes the second (meant for img2img
  that starts mid-schedule), so the run starts one sigma late and reads past
  the end on its last step: "index 11 is out of bounds" (diffusers#12771).
- Ancestral Euler takes sqrt(σ_to² − σ_up²), where σ_up is within float32
  rounding of σ_to once σ_from is that large; it rounds either way, and a
  negative radicand makes every pixel NaN (diffusers#14213).
So a run that starts at the top of its schedule starts at index 0, as
k-diffusion (A1111, ComfyUI) steps through sigmas by position, and ancestral
Euler keeps its sigmas in float64, where that difference stays positive.

Running, Karras sigmas from 2·10⁴ still spend most steps where every sigma is
pure noise, and the demo's pictures were mostly blobs. DPM-Solver ends a cosine
schedule early for this ("T = 1 will have numerical issues", T = 0.9946:
λ ≈ −5); diffusers' knob for it, `lambda_min_clipped`, is ignored on its Karras
path. Karras sigmas on a cosine schedule therefore start at exp(−λ_min),
λ_min = −5.1 unless the config sets its own (docs/ENGINE.md: the measurement).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RequestError
from .resolve import Source

if TYPE_CHECKING:
    from .resolve import ResolvedModel

log = logging.getLogger(__name__)

COSINE_LAMBDA_MIN = -5.1  # the lambda_min_clipped diffusers' own tests give cosine schedules

_DPM_SOLVER_PP_2M = {
    "algorithm_type": "dpmsolver++",
    "solver_order": 2,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
    "use_lu_lambdas": False,
    "use_flow_sigmas": False,
}
# Our id -> (diffusers class, the settings that make it that sampler). The same
# table names a scheduler back, so an id always means one configuration.
SAMPLERS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "euler": (
        "EulerDiscreteScheduler",
        {"use_karras_sigmas": False, "use_exponential_sigmas": False, "use_beta_sigmas": False},
    ),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {**_DPM_SOLVER_PP_2M, "use_karras_sigmas": False}),
    "dpm++2m-karras": (
        "DPMSolverMultistepScheduler",
        {**_DPM_SOLVER_PP_2M, "use_karras_sigmas": True},
    ),
    "ddim": ("DDIMScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}


def scheduler_id_of(scheduler: Any) -> str | None:
    """Our id for a scheduler instance; None when it is none of ours (PNDM, Euler
    with Karras sigmas, third-order DPM-Solver...)."""
    name = type(scheduler).__name__
    for scheduler_id, (class_name, settings) in SAMPLERS.items():
        if class_name == name and all(
            scheduler.config.get(key) == value for key, value in settings.items()
        ):
            return scheduler_id
    return None


def make_scheduler(scheduler_id: str | None, original: Any) -> Any:
    """A fresh scheduler for one job, built from the model's own scheduler config.

    Schedulers keep per-run state (step index, sigmas), so every job gets a new
    one. `None`, or the id of what `original` already is, gives the model's own
    scheduler unchanged (SD-Turbo relies on its trailing Euler schedule)."""
    import diffusers

    if scheduler_id is None or scheduler_id == scheduler_id_of(original):
        cls, settings = type(original), {}
    elif scheduler_id in SAMPLERS:
        class_name, settings = SAMPLERS[scheduler_id]
        cls = getattr(diffusers, class_name)
    else:
        raise ValueError(f"unknown scheduler {scheduler_id!r}")
    scheduler = cls.from_config(original.config, **settings)
    _clip_cosine_karras_sigmas(scheduler)
    _start_runs_at_the_top(scheduler)
    return scheduler


def _clip_cosine_karras_sigmas(scheduler: Any) -> None:
    """Karras sigmas on a cosine schedule start at exp(−λ_min), not at the sigma
    its capped last beta gives (see the module docstring)."""
    config = scheduler.config
    cosine = config.get("beta_schedule") == "squaredcos_cap_v2"
    if not (cosine and config.get("use_karras_sigmas") and config.get("sigma_max") is None):
        return
    lambda_min = config.get("lambda_min_clipped", -math.inf)
    if not math.isfinite(lambda_min):
        lambda_min = COSINE_LAMBDA_MIN
    # diffusers' Karras conversion takes sigma_max from the config where there is one
    scheduler.register_to_config(sigma_max=math.exp(-lambda_min))


def _start_runs_at_the_top(scheduler: Any) -> None:
    """Works around the two faults in the module docstring, after every
    `set_timesteps`; an img2img pipeline sets its own begin index afterwards."""
    import torch

    set_timesteps = scheduler.set_timesteps
    ancestral = type(scheduler).__name__ == "EulerAncestralDiscreteScheduler"

    @functools.wraps(set_timesteps)
    def set_timesteps_from_the_top(*args: Any, **kwargs: Any) -> None:
        set_timesteps(*args, **kwargs)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(0)
        if ancestral and isinstance(scheduler.sigmas, torch.Tensor):
            scheduler.sigmas = scheduler.sigmas.to(torch.float64)

    scheduler.set_timesteps = set_timesteps_from_the_top


def model_scheduler(model: ResolvedModel) -> Any | None:
    """The scheduler a model ships with, built as its loader builds it (the class
    model_index.json names, from scheduler/scheduler_config.json) but without
    its weights; None when those files are missing or name no diffusers class."""
    import diffusers

    if model.source is Source.SINGLE_FILE:  # its loader reads the base model's folder
        folder = Path(model.config) if model.config else None
    else:
        folder = model.path
    config = _read_json(folder / "scheduler" / "scheduler_config.json") if folder else None
    if config is None:
        return None
    index = _read_json(folder / "model_index.json") or {}
    named = index.get("scheduler")
    class_name = named[1] if isinstance(named, list) and len(named) == 2 else None
    cls = getattr(diffusers, str(class_name or config.get("_class_name")), None)
    if cls is None or not hasattr(cls, "from_config"):
        return None
    try:
        return cls.from_config(config)
    except Exception as exc:  # a config diffusers cannot build: the load will say so
        log.debug("scheduler config of %s not usable: %s", model.label, exc)
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def resolve_scheduler_id(requested: str | None, model: ResolvedModel) -> str | None:
    """The id a job runs with, settled before its cache key: the one asked for,
    else the model's own (None when we have no name for that one), so that a
    recipe restored with the model default written out is the same job."""
    if requested is not None:
        return requested
    own = model_scheduler(model)
    return scheduler_id_of(own) if own is not None else None


def check_steps(scheduler_id: str | None, steps: int | None, model: ResolvedModel) -> None:
    """Refuses a step count the sampler cannot run, before the model loads: LCM
    picks its steps among the ones its model was distilled on."""
    own = model_scheduler(model) if steps is not None else None
    if own is None or steps is None:
        return
    scheduler = make_scheduler(scheduler_id, own)
    if type(scheduler).__name__ != "LCMScheduler":
        return
    most = scheduler.config.get("original_inference_steps") or 50
    if steps > most:
        raise RequestError(
            f"The LCM sampler runs at most {most} steps (it picks them among the {most} its "
            f"model was distilled on), not {steps}; lower the steps (LCM models need 2–8)."
        )

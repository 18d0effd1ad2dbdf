"""Samplers a user can switch between without reloading the model."""

from __future__ import annotations

from typing import Any


def make_scheduler(scheduler_id: str | None, original: Any) -> Any:
    """A fresh scheduler for one job, built from the model's own scheduler config.

    Schedulers keep per-run state (step index, sigmas), so every job gets a new
    one; `None` means the model's own kind (SD-Turbo relies on its trailing
    Euler schedule)."""
    import diffusers

    config = original.config
    if scheduler_id is None:
        return type(original).from_config(config)
    if scheduler_id == "euler":
        return diffusers.EulerDiscreteScheduler.from_config(config)
    if scheduler_id == "euler-a":
        return diffusers.EulerAncestralDiscreteScheduler.from_config(config)
    if scheduler_id in ("dpm++2m", "dpm++2m-karras"):
        return diffusers.DPMSolverMultistepScheduler.from_config(
            config,
            algorithm_type="dpmsolver++",
            solver_order=2,
            use_karras_sigmas=scheduler_id.endswith("karras"),
        )
    if scheduler_id == "ddim":
        return diffusers.DDIMScheduler.from_config(config)
    if scheduler_id == "lcm":
        return diffusers.LCMScheduler.from_config(config)
    raise ValueError(f"unknown scheduler {scheduler_id!r}")


def scheduler_id_of(scheduler: Any) -> str | None:
    """Our id for a scheduler instance, for the metadata; None if it has none."""
    name = type(scheduler).__name__
    if name == "DPMSolverMultistepScheduler":
        karras = bool(scheduler.config.get("use_karras_sigmas"))
        return "dpm++2m-karras" if karras else "dpm++2m"
    return {
        "EulerDiscreteScheduler": "euler",
        "EulerAncestralDiscreteScheduler": "euler-a",
        "DDIMScheduler": "ddim",
        "LCMScheduler": "lcm",
    }.get(name)

"""The one engine interface the window talks to (DESIGN.md, "Layout"): the
local EngineWorker (studio/engine/worker.py, a QThread on this machine) and
RemoteWorker (remote_worker.py, a `studio serve` elsewhere) both have it, so
nothing in ui/ needs to know which one it holds.

A Protocol names the members; the signals' argument types, which it cannot
state, are Qt's: tests/test_remote_worker.py checks both classes declare the
same signals with the same signatures."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import SignalInstance

from ..engine.options import ServiceOptions
from ..engine.request import GenerationRequest


@runtime_checkable
class JobQueuePort(Protocol):
    """What the window asks of the engine's queue (job_controller.py, main_window.py)."""

    def set_services(self, services: ServiceOptions) -> None:
        """The preferences' cache, filter and watermark, from the next job on."""
        ...

    def check(self, request: GenerationRequest) -> GenerationRequest:
        """The request validated; raises RequestError when it cannot run."""
        ...

    def plan(self, request: GenerationRequest, prompts: list[str]) -> list[GenerationRequest]:
        """The jobs for many prompts with `request`'s settings."""
        ...

    def pending(self) -> list[tuple[int, GenerationRequest]]:
        """The jobs submitted and not yet started, in order."""
        ...

    @property
    def running_id(self) -> int | None: ...


@runtime_checkable
class EnginePort(Protocol):
    job_started: SignalInstance  # (job id, GenerationRequest)
    job_loading: SignalInstance  # (job id, model label)
    job_step: SignalInstance  # (job id, step, total, QImage preview, region | None)
    job_finished: SignalInstance  # (job id, GenerationResult)
    job_failed: SignalInstance  # (job id, a sentence)
    job_cancelled: SignalInstance  # (job id)
    queue_changed: SignalInstance
    connection_changed: SignalInstance  # (a sentence while a server is lost, "" once back)
    queue: JobQueuePort

    def start(self) -> None: ...

    def submit(self, request: GenerationRequest) -> int: ...

    def cancel(self, job_id: int) -> bool: ...

    def cancel_all(self) -> None: ...

    def shutdown(self, timeout_ms: int = 30_000) -> bool: ...

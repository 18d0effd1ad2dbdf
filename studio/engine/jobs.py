"""The job loop: one owner of the pipelines, a queue, and job events.

Plain Python, so the window (through worker.py), the CLI and the HTTP server
all drive the model the same way. Events are emitted from the loop's thread;
whoever listens hands them on to its own thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import EngineError, JobCancelled
from .generate import StepInfo, generate
from .options import EngineOptions
from .pipelines import PipelineStore
from .request import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobStarted:
    job_id: int
    request: GenerationRequest


@dataclass(frozen=True)
class JobStep:
    job_id: int
    info: StepInfo


@dataclass(frozen=True)
class JobFinished:
    job_id: int
    result: GenerationResult


@dataclass(frozen=True)
class JobFailed:
    job_id: int
    message: str


@dataclass(frozen=True)
class JobCancelledEvent:
    job_id: int


JobEvent = JobStarted | JobStep | JobFinished | JobFailed | JobCancelledEvent
Emit = Callable[[JobEvent], None]


@dataclass
class _Job:
    job_id: int
    request: GenerationRequest
    cancel: threading.Event


class JobQueue:
    """Runs jobs one at a time, in order, on the thread that calls `serve()`."""

    def __init__(self, emit: Emit, options: EngineOptions | None = None) -> None:
        self._emit = emit
        self._options = options or EngineOptions()
        self._store: PipelineStore | None = None
        self._pending: deque[_Job] = deque()
        self._running: _Job | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._stopping = False

    @property
    def store(self) -> PipelineStore:
        # Created on first use, on the serving thread: importing torch and
        # loading weights never happen on the caller's (UI) thread.
        if self._store is None:
            self._store = PipelineStore(self._options)
        return self._store

    def submit(self, request: GenerationRequest) -> int:
        """Queues a request; a request that cannot run raises RequestError now,
        before it waits behind other jobs."""
        request.validated()
        with self._lock:
            if self._stopping:
                raise EngineError("The engine is shutting down; the job was not queued.")
            job = _Job(next(self._ids), request, threading.Event())
            self._pending.append(job)
            self._lock.notify_all()
            return job.job_id

    def pending(self) -> list[tuple[int, GenerationRequest]]:
        with self._lock:
            return [(job.job_id, job.request) for job in self._pending]

    @property
    def running_id(self) -> int | None:
        with self._lock:
            return self._running.job_id if self._running else None

    def cancel(self, job_id: int) -> bool:
        """Removes a waiting job, or stops the running one at its next step."""
        with self._lock:
            if self._running is not None and self._running.job_id == job_id:
                self._running.cancel.set()
                return True
            for job in self._pending:
                if job.job_id == job_id:
                    self._pending.remove(job)
                    break
            else:
                return False
        self._emit(JobCancelledEvent(job_id))
        return True

    def cancel_all(self) -> None:
        with self._lock:
            ids = [job.job_id for job in self._pending]
            running = self._running.job_id if self._running else None
        for job_id in ([running] if running else []) + ids:
            self.cancel(job_id)

    def stop(self) -> None:
        """Ends `serve()` after the running job, which is cancelled."""
        with self._lock:
            self._stopping = True
            if self._running is not None:
                self._running.cancel.set()
            self._lock.notify_all()

    def serve(self) -> None:
        # Import torch and diffusers now, on this thread, so the first job
        # does not wait for them (and the UI thread never does).
        try:
            if not self._stopping:
                _ = self.store
        except Exception:
            # Reported to the user by the first job, which tries again.
            log.exception("the engine could not start")
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    dropped = list(self._pending)
                    self._pending.clear()
                    break
                job = self._pending.popleft()
                self._running = job
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running = None
        for job in dropped:
            self._emit(JobCancelledEvent(job.job_id))

    def _run(self, job: _Job) -> None:
        self._emit(JobStarted(job.job_id, job.request))
        try:
            result = generate(
                job.request,
                self.store,
                on_step=lambda info: self._emit(JobStep(job.job_id, info)),
                should_cancel=job.cancel.is_set,
            )
        except JobCancelled:
            self._emit(JobCancelledEvent(job.job_id))
        except EngineError as exc:
            self._emit(JobFailed(job.job_id, str(exc)))
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            self._emit(JobFailed(job.job_id, f"Unexpected error: {exc}. Details are in the log."))
        else:
            self._emit(JobFinished(job.job_id, result))

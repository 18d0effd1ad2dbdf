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
from dataclasses import dataclass, field

from .batch import plan_batch
from .denoise import StepInfo
from .errors import EngineError, EngineStartError, JobCancelledError
from .generate import generate
from .options import DIRECT_SERVICES, EngineOptions, ServiceOptions
from .pipelines import PipelineStore
from .request import GenerationRequest, GenerationResult
from .safety import prompt_filter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobStarted:
    job_id: int
    request: GenerationRequest


@dataclass(frozen=True)
class JobLoading:
    """The job waits for a model's weights to be read from disk (its first job only)."""

    job_id: int
    model_label: str


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
    # The engine's exception (RequestError: the request's fault), for the server's status.
    error: Exception | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class JobCancelled:
    job_id: int


JobEvent = JobStarted | JobLoading | JobStep | JobFinished | JobFailed | JobCancelled
Emit = Callable[[JobEvent], None]


@dataclass
class _Job:
    job_id: int
    request: GenerationRequest
    cancel: threading.Event
    on_event: Emit | None = None  # this job's own listener (the HTTP server's)


class JobQueue:
    """Runs jobs one at a time, in order, on the thread that calls `serve()`."""

    def __init__(
        self,
        emit: Emit,
        options: EngineOptions | None = None,
        services: ServiceOptions | None = None,
    ) -> None:
        self._emit_all = emit
        self._options = options or EngineOptions()
        # Without services: no cache and the default safety filter (as generate()).
        self._services = services or DIRECT_SERVICES
        self._store: PipelineStore | None = None
        self._pending: deque[_Job] = deque()
        self._running: _Job | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._stopping = False
        self._start_error: EngineStartError | None = None

    @property
    def store(self) -> PipelineStore:
        # Created on first use, on the serving thread: importing torch and
        # loading weights never happen on the caller's (UI) thread.
        if self._store is None:
            if self._start_error is not None:
                raise self._start_error
            try:
                self._store = PipelineStore(self._options)
            except EngineError as exc:
                self._start_error = EngineStartError(str(exc))
                raise self._start_error from exc
            except Exception as exc:
                # A second `import torch` after a failed one can crash the
                # process natively (seen in the frozen app): never retry it.
                log.exception("the engine could not start")
                self._start_error = EngineStartError(
                    f"The engine could not start: {exc}. Details are in the log; "
                    "reinstalling the app may help."
                )
                raise self._start_error from exc
        return self._store

    @property
    def started_store(self) -> PipelineStore | None:
        """The store once the engine has started; asking never starts it."""
        return self._store

    @property
    def options(self) -> EngineOptions:
        return self._options

    @property
    def services(self) -> ServiceOptions:
        with self._lock:
            return self._services

    def set_services(self, services: ServiceOptions) -> None:
        """New cache, safety and watermark settings, from the next job on."""
        with self._lock:
            self._services = services

    def submit(self, request: GenerationRequest, on_event: Emit | None = None) -> int:
        """Queues a request; a request that cannot run (or that the strict safety
        filter refuses) raises RequestError now, before it waits behind other
        jobs. `on_event` also receives this job's events, on the engine thread.
        A request `check` has returned is not validated again."""
        request = self.check(request)
        with self._lock:
            if self._stopping:
                raise EngineError("The engine is shutting down; the job was not queued.")
            job = _Job(next(self._ids), request, threading.Event(), on_event)
            self._pending.append(job)
            self._lock.notify_all()
            return job.job_id

    def check(self, request: GenerationRequest) -> GenerationRequest:
        """The request validated (once: a validated one is returned as it is);
        raises RequestError when it cannot run or the strict filter refuses it."""
        request, _notices = request.validated()  # generate() reports the notices
        prompt_filter(self.services).check(request.prompts)
        return request

    def plan(self, request: GenerationRequest, prompts: list[str]) -> list[GenerationRequest]:
        """The jobs `submit_prompts` would queue: prompts grouped per pipeline call."""
        return plan_batch(request, prompts, self.services.batch_megapixels)

    def submit_prompts(
        self, request: GenerationRequest, prompts: list[str], on_event: Emit | None = None
    ) -> list[int]:
        """Queues many prompts with one request's settings, as few jobs as the
        memory budget allows (see batch.py); nothing is queued if one is refused."""
        jobs = [self.check(job) for job in self.plan(request, prompts)]
        return [self.submit(job, on_event) for job in jobs]

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
        self._emit(job, JobCancelled(job_id))
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
        except EngineStartError:
            pass  # kept in _start_error: every job reports it, none retries
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
            self._emit(job, JobCancelled(job.job_id))

    def _emit(self, job: _Job, event: JobEvent) -> None:
        self._emit_all(event)
        if job.on_event is not None:
            try:
                job.on_event(event)
            except Exception:  # a listener's bug must not stop the engine
                log.exception("listener of job %s failed", job.job_id)

    def _run(self, job: _Job) -> None:
        self._emit(job, JobStarted(job.job_id, job.request))
        try:
            result = generate(
                job.request,
                self.store,
                on_step=lambda info: self._emit(job, JobStep(job.job_id, info)),
                should_cancel=job.cancel.is_set,
                services=self.services,
                on_loading=lambda label: self._emit(job, JobLoading(job.job_id, label)),
            )
        except JobCancelledError:
            self._emit(job, JobCancelled(job.job_id))
        except EngineError as exc:
            self._emit(job, JobFailed(job.job_id, str(exc), exc))
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            message = f"Unexpected error: {exc}. Details are in the log."
            self._emit(job, JobFailed(job.job_id, message, exc))
        else:
            self._emit(job, JobFinished(job.job_id, result))

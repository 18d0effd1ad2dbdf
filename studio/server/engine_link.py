"""The server's way into the engine: jobs go through a JobQueue — the window's
own when the server runs inside the app, one on a plain thread for `studio
serve` — so the GPU has one owner, and each request awaits its jobs' end on
the server's event loop (the job API's jobs are queued without a waiter, see
submit_all, and followed through their events). The link admits jobs up to
its cap on waiting jobs, and knows which jobs are its own, so a stopping
server answers their requests at once without touching the window's jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from ..engine.errors import EngineError, JobCancelledError
from ..engine.jobs import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobQueue,
)
from ..engine.options import EngineOptions, ServiceOptions
from ..engine.request import GenerationRequest, GenerationResult
from ..engine.resolve import resolve_model
from .limits import DEFAULT_MAX_QUEUE

log = logging.getLogger(__name__)


class JobFailedError(EngineError):
    """A job ended with an error; `cause` is the engine's exception, if any."""

    def __init__(self, message: str, cause: Exception | None) -> None:
        super().__init__(message)
        self.cause = cause


class QueueFullError(EngineError):
    """More jobs wait than the server takes; the request was not queued."""


class ServerStoppingError(EngineError):
    """The server is stopping; the request's jobs were cancelled."""


class EngineLink:
    def __init__(self, queue: JobQueue, max_waiting: int = DEFAULT_MAX_QUEUE) -> None:
        self.queue = queue
        self.max_waiting = max_waiting
        self._lock = threading.Lock()  # close() comes from another thread
        self._waiting: dict[int, asyncio.Future[GenerationResult]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        # The job API's engine jobs: nobody awaits them here, but close() cancels them.
        self._detached: set[int] = set()
        self._close_hooks: list[Callable[[], None]] = []

    @property
    def closing(self) -> bool:
        return self._closing

    def on_close(self, hook: Callable[[], None]) -> None:
        """`hook()` runs (on the stopping thread) when close() is called."""
        self._close_hooks.append(hook)

    async def prepare(
        self, request: GenerationRequest, prompts: list[str]
    ) -> list[GenerationRequest]:
        """The validated jobs of a request, its model found: a bad request or a
        missing model raises its EngineError now, before anything is queued
        (and the queue does not validate them again)."""

        def work() -> list[GenerationRequest]:
            job, _notices = request.validated()
            options = self.queue.options
            resolve_model(
                job.model,
                allow_pickle=options.allow_pickle,
                model_dirs=options.model_dirs,
                models_root=options.models_root,
            )
            return self.plan(job, prompts)

        return await asyncio.to_thread(work)

    def plan(self, request: GenerationRequest, prompts: list[str]) -> list[GenerationRequest]:
        """The jobs for `prompts` with `request`'s settings (as few pipeline calls
        as fit), each checked and validated: RequestError before anything is queued."""
        jobs = [request] if len(prompts) == 1 else self.queue.plan(request, prompts)
        return [self.queue.check(job) for job in jobs]

    def admit(self, count: int = 1) -> None:
        """Raises ServerStoppingError or QueueFullError when `count` more jobs
        would not be queued now (an empty queue takes any one request). Cheap: a
        request asks before its images are decoded or its model looked for."""
        with self._lock:
            self._admit(count)

    def _admit(self, count: int) -> None:  # with self._lock held
        if self._closing:
            raise ServerStoppingError("The server is stopping; the job was not queued.")
        waiting = len(self.queue.pending())
        if waiting and waiting + count > self.max_waiting:
            raise QueueFullError(
                f"The server is busy: {waiting} jobs are waiting (at most {self.max_waiting}). "
                "Try again in a little while."
            )

    async def run_all(self, jobs: list[GenerationRequest]) -> list[GenerationResult]:
        """Queues `jobs` and waits for their results. Raises what `admit` raises,
        then JobFailedError, JobCancelledError or ServerStoppingError later.
        When this wait is cancelled (the client went away) or one job fails,
        the others are cancelled: nobody will read their images."""
        loop = asyncio.get_running_loop()
        submitted: list[tuple[int, asyncio.Future[GenerationResult]]] = []
        try:
            # One hold of the lock from the check to the last job's registration:
            # concurrent requests cannot both squeeze into the last places, and
            # close() either comes first (nothing is queued) or sees every job.
            with self._lock:
                self._admit(len(jobs))
                self._loop = loop
                for job in jobs:
                    submitted.append(self._submit(job, loop))
            return list(await asyncio.gather(*(future for _, future in submitted)))
        except BaseException:
            for job_id, _ in submitted:
                self.queue.cancel(job_id)
            raise
        finally:
            with self._lock:
                for job_id, _ in submitted:
                    self._waiting.pop(job_id, None)

    def submit_all(
        self, jobs: list[GenerationRequest], on_event: Callable[[JobEvent], None]
    ) -> list[int]:
        """Queues `jobs` without waiting for them (the job API follows them
        through `on_event`, on the engine thread). Raises what `admit` raises."""

        def forget_ended(event: JobEvent) -> None:
            if isinstance(event, JobFinished | JobFailed | JobCancelled):
                with self._lock:
                    self._detached.discard(event.job_id)
            on_event(event)

        ids: list[int] = []
        with self._lock:
            self._admit(len(jobs))
            try:
                for job in jobs:
                    ids.append(self.queue.submit(job, forget_ended))
            except BaseException:  # the engine is stopping: none of them is wanted
                for job_id in ids:
                    self.queue.cancel(job_id)
                raise
            self._detached.update(ids)
            return ids

    def _submit(
        self, request: GenerationRequest, loop: asyncio.AbstractEventLoop
    ) -> tuple[int, asyncio.Future[GenerationResult]]:  # with self._lock held
        future: asyncio.Future[GenerationResult] = loop.create_future()

        def settle(event: JobEvent) -> None:  # on the loop's thread
            if future.done():
                return
            if isinstance(event, JobFinished):
                future.set_result(event.result)
            elif isinstance(event, JobFailed):
                future.set_exception(JobFailedError(event.message, event.error))
            elif isinstance(event, JobCancelled):
                future.set_exception(JobCancelledError())

        def on_event(event: JobEvent) -> None:  # on the engine thread
            if isinstance(event, JobFinished | JobFailed | JobCancelled):
                # RuntimeError: the loop has closed, so nobody waits any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(settle, event)

        job_id = self.queue.submit(request, on_event)
        self._waiting[job_id] = future
        return job_id, future

    def close(self) -> None:
        """The server is stopping (any thread): no new jobs; this link's jobs are
        cancelled and their requests answered now, not after the running step."""
        with self._lock:
            self._closing = True
            waiting = dict(self._waiting)
            detached = list(self._detached)
            loop = self._loop
        for hook in self._close_hooks:
            hook()
        if waiting and loop is not None:
            # Scheduled before the cancels' events, so a request hears that the
            # server is stopping rather than that its job was cancelled.
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(_stop_waiting, list(waiting.values()))
        for job_id in [*waiting, *detached]:
            self.queue.cancel(job_id)


def _stop_waiting(futures: list[asyncio.Future[GenerationResult]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(
                ServerStoppingError("The server is stopping; the job was cancelled.")
            )


class HeadlessEngine:
    """A JobQueue served on a plain thread: the engine of `studio serve`."""

    def __init__(self, options: EngineOptions, services: ServiceOptions) -> None:
        self.queue = JobQueue(self._log, options, services)
        self._thread = threading.Thread(target=self.queue.serve, name="engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        self.queue.stop()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @staticmethod
    def _log(event: JobEvent) -> None:
        if isinstance(event, JobFinished):
            r = event.result
            how = "from the cache" if r.cached else f"in {r.elapsed_s:.2f} s"
            log.info("job %s: %d image(s) %s", event.job_id, len(r.images), how)
        elif isinstance(event, JobFailed):
            log.info("job %s failed: %s", event.job_id, event.message)

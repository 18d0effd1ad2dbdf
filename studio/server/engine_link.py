"""The server's way into the engine: jobs go through a JobQueue — the window's
own when the server runs inside the app, one on a plain thread for `studio
serve` — so the GPU has one owner, and each request awaits its job's end on
the server's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from ..engine.errors import EngineError, JobCancelled
from ..engine.jobs import (
    JobCancelledEvent,
    JobEvent,
    JobFailed,
    JobFinished,
    JobQueue,
)
from ..engine.options import EngineOptions, ServiceOptions
from ..engine.request import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


class JobFailedError(EngineError):
    """A job ended with an error; `cause` is the engine's exception, if any."""

    def __init__(self, message: str, cause: Exception | None) -> None:
        super().__init__(message)
        self.cause = cause


class EngineLink:
    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    async def run(self, request: GenerationRequest) -> GenerationResult:
        """Queues `request` and waits for its result. Raises RequestError at once
        for a request that cannot run, JobFailedError or JobCancelled later. If
        the waiting request is cancelled (the server stops), so is the job."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GenerationResult] = loop.create_future()

        def settle(event: JobEvent) -> None:  # on the loop's thread
            if future.done():
                return
            if isinstance(event, JobFinished):
                future.set_result(event.result)
            elif isinstance(event, JobFailed):
                future.set_exception(JobFailedError(event.message, event.error))
            elif isinstance(event, JobCancelledEvent):
                future.set_exception(JobCancelled())

        def on_event(event: JobEvent) -> None:  # on the engine thread
            if isinstance(event, JobFinished | JobFailed | JobCancelledEvent):
                # RuntimeError: the loop has closed, so nobody waits any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(settle, event)

        job_id = self.queue.submit(request, on_event)
        try:
            return await future
        except asyncio.CancelledError:
            self.queue.cancel(job_id)
            raise

    async def run_batch(
        self, request: GenerationRequest, prompts: list[str]
    ) -> list[GenerationResult]:
        """Many prompts as the queue plans them (as few pipeline calls as fit);
        every job is checked before any is queued."""
        jobs = self.queue.plan(request, prompts)
        for job in jobs:
            self.queue.check(job)
        return list(await asyncio.gather(*(self.run(job) for job in jobs)))


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

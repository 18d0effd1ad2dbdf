"""The job API's records: one `ApiJob` per POST /jobs, made of the engine jobs
of its request (a batch of prompts may need several pipeline calls; its images
are numbered 0..n-1 across them, in order).

Every record lives on the server's event loop: engine events are handed over
with call_soon_threadsafe, so nothing here needs a lock. A job keeps `current`,
the events that describe its state now, so a reader who connects late starts
from there rather than from the whole history of steps. A job nobody follows
(no events stream, no GET) for `JobLimits.grace_s` is cancelled; ended jobs
are kept for `keep_s`, the newest `keep_count` of them, then forgotten.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..engine.jobs import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobLoading,
    JobStarted,
    JobStep,
)
from ..engine.pngfile import png_bytes
from ..engine.request import GenerationRequest, GenerationResult
from .engine_link import EngineLink
from .errors import status_for
from .limits import JOBS_PATH, JobLimits

ENDED = ("finished", "failed", "cancelled")
STOPPING = "The server is stopping; the job was cancelled. Send it again once the server is back."
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    name: str  # queued, started, loading, step, finished, failed, cancelled
    data: dict[str, Any]


class Reader:
    """One events stream's backlog. Steps not yet sent are replaced by newer
    ones, so a slow reader gets the latest preview, not a growing queue."""

    def __init__(self) -> None:
        self._items: deque[Event] = deque()
        self._ready = asyncio.Event()

    def push(self, event: Event) -> None:
        if event.name == "step" and self._items and self._items[-1].name == "step":
            self._items[-1] = event
        else:
            self._items.append(event)
        self._ready.set()

    async def next(self, timeout_s: float) -> Event | None:
        """The next event, or None after `timeout_s` without one."""
        if not self._items:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            if not self._items:
                return None
        return self._items.popleft()


@dataclass(eq=False)
class ApiJob:
    id: str
    engine_ids: list[int] = field(default_factory=list)
    state: str = "queued"
    position: int = 0
    current: list[Event] = field(default_factory=list)
    results: dict[int, GenerationResult] = field(default_factory=dict)
    images: list[bytes] = field(default_factory=list)
    readers: set[Reader] = field(default_factory=set)
    ended_at: float | None = None
    grace: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        return f"{JOBS_PATH}/{self.id}"

    def status(self) -> dict[str, Any]:
        """GET /jobs/{id}: the state and what the latest event said."""
        latest = self.current[-1].data if self.current else {}
        return {"id": self.id, "state": self.state, **latest}


def _preview_base64(event: JobStep) -> str | None:
    preview = event.info.preview
    if preview is None:
        return None
    buffer = io.BytesIO()
    preview.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pngs(results: list[GenerationResult]) -> list[bytes]:
    # The bytes /generate/image answers for the same request (bodies.image_response).
    return [
        png_bytes(image, text)
        for result in results
        for image, text in zip(result.images, result.infotexts, strict=True)
    ]


class JobBoard:
    def __init__(self, link: EngineLink, limits: JobLimits) -> None:
        self.link = link
        self.limits = limits
        self._jobs: dict[str, ApiJob] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        link.on_close(self._link_closing)

    # -- creating, finding, following --------------------------------------------

    def submit(self, jobs: list[GenerationRequest]) -> ApiJob:
        """Queues a request's engine jobs as one API job (on the loop). Raises
        what EngineLink.admit raises."""
        loop = self._loop = asyncio.get_running_loop()
        job = ApiJob(secrets.token_hex(8))
        parts = len(jobs)

        def on_event(event: JobEvent) -> None:  # on the engine thread
            # The preview is encoded here, so the loop never holds up a stream for it.
            preview = _preview_base64(event) if isinstance(event, JobStep) else None
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._on_event, job, parts, event, preview)

        job.engine_ids = self.link.submit_all(jobs, on_event)
        self._forget_old()
        self._jobs[job.id] = job
        job.position = self._position(job)
        job.current = [Event("queued", {"position": job.position})]
        self._arm_grace(job)
        return job

    def get(self, job_id: str) -> ApiJob | None:
        self._forget_old()
        return self._jobs.get(job_id)

    def follow(self, job: ApiJob) -> Reader:
        """A new events stream: it starts with the job's current state."""
        reader = Reader()
        for event in job.current:
            reader.push(event)
        job.readers.add(reader)
        self._disarm_grace(job)
        return reader

    def leave(self, job: ApiJob, reader: Reader) -> None:
        job.readers.discard(reader)
        self._arm_grace(job)

    def polled(self, job: ApiJob) -> None:
        """A GET of the job: its client is still there."""
        self.refresh_position(job)
        self._arm_grace(job)

    def cancel(self, job: ApiJob) -> None:
        """Waiting engine jobs leave the queue; a running one stops at its next step."""
        if job.state in ENDED:
            return
        for engine_id in job.engine_ids:
            self.link.queue.cancel(engine_id)

    def refresh_position(self, job: ApiJob) -> bool:
        """Tells the job's readers when it moved up the queue; True if it did."""
        if job.state != "queued":
            return False
        position = self._position(job)
        if position == job.position:
            return False
        job.position = position
        self._publish(job, Event("queued", {"position": position}))
        return True

    def _position(self, job: ApiJob) -> int:
        """How many engine jobs run before this one's first (the running one included)."""
        waiting = [engine_id for engine_id, _request in self.link.queue.pending()]
        if job.engine_ids[0] not in waiting:
            return 0  # starting now
        ahead = waiting.index(job.engine_ids[0])
        return ahead + (self.link.queue.running_id is not None)

    # -- engine events (on the loop) --------------------------------------------------

    def _on_event(self, job: ApiJob, parts: int, event: JobEvent, preview: str | None) -> None:
        if job.state in ENDED or event.job_id not in job.engine_ids:
            return
        part = job.engine_ids.index(event.job_id)
        where = {"part": part, "parts": parts}
        if isinstance(event, JobStarted):
            job.state = "running"
            self._publish(job, Event("started", where), keep=0)
        elif isinstance(event, JobLoading):
            self._publish(job, Event("loading", {"model": event.model_label, **where}), keep=1)
        elif isinstance(event, JobStep):
            info = event.info
            data: dict[str, Any] = {"step": info.step, "total": info.total, **where}
            if preview is not None:
                data["preview"] = preview
                if info.region is not None:
                    data["region"] = list(info.region)
            self._publish(job, Event("step", data), keep=1)
        elif isinstance(event, JobFinished):
            job.results[part] = event.result
            if len(job.results) == parts:
                task = asyncio.get_running_loop().create_task(self._finish(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(event, JobFailed):
            self._end(job, "failed", {"message": event.message, "status": status_for(event.error)})
        elif isinstance(event, JobCancelled):
            if self.link.closing:
                self._end(job, "failed", {"message": STOPPING, "status": 503})
            else:
                self._end(job, "cancelled", {"message": "The job was cancelled."})

    async def _finish(self, job: ApiJob) -> None:
        results = [job.results[part] for part in range(len(job.results))]
        images = await asyncio.to_thread(_pngs, results)
        if job.state in ENDED:  # the server stopped meanwhile
            return
        job.images = images
        self._end(
            job,
            "finished",
            {
                "images": [f"{job.url}/images/{n}" for n in range(len(images))],
                "seeds": [seed for result in results for seed in result.seeds],
                "parameters": results[0].infotexts[0],
                "cached": all(result.cached for result in results),
            },
        )

    def _publish(self, job: ApiJob, event: Event, keep: int | None = None) -> None:
        """Sends `event` to the readers; it joins the first `keep` events of the
        current state (None: it is the whole current state)."""
        job.current = [*job.current[:keep], event] if keep is not None else [event]
        for reader in job.readers:
            reader.push(event)

    def _end(self, job: ApiJob, state: str, data: dict[str, Any]) -> None:
        job.state = state
        job.ended_at = time.monotonic()
        self._disarm_grace(job)
        self._publish(job, Event(state, data))
        for engine_id in job.engine_ids:  # the rest of a batch: nobody will read it
            self.link.queue.cancel(engine_id)
        job.results.clear()
        self._forget_old()

    def _link_closing(self) -> None:  # on the thread that stops the server
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop_all)

    def _stop_all(self) -> None:
        for job in list(self._jobs.values()):
            if job.state not in ENDED:
                self._end(job, "failed", {"message": STOPPING, "status": 503})

    # -- the grace period and forgetting -------------------------------------------

    def _arm_grace(self, job: ApiJob) -> None:
        if job.state in ENDED or job.readers:
            return
        self._disarm_grace(job)
        job.grace = asyncio.get_running_loop().call_later(self.limits.grace_s, self._abandoned, job)

    def _disarm_grace(self, job: ApiJob) -> None:
        if job.grace is not None:
            job.grace.cancel()
            job.grace = None

    def _abandoned(self, job: ApiJob) -> None:
        job.grace = None
        if job.state not in ENDED and not job.readers:
            log.info("job %s: nobody followed it for %s s; cancelled", job.id, self.limits.grace_s)
            self.cancel(job)

    def _forget_old(self) -> None:
        ended = sorted(
            (job for job in self._jobs.values() if job.ended_at is not None),
            key=lambda job: job.ended_at or 0.0,
        )
        too_old = time.monotonic() - self.limits.keep_s
        extra = len(ended) - self.limits.keep_count
        for index, job in enumerate(ended):
            if index < extra or (job.ended_at or 0.0) < too_old:
                del self._jobs[job.id]

"""The job resource: submit a request, follow it as Server-Sent Events, cancel
it, fetch its images. For a client elsewhere (the window, `studio generate
--server`), where a blocking request would hold one connection per image and
show no progress.

    POST   /jobs                 the body of POST /generate/image → 202 {id, position, events}
    GET    /jobs/{id}            its state
    GET    /jobs/{id}/events     text/event-stream: queued, started, loading, step,
                                 then finished, failed or cancelled (the stream ends)
    DELETE /jobs/{id}            cancel (an ended job: its state, unchanged)
    GET    /jobs/{id}/images/{n} a PNG, the bytes /generate/image answers

One POST is one job, however many prompts and batch_count it has; its images
are numbered across the engine jobs that make them (job_board.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .bodies import prompts_of, request_from_body
from .engine_link import EngineLink, QueueFullError, ServerStoppingError
from .errors import ApiError
from .job_board import ENDED, ApiJob, Event, JobBoard, Reader
from .limits import JOBS_PATH, QUEUE_RETRY_AFTER_S, JobLimits
from .schemas import ImageRequest

# A comment line this often keeps proxies and clients from closing a quiet stream.
KEEPALIVE_S = 15.0
# How often a waiting job's readers are told its place in the queue, if it moved.
POSITION_POLL_S = 0.5


def _sse(event: Event) -> bytes:
    return f"event: {event.name}\ndata: {json.dumps(event.data)}\n\n".encode()


class _EventStream(StreamingResponse):
    """An events stream that lets go of its job however it ends: after the last
    event, or when the client disconnects (Starlette then cancels the sending)."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], board: JobBoard, job: ApiJob,
                 reader: Reader) -> None:  # fmt: skip
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._events = events
        self._leave = lambda: board.leave(job, reader)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._leave()
            await self._events.aclose()  # type: ignore[attr-defined]


def jobs_router(
    link: EngineLink, default_model: str, limits: JobLimits, guarded: list[Any]
) -> APIRouter:
    board = JobBoard(link, limits)
    router = APIRouter(prefix=JOBS_PATH, dependencies=guarded, tags=["jobs"])
    kept = f"ended jobs are kept {limits.keep_s / 60:g} minutes, the newest {limits.keep_count}"

    def find(job_id: str) -> ApiJob:
        job = board.get(job_id)
        if job is None:
            raise ApiError(
                404,
                f"There is no job {job_id!r}: it never existed here, or it ended a while ago "
                f"({kept}). Send the request again.",
            )
        return job

    @router.post(
        "",
        status_code=202,
        summary="Queue a generation (the body of POST /generate/image); follow it at events",
    )
    async def submit(body: ImageRequest) -> JSONResponse:
        prompts = prompts_of(body)
        try:
            # As /generate/image: a full or stopping server says so before any
            # work, and a bad request is a 4xx before anything is queued.
            link.admit()
            request = await asyncio.to_thread(request_from_body, body, default_model)
            job = board.submit(await link.prepare(request, prompts))
        except QueueFullError as exc:
            raise ApiError(503, str(exc), {"Retry-After": str(QUEUE_RETRY_AFTER_S)}) from None
        except ServerStoppingError as exc:
            raise ApiError(503, f"{exc} Send it again once the server is back.") from None
        answer = {"id": job.id, "position": job.position, "events": f"{job.url}/events"}
        return JSONResponse(answer, status_code=202, headers={"Location": job.url})

    @router.get("/{job_id}", summary="A job's state")
    async def state(job_id: str) -> dict[str, Any]:
        job = find(job_id)
        board.polled(job)
        return job.status()

    @router.delete(
        "/{job_id}", summary="Cancel a job: dropped if waiting, stopped at its next step"
    )
    async def cancel(job_id: str) -> dict[str, Any]:
        job = find(job_id)
        board.cancel(job)
        await asyncio.sleep(0)  # a waiting job's cancel event is on its way: let it land
        return job.status()

    @router.get(
        "/{job_id}/events",
        summary="The job's events as Server-Sent Events, from its current state on",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(job_id: str) -> Response:
        job = find(job_id)
        reader = board.follow(job)
        loop = asyncio.get_running_loop()

        async def stream() -> AsyncIterator[bytes]:
            quiet_since = loop.time()
            while True:
                wait = POSITION_POLL_S if job.state == "queued" else KEEPALIVE_S
                event = await reader.next(wait)
                if event is None:
                    if board.refresh_position(job):
                        continue
                    if loop.time() - quiet_since >= KEEPALIVE_S:
                        quiet_since = loop.time()
                        yield b": keep-alive\n\n"
                    continue
                quiet_since = loop.time()
                yield _sse(event)
                if event.name in ENDED:
                    return

        return _EventStream(stream(), board, job, reader)

    @router.get(
        "/{job_id}/images/{index}",
        summary="An image of a finished job: the PNG with its parameters",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    async def image(job_id: str, index: int) -> Response:
        job = find(job_id)
        if job.state in ("queued", "running"):
            raise ApiError(
                409, f"Job {job_id!r} is {job.state}; its images are here once it has finished."
            )
        if job.state != "finished":
            raise ApiError(404, f"Job {job_id!r} {job.state}; it has no images.")
        if not 0 <= index < len(job.images):
            raise ApiError(404, f"Job {job_id!r} made {len(job.images)} image(s), numbered from 0.")
        return Response(job.images[index], media_type="image/png")

    return router

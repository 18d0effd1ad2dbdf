"""A request whose client has gone away stops working for it.

A plain `async def` endpoint is not cancelled when its client disconnects: the
ASGI server only says so with an `http.disconnect` message, which the request
sees if it asks for the next message after its body. `unless_disconnected`
waits for that and for the work at once; when the client goes first, the work
is cancelled (EngineLink then cancels its jobs at their next step, or takes
them off the queue)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """The result of `work`; raises ClientGone (after cancelling `work`) when
    the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request was cancelled itself (the server stops)
        task.cancel()
        watcher.cancel()
        raise
    if task.done():
        watcher.cancel()
        return task.result()
    task.cancel()
    await asyncio.wait((task,))  # its cleanup (cancelling jobs) has run
    if not task.cancelled():
        task.exception()  # an error nobody will read: retrieved, so asyncio does not log it
    raise ClientGone

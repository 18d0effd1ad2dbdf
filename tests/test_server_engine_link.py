"""EngineLink under threads: a server that stops (close(), from another
thread) while a request is being queued either refuses the request or cancels
its job; no job slips in after close() has looked and waits forever."""

from __future__ import annotations

import asyncio
import threading

import pytest
from api_harness import WAIT_S

from studio.engine.jobs import JobQueue
from studio.engine.request import GenerationRequest
from studio.server.engine_link import EngineLink, ServerStoppingError


class ContendedLock:
    """A lock that says when a thread has to wait for it."""

    def __init__(self, on_contention: threading.Event) -> None:
        self._lock = threading.Lock()
        self._on_contention = on_contention

    def __enter__(self) -> ContendedLock:
        if not self._lock.acquire(blocking=False):
            self._on_contention.set()
            self._lock.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._lock.release()


class GatedQueue(JobQueue):
    """A queue nobody serves, whose pending() (asked between the link's cap check
    and its submit) waits for the test's go."""

    def __init__(self) -> None:
        super().__init__(lambda _event: None)
        self.asked = threading.Event()
        self.go = threading.Event()

    def pending(self):
        self.asked.set()
        assert self.go.wait(WAIT_S), "the test never let pending() answer"
        return super().pending()


def test_close_while_a_request_is_being_queued_answers_it():
    queue = GatedQueue()
    link = EngineLink(queue)
    # close() has either waited for the link's lock or finished: in both cases
    # pending() may answer; with the lock not held across check and submit,
    # close() finishes first and the job is queued behind its back.
    moved = threading.Event()
    link._lock = ContendedLock(moved)  # type: ignore[assignment]

    def stop_server() -> None:
        assert queue.asked.wait(WAIT_S)
        link.close()
        moved.set()

    def release_pending() -> None:
        assert moved.wait(WAIT_S)
        queue.go.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (stop_server, release_pending)]
    for thread in threads:
        thread.start()

    async def ask() -> None:
        # The bound only matters when the job slipped in: then nothing answers it.
        await asyncio.wait_for(link.run_all([GenerationRequest("a boat", seed=1)]), WAIT_S / 6)

    with pytest.raises(ServerStoppingError, match="The server is stopping"):
        asyncio.run(ask())
    for thread in threads:
        thread.join(WAIT_S)
    assert queue.pending() == []  # nothing is left queued for a request that is gone

"""The asyncio tasks a panel starts on the qasync loop, and how they end.

One *request* at a time (a chat answer or an Enhance) that Stop cancels and
then awaits; any number of background tasks (model list, keyring); and
*closing* tasks (an HTTP client being closed) that shutdown waits for rather
than cancels. A task that fails in an unexpected way is logged and reported
as one sentence, never left as an "exception was never retrieved".

Closing is final: no new work starts once it begins (a field losing focus
as the window closes would otherwise start a model refresh that outlives
the window), and every task is cancelled and awaited while the widgets
still exist. If the widgets are deleted without a close, `abandon()` cancels
what runs and nothing more is reported to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop

log = logging.getLogger(__name__)

NO_LOOP = "The Mercury panel needs the app's asyncio loop (qasync); start it with `studio`."


class PanelTasks:
    def __init__(self, report: Callable[[str], None], busy_changed: Callable[[bool], None]):
        self._report = report  # shows a sentence to the user
        self._busy_changed = busy_changed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        self.request: asyncio.Task[None] | None = None
        self._accepting = True  # False once closing began: no new work
        self._gone = False  # the widgets are deleted: report nothing to them

    @property
    def busy(self) -> bool:
        return self.request is not None

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, closing: bool = False
    ) -> asyncio.Task[Any] | None:
        if not self._accepting and not closing:
            coro.close()  # the panel is closing: this work would outlive it
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            self._report(NO_LOOP)
            return None
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        if closing:
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return task

    def start_request(self, coro: Coroutine[Any, Any, None]) -> bool:
        if self.busy:
            coro.close()
            return False
        task = self.spawn(coro)
        if task is None:
            return False
        self.request = task
        self._busy_changed(True)

        def finished(_: asyncio.Task[None]) -> None:
            if self.request is task:
                self.request = None
                if not self._gone:
                    self._busy_changed(False)

        task.add_done_callback(finished)
        return True

    async def stop_request(self) -> None:
        """Cancels the request, then waits until it has wound down."""
        task = self.request
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def stop_accepting(self) -> None:
        """From now on only closing tasks start."""
        self._accepting = False

    async def aclose(self) -> None:
        """Cancels everything but the closing tasks, and waits for all of them to end."""
        self.stop_accepting()
        await self.stop_request()
        current = asyncio.current_task()
        # This very coroutine may be a closing task (run_until_done): not itself.
        others = self._tasks - {current}
        for task in others - self._closing:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def abandon(self) -> None:
        """The widgets were deleted without a close: cancel everything now.

        A task winding down may still touch a deleted widget (RuntimeError);
        that is expected then, so it is not reported."""
        self._accepting = False
        self._gone = True
        for task in list(self._tasks):
            if not task.get_loop().is_closed():
                task.cancel()

    def run_until_done(self, coro: Coroutine[Any, Any, None], limit_s: float) -> None:
        """Runs `coro` to its end, at most `limit_s`, from plain (non-async) Qt code.

        For closeEvent: the app's loop stops right after, so the work must be
        done before returning (the approach of qasync.asyncClose). Called from
        a coroutine it only schedules the work, since a task cannot run others.
        """
        task = self.spawn(coro, closing=True)
        if task is None or asyncio.current_task() is not None:
            return
        deadline = time.monotonic() + limit_s
        while not task.done() and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if self._gone:
            log.debug("Mercury panel task ended after its widgets were deleted", exc_info=exc)
            return
        log.error("Mercury panel task failed", exc_info=exc)
        self._report(
            f"Something unexpected went wrong in the Mercury panel ({type(exc).__name__}); "
            "the details are in the log."
        )

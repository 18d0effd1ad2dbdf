"""The in-app HTTP API: the window's own queue served on this machine while
the preference is on.

Assembled beside the window (gui.py), not inside it: ui/ never imports
server/. It follows the window through its signals: a new engine is served,
a stopping one is let go, and changed preferences turn it on, off or onto
another port."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from .engine.errors import EngineError
from .ui.remote_worker import RemoteWorker

if TYPE_CHECKING:
    from .server.runner import ApiServer
    from .ui.engine_port import EnginePort
    from .ui.main_window import MainWindow
    from .ui.preferences import Preferences


class WindowApiHost(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.server: ApiServer | None = None
        window.engine_started.connect(self._serve)
        window.engine_stopping.connect(self.stop)
        window.preferences_applied.connect(self._follow)
        if window.worker is not None:  # started before anyone listened
            self._serve(window.worker)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _serve(self, worker: EnginePort) -> None:
        self.stop()
        window = self._window
        if not window.prefs.api.enabled:
            return
        if isinstance(worker, RemoteWorker):
            # Its queue is the server's: serving it here would relay every job
            # through this window, and the server already serves the same API.
            window.message_bar.show_message(
                f"The in-app API stays off while the engine is the server at {worker.url}; "
                "programs can use that server's API directly.",
                "info",
            )
            return
        # Imported only when wanted: the server pulls in FastAPI and uvicorn.
        from .server.runner import ApiServer

        try:
            server = ApiServer(
                worker.queue,
                port=window.prefs.api.port,
                default_model=window.panel.model.current_spec(),
                token=os.environ.get("STUDIO_API_TOKEN") or None,
            )
            server.start()
        except EngineError as exc:
            window.message_bar.show_message(str(exc))
            return
        self.server = server
        window.status_text.say(f"API serving at {server.url}")

    def _follow(self, prefs: Preferences) -> None:
        serving = (self.server is not None, self.server.port if self.server else 0)
        if (prefs.api.enabled, prefs.api.port) != serving and self._window.worker is not None:
            self._serve(self._window.worker)

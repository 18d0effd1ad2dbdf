"""The image models an engine server lists (GET /models), read on a thread of
their own: the GUI thread never waits on the network or the keyring."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..engine.errors import EngineError
from ..remote.client import RemoteEngine


class ServerModels(QObject):
    listed = Signal(str, object)  # the server's URL, its image models (GET /models "image")
    failed = Signal(str, str)  # the server's URL, a sentence

    def fetch(self, url: str, token: Callable[[], str | None]) -> None:
        threading.Thread(
            target=self._fetch, args=(url, token), name="server-models", daemon=True
        ).start()

    def _fetch(self, url: str, token: Callable[[], str | None]) -> None:
        try:
            with RemoteEngine(url, token()) as engine:
                models: list[dict[str, Any]] = list(engine.models().get("image", []))
        except EngineError as exc:
            self.failed.emit(url, f"Could not list the models on {url}: {exc}")
        except (KeyError, TypeError, ValueError, AttributeError):
            self.failed.emit(url, f"The server at {url} sent a model list this client cannot read.")
        else:
            self.listed.emit(url, models)

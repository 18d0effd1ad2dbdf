"""The token of the engine server (Settings → Engine), kept in the OS keyring
per server: the keyring user names the server's host and port, so a token
saved for one server is never sent to another.

As with the Hugging Face token (hub_token_box.py), Save and Forget act at once
on the keyring in a worker thread, never in the settings file; the field is
cleared once saved.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from ..keychain import KeyStoreError, forget_secret, read_secret, store_secret
from ..remote import TOKEN_ENV

TITLE = "Engine server token"
WHAT = "the server's token"
INSTEAD = f"Set {TOKEN_ENV} in the environment instead."


def token_user(url: str) -> str:
    """The keyring user for a server's token: "studio-token@HOST:PORT"."""
    url = url.strip()
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a bad port: the address is refused when the engine starts
        port = 0
    return f"studio-token@{(parts.hostname or '').lower()}:{port}"


def server_token(url: str) -> str | None:
    """The token saved for this server, else STUDIO_API_TOKEN. It may block on
    a locked keyring: RemoteWorker calls it from its own threads."""
    return read_secret(token_user(url)).value or os.environ.get(TOKEN_ENV) or None


class ServerTokenBox(QGroupBox):
    _done = Signal(str, bool, bool)  # text, saved (clear the field), stored

    def __init__(self, server_url: Callable[[], str], parent=None) -> None:
        super().__init__(TITLE, parent)
        self._server_url = server_url  # the address as the dialog shows it now
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setPlaceholderText("the token the server was started with")
        self.save_button = QPushButton("Save")
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip("Remove this server's token from the system keyring")
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.forget_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self._done.connect(self._show)
        self.save_button.clicked.connect(self._save)
        self.field.returnPressed.connect(self._save)
        self.forget_button.clicked.connect(self._forget)
        self.refresh()

    def refresh(self) -> None:
        self._run(None, "")

    def _save(self) -> None:
        value, url = self.field.text(), self._server_url().strip()
        if not url:
            self._show("Give the engine server's address first.", False, False)
            return
        if not value.strip():
            self._show("Paste the token first.", False, True)
            return
        user = token_user(url)
        self._run(lambda: store_secret(user, value, WHAT, INSTEAD), "Token saved.", saving=True)

    def _forget(self) -> None:
        user = token_user(self._server_url())
        self._run(lambda: forget_secret(user, WHAT), "Token removed.")

    def _run(self, action: Callable[[], None] | None, done: str, saving: bool = False) -> None:
        url = self._server_url().strip()
        self.save_button.setEnabled(False)
        self.forget_button.setEnabled(False)

        def work() -> None:
            ok = True
            try:
                if action is not None:
                    action()
            except KeyStoreError as exc:
                ok, done_text = False, str(exc)
            else:
                done_text = done
            stored = read_secret(token_user(url)).value is not None if url else False
            if not url:
                where = "Used only with an engine server."
            elif stored:
                where = f"A token for {token_user(url).split('@', 1)[1]} is in the system keyring."
            elif os.environ.get(TOKEN_ENV):
                where = f"Using {TOKEN_ENV}."
            else:
                where = "No token saved: a server on another machine needs one."
            with contextlib.suppress(RuntimeError):  # the dialog was closed meanwhile
                self._done.emit(f"{done_text} {where}".strip(), ok and saving, stored)

        threading.Thread(target=work, name="server-token", daemon=True).start()

    def _show(self, text: str, saved: bool, stored: bool) -> None:
        self.status.setText(text)
        if saved:
            self.field.clear()  # saved: the secret does not stay in the widget
        self.save_button.setEnabled(True)
        self.forget_button.setEnabled(stored)

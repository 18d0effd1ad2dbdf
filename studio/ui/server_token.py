"""The token of the engine server (Settings → Engine), kept in the OS keyring
per server: the keyring user names the server's host and port, so a token
saved for one server is never sent to another.

Saved and forgotten as every keyring secret in Settings is (token_box.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import urlsplit

from ..keychain import forget_secret, read_secret, store_secret
from ..remote import TOKEN_ENV
from .token_box import TokenBox, html_text

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


class ServerTokenBox(TokenBox):
    thread_name = "server-token"

    def __init__(self, server_url: Callable[[], str], parent=None) -> None:
        super().__init__(
            TITLE,
            "the token the server was started with",
            "Remove this server's token from the system keyring",
            parent=parent,
        )
        self._server_url = server_url  # the address as the dialog shows it now
        self.refresh()

    def save_action(self, value: str) -> Callable[[], None] | str:
        url = self._server_url().strip()
        if not url:
            return "Give the engine server's address first."
        if not value.strip():
            return "Paste the token first."
        user = token_user(url)
        return lambda: store_secret(user, value, WHAT, INSTEAD)

    def forget_action(self) -> Callable[[], None]:
        user = token_user(self._server_url())
        return lambda: forget_secret(user, WHAT)

    def describe(self, done: str) -> tuple[str, bool]:
        url = self._server_url().strip()
        stored = read_secret(token_user(url)).value is not None if url else False
        if not url:
            where = "Used only with an engine server."
        elif stored:
            where = f"A token for {token_user(url).split('@', 1)[1]} is in the system keyring."
        elif os.environ.get(TOKEN_ENV):
            where = f"Using {TOKEN_ENV}."
        else:
            where = "No token saved: a server on another machine needs one."
        return html_text(f"{done} {where}".strip()), stored

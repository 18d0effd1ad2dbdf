"""The Hugging Face token in Settings: for gated and private models.

Saved and forgotten as every keyring secret in Settings is (token_box.py);
the status line says where the token comes from: HF_TOKEN or the hub's own
login first, else the keyring.
"""

from __future__ import annotations

from collections.abc import Callable

from ..engine.hub_token import (
    KEYRING_USER,
    NO_KEYRING_INSTEAD,
    TokenSource,
    forget_token,
    save_token,
    token_status,
)
from ..keychain import read_secret
from .token_box import TokenBox, html_text

TITLE = "Hugging Face token (gated and private models)"
TOKENS_PAGE = "https://huggingface.co/settings/tokens"
_SOURCES = {
    TokenSource.HUB: "Using HF_TOKEN (or the hub's own login); it comes before a token saved here.",
    TokenSource.KEYRING: "A token is saved in the system keyring.",
    None: "No token: public models need none. Make a read token at "
    f'<a href="{TOKENS_PAGE}">{TOKENS_PAGE}</a>.',
}


class HubTokenBox(TokenBox):
    thread_name = "hub-token"

    def __init__(self, parent=None) -> None:
        super().__init__(
            TITLE, "hf_…", "Remove the token saved in the system keyring", parent=parent
        )
        self.refresh()

    def save_action(self, value: str) -> Callable[[], None]:
        return lambda: save_token(value)

    def forget_action(self) -> Callable[[], None]:
        return forget_token

    def describe(self, done: str) -> tuple[str, bool]:
        source, problem = token_status()
        if problem:  # said as what it means for the user: where else a token goes
            problem = f"Tokens are kept in the system keyring, but {problem} {NO_KEYRING_INSTEAD}"
        said = " ".join(html_text(t) for t in (done, problem) if t)
        return f"{said} {_SOURCES[source]}", read_secret(KEYRING_USER).value is not None

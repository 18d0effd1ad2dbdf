"""The Hugging Face token for gated and private models.

huggingface_hub's own sources come first (`HF_TOKEN`, then the token
`hf auth login` saved), so a user who set the hub up for other tools changes
nothing; otherwise the one saved in the OS keyring from the app's settings.
The token is only ever handed to huggingface_hub: never logged, never written
to settings or to an image's metadata.
"""

from __future__ import annotations

from enum import StrEnum

from ..keychain import KeyStoreError, Stored, forget_secret, read_secret, store_secret

KEYRING_USER = "hf-token"
NO_KEYRING_INSTEAD = "Set HF_TOKEN in the environment instead."


class TokenSource(StrEnum):
    HUB = "huggingface_hub"  # HF_TOKEN or `hf auth login`
    KEYRING = "keyring"


def _hub_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def hub_token() -> str | None:
    """The token to send, or None. Reads the keyring: may block, keep it off the GUI thread."""
    return _hub_token() or read_secret(KEYRING_USER).value


def token_status() -> tuple[TokenSource | None, str | None]:
    """Where the token comes from (None: nowhere), and a keyring problem if any."""
    if _hub_token():
        return TokenSource.HUB, None
    stored: Stored = read_secret(KEYRING_USER)
    return (TokenSource.KEYRING if stored.value else None), stored.problem


def token_problem(value: str) -> str | None:
    """Why `value` cannot be a token, without quoting it; None when it can be.
    The HTTP library refuses a header with a control character by quoting the
    header whole in its exception, which would put the token in a sentence."""
    if value.isascii() and value.isprintable() and " " not in value:
        return None
    return "The Hugging Face token has a space, a control character or a non-ASCII letter in it"


def save_token(value: str) -> None:
    value = value.strip()
    if not value:
        raise KeyStoreError("The token is empty; paste the token you made at huggingface.co.")
    if problem := token_problem(value):
        raise KeyStoreError(f"{problem}; copy it again from huggingface.co.")
    store_secret(KEYRING_USER, value, "the token", NO_KEYRING_INSTEAD)


def forget_token() -> None:
    forget_secret(KEYRING_USER, "the token")

"""Where the API key comes from: the environment first, then the OS keyring.

Keys are stored per server (keyring user "api-key@host:port"), so a key saved
for Inception is never sent to some other base URL the user types in. The
value is never logged, never part of a repr, never written to settings.
Keyring calls can block (a locked keychain asks to be unlocked), so callers on
the UI thread run `find_api_key` in a worker thread (asyncio.to_thread).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

import keyring
import keyring.errors

from .settings import BASE_URL_ENV, INCEPTION_BASE_URL, is_inception

KEY_ENV = "INCEPTION_API_KEY"
KEYRING_SERVICE = "diffusion-studio"
GET_KEY_URL = "https://platform.inceptionlabs.ai/dashboard/api-keys"


class KeySource(Enum):
    ENVIRONMENT = "environment"
    KEYRING = "keyring"


@dataclass(frozen=True)
class ApiKey:
    value: str = field(repr=False)
    source: KeySource


@dataclass(frozen=True)
class KeyLookup:
    """The key found for a server, or None; `problem` when the keyring failed."""

    key: ApiKey | None
    problem: str | None = None


class KeyStoreError(Exception):
    """The keyring refused to store or delete; the message is a sentence."""


def keyring_user(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"api-key@{(parts.netloc or base_url).lower()}"


def env_key_applies(base_url: str, environ: Mapping[str, str]) -> bool:
    """INCEPTION_API_KEY goes to Inception, or to the INCEPTION_BASE_URL it is paired with."""
    paired = environ.get(BASE_URL_ENV, "").strip().rstrip("/")
    return is_inception(base_url) or (bool(paired) and _same_server(paired, base_url))


def env_key_withheld(base_url: str, environ: Mapping[str, str] | None = None) -> bool:
    """INCEPTION_API_KEY is set but, by design, not sent to `base_url` (another server)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(KEY_ENV, "").strip()) and not env_key_applies(base_url, environ)


def find_api_key(
    base_url: str = INCEPTION_BASE_URL, environ: Mapping[str, str] | None = None
) -> KeyLookup:
    environ = os.environ if environ is None else environ
    env_value = environ.get(KEY_ENV, "").strip()
    if env_value and env_key_applies(base_url, environ):
        return KeyLookup(ApiKey(env_value, KeySource.ENVIRONMENT))
    try:
        stored = keyring.get_password(KEYRING_SERVICE, keyring_user(base_url))
    except Exception as exc:  # backends raise their own types (D-Bus, Keychain, ...)
        return KeyLookup(None, _keyring_problem(exc))
    if stored and stored.strip():
        return KeyLookup(ApiKey(stored.strip(), KeySource.KEYRING))
    return KeyLookup(None)


def store_api_key(base_url: str, value: str) -> None:
    value = value.strip()
    if not value:
        raise KeyStoreError("The API key is empty; paste the key you copied from the dashboard.")
    try:
        keyring.set_password(KEYRING_SERVICE, keyring_user(base_url), value)
    except Exception as exc:
        raise KeyStoreError(
            f"Could not save the key: {_keyring_problem(exc)} "
            f"Set {KEY_ENV} in the environment instead."
        ) from None  # the backend's exception may quote what it was given


def forget_api_key(base_url: str) -> None:
    try:
        keyring.delete_password(KEYRING_SERVICE, keyring_user(base_url))
    except keyring.errors.PasswordDeleteError:
        pass  # nothing stored: already forgotten
    except Exception as exc:
        raise KeyStoreError(f"Could not remove the key: {_keyring_problem(exc)}") from None


def _keyring_problem(exc: Exception) -> str:
    if isinstance(exc, keyring.errors.NoKeyringError):
        return "this system has no keyring (password store) available."
    return f"the system keyring failed ({type(exc).__name__})."


def _same_server(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc.lower()) == (pb.scheme, pb.netloc.lower())

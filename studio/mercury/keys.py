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

from ..keychain import KeyStoreError, forget_secret, read_secret, store_secret
from .settings import BASE_URL_ENV, INCEPTION_BASE_URL, is_inception

KEY_ENV = "INCEPTION_API_KEY"
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
    stored = read_secret(keyring_user(base_url))
    if stored.value:
        return KeyLookup(ApiKey(stored.value, KeySource.KEYRING))
    return KeyLookup(None, stored.problem)


def store_api_key(base_url: str, value: str) -> None:
    if not value.strip():
        raise KeyStoreError("The API key is empty; paste the key you copied from the dashboard.")
    store_secret(
        keyring_user(base_url), value, "the key", f"Set {KEY_ENV} in the environment instead."
    )


def forget_api_key(base_url: str) -> None:
    forget_secret(keyring_user(base_url), "the key")


def _same_server(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc.lower()) == (pb.scheme, pb.netloc.lower())

"""Secrets in the OS keyring: the Mercury API key and the Hugging Face token.

One place that knows the keyring's service name and how its backends fail, so
every secret is stored the same way and every failure reads the same. A
secret is never logged, never part of a repr, never written to settings.
Keyring calls can block (a locked keychain asks to be unlocked): callers on
the GUI thread run them in a worker thread. It imports nothing from the app:
the engine and Mercury, which may not import each other, both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keyring
import keyring.errors

KEYRING_SERVICE = "diffusion-studio"


class KeyStoreError(Exception):
    """The keyring refused to store or delete; the message is a sentence."""


@dataclass(frozen=True)
class Stored:
    """What the keyring holds for a user name, or None; `problem` when it failed."""

    value: str | None
    problem: str | None = None

    def __repr__(self) -> str:  # the value never reaches a log through a repr
        return f"Stored(value={'…' if self.value else None}, problem={self.problem!r})"


def read_secret(user: str) -> Stored:
    try:
        value = keyring.get_password(KEYRING_SERVICE, user)
    except Exception as exc:  # backends raise their own types (D-Bus, Keychain, ...)
        return Stored(None, keyring_problem(exc))
    return Stored(value.strip() if value and value.strip() else None)


def store_secret(user: str, value: str, what: str, instead: str) -> None:
    """Saves `value`; a failure is a sentence naming `what` and ending with
    `instead` (what to do)."""
    try:
        keyring.set_password(KEYRING_SERVICE, user, value.strip())
    except Exception as exc:
        # from None: the backend's exception may quote what it was given.
        raise KeyStoreError(f"Could not save {what}: {keyring_problem(exc)} {instead}") from None


def forget_secret(user: str, what: str) -> None:
    try:
        keyring.delete_password(KEYRING_SERVICE, user)
    except keyring.errors.PasswordDeleteError:
        pass  # nothing stored: already forgotten
    except Exception as exc:
        raise KeyStoreError(f"Could not remove {what}: {keyring_problem(exc)}") from None


def keyring_problem(exc: Exception) -> str:
    if isinstance(exc, keyring.errors.NoKeyringError):
        return "this system has no keyring (password store) available."
    return f"the system keyring failed ({type(exc).__name__})."

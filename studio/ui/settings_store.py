"""The app's one settings store: a QSettings INI file in the data folder.

Declared options (studio/option_spec.py) are read and written generically: a
key per field, "<section prefix><key>" ("engine/device"). Panels keep their
own state in their own group ("generation", "window"). Secrets never go here:
the Mercury API key lives in the OS keyring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QSettings

from ..option_spec import Declared, declared
from ..paths import data_dir
from .preferences import Preferences

T = TypeVar("T")


def open_store(path: Path | None = None) -> QSettings:
    path = path or data_dir() / "settings.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


def read_bool(store: QSettings, key: str, default: bool) -> bool:
    # INI files store booleans as the strings "true"/"false".
    value = store.value(key, default)
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def read_int(store: QSettings, key: str, default: int) -> int:
    try:
        return int(store.value(key, default))
    except (TypeError, ValueError):
        return default


def read_list(store: QSettings, key: str) -> list[str]:
    value = store.value(key, [])
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or []]


def _was_ticked(raw: object) -> str | None:
    # Before "auto" existed the fast CPU path was a checkbox, saved unticked by
    # every settings dialog: only a ticked one was a choice.
    return "on" if str(raw).lower() in ("true", "1", "yes") else None


# Keys of older files, read when the current key is absent: old key and how its
# value becomes the current one's (None: as if absent).
OLD_KEYS: dict[str, tuple[str, Callable[[object], object | None]]] = {
    "engine/fast_cpu_mode": ("engine/fast_cpu", _was_ticked),
}


def stored_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, str, Declared]]:
    """(path, key, declaration) of each stored field, nested ones flattened:
    ("watermark.mark.text", "services/watermark_text", ...)."""
    for d in declared(cls):
        if d.is_nested:
            for path, key, inner in stored_fields(d.kind, prefix + d.prefix):
                yield f"{d.name}.{path}", key, inner
        elif d.spec.stored:
            yield d.name, prefix + d.key, d


def load_options(store: QSettings, default: T, prefix: str = "") -> T:
    """`default` with every stored value that reads as valid; anything missing,
    unreadable or out of its choices keeps its default (a hand-edited file)."""
    values: dict[str, Any] = {}
    for d in declared(type(default)):
        if d.is_nested:
            values[d.name] = load_options(store, getattr(default, d.name), prefix + d.prefix)
        elif d.spec.stored:
            found, raw = _raw(store, prefix + d.key)
            if found:
                with suppress(TypeError, ValueError):
                    values[d.name] = d.parse(raw)
    try:
        return replace(default, **values)  # type: ignore[type-var]
    except (TypeError, ValueError):  # valid one by one, not together: keep what fits
        for name, value in values.items():
            with suppress(TypeError, ValueError):
                default = replace(default, **{name: value})  # type: ignore[type-var]
        return default


def _raw(store: QSettings, key: str) -> tuple[bool, object]:
    """Whether the file holds the key (or its older form), and its value."""
    if store.contains(key):
        return True, store.value(key)
    if key in OLD_KEYS:
        old, convert = OLD_KEYS[key]
        if store.contains(old):
            value = convert(store.value(old))
            return value is not None, value
    return False, None


def save_options(store: QSettings, options: object, prefix: str = "") -> None:
    for d in declared(type(options)):
        value = getattr(options, d.name)
        if d.is_nested:
            save_options(store, value, prefix + d.prefix)
        elif d.spec.stored:
            stored = d.dump(value)
            if stored is None:
                store.remove(prefix + d.key)
            else:
                store.setValue(prefix + d.key, stored)


def load_preferences(store: QSettings) -> Preferences:
    prefs = load_options(store, Preferences())
    return replace(prefs, mercury=prefs.mercury.normalized())


def save_preferences(prefs: Preferences, store: QSettings) -> None:
    save_options(store, prefs)
    store.sync()

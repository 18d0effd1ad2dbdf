"""MercurySettings in the app's QSettings, under "mercury/". Never the API key."""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import QSettings

from ..mercury.settings import MercurySettings

GROUP = "mercury"


def load_mercury_settings(store: QSettings) -> MercurySettings:
    """The saved settings; a missing or unreadable value keeps its default."""
    defaults = MercurySettings()
    values = {}
    store.beginGroup(GROUP)
    try:
        for field in fields(MercurySettings):
            raw = store.value(field.name)
            if raw is None:
                continue
            value = _convert(raw, type(getattr(defaults, field.name)))
            if value is not None:
                values[field.name] = value
    finally:
        store.endGroup()
    return MercurySettings(**values).normalized()


def save_mercury_settings(settings: MercurySettings, store: QSettings) -> None:
    store.beginGroup(GROUP)
    try:
        for field in fields(MercurySettings):
            store.setValue(field.name, getattr(settings, field.name))
    finally:
        store.endGroup()


def _convert(raw: object, kind: type) -> object | None:
    # INI files give back strings ("true", "0.75"); the native stores give types.
    try:
        if kind is bool:
            return raw.lower() in ("true", "1", "yes") if isinstance(raw, str) else bool(raw)
        if kind is int:
            return int(float(raw))  # type: ignore[arg-type]
        if kind is float:
            return float(raw)  # type: ignore[arg-type]
        return str(raw)
    except (TypeError, ValueError):
        return None

"""MercurySettings in the app's settings store, under "mercury/". Never the API key."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from ..mercury.settings import MercurySettings
from ..option_spec import find
from .preferences import Preferences
from .settings_store import load_options, save_options

PREFIX = find(Preferences, "mercury").prefix


def load_mercury_settings(store: QSettings) -> MercurySettings:
    """The saved settings; a missing or unreadable value keeps its default."""
    return load_options(store, MercurySettings(), PREFIX).normalized()


def save_mercury_settings(settings: MercurySettings, store: QSettings) -> None:
    save_options(store, settings, PREFIX)

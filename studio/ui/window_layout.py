"""The window's layout: the default arrangement of the docks, how small the
canvas may get, and restoring a saved layout only when it fits this screen.

Docks cannot be narrower than their fields (see GenerationPanel); the canvas
keeps CANVAS_MIN, so a small window squeezes docks and canvas alike instead
of turning the canvas into a sliver."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

CANVAS_MIN = QSize(320, 240)  # room to paint a stroke and see the picture
DEFAULT_SIZE = QSize(1400, 900)  # shrunk to the screen where that is smaller
SCREEN_SHARE = 0.92
# Saved with the dock state: layouts from before docks had usable minimum
# widths (a narrow dock with clipped fields) are not restored.
LAYOUT_VERSION = 2


def fits(size: object, available: QRect) -> bool:
    """Whether a saved window size fits the screen's available area."""
    return (
        isinstance(size, QSize)
        and size.isValid()
        and size.width() <= available.width()
        and size.height() <= available.height()
    )


def restore_layout(window: QMainWindow, settings: QSettings, docks: dict[str, QDockWidget]) -> bool:
    """Restores the saved layout when it fits the screen; otherwise (or when
    there is none) lays the window out anew. True when the saved one was used."""
    available = window.screen().availableGeometry()
    geometry = settings.value("window/geometry")
    state = settings.value("window/state")
    if (
        fits(settings.value("window/size"), available)
        and isinstance(geometry, QByteArray)
        and isinstance(state, QByteArray)
        and window.restoreGeometry(geometry)
        and window.restoreState(state, LAYOUT_VERSION)
    ):
        return True
    default_layout(window, docks, available)
    return False


def default_layout(window: QMainWindow, docks: dict[str, QDockWidget], available: QRect) -> None:
    window.resize(
        min(DEFAULT_SIZE.width(), int(available.width() * SCREEN_SHARE)),
        min(DEFAULT_SIZE.height(), int(available.height() * SCREEN_SHARE)),
    )
    window.resizeDocks([docks["history"], docks["queue"]], [900, 320], Qt.Orientation.Horizontal)
    window.resizeDocks([docks["history"]], [150], Qt.Orientation.Vertical)
    window.resizeDocks([docks["generation"]], [380], Qt.Orientation.Horizontal)


def save_layout(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState(LAYOUT_VERSION))
    settings.setValue("window/size", window.size())

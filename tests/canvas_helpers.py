"""Helpers for the canvas tests: a shown view, mouse strokes in document
coordinates, and layer pixels as numpy arrays."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from studio.canvas import CanvasDocument, CanvasView
from studio.canvas.imageconv import read_pixels

LEFT = Qt.MouseButton.LeftButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier


def make_view(qtbot, width: int = 128, height: int = 128, view_size=(300, 300)) -> CanvasView:
    view = CanvasView(CanvasDocument(width, height))
    qtbot.addWidget(view)
    view.resize(*view_size)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    view.setFocus()
    return view


def to_view(view: CanvasView, x: float, y: float) -> QPoint:
    """The viewport pixel that shows document point (x, y)."""
    point = view.map_from_document(QPointF(x, y))
    return QPoint(int(point.x()), int(point.y()))


def drag(
    view: CanvasView,
    points: Iterable[tuple[float, float]],
    button: Qt.MouseButton = LEFT,
    modifiers: Qt.KeyboardModifier = NO_MODIFIER,
) -> None:
    """Presses at the first document point, moves through the others, releases."""
    viewport = view.viewport()
    positions = [to_view(view, x, y) for x, y in points]
    QTest.mousePress(viewport, button, modifiers, positions[0])
    for position in positions[1:]:
        QTest.mouseMove(viewport, position)
    QTest.mouseRelease(viewport, button, modifiers, positions[-1])


def line(x0: float, y0: float, x1: float, y1: float, steps: int = 12) -> list[tuple[float, float]]:
    return [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(steps + 1)]


def alpha(document: CanvasDocument, layer: str) -> np.ndarray:
    return read_pixels(document.layer(layer))[:, :, 3].copy()


def layer_pixels(document: CanvasDocument, layer: str) -> np.ndarray:
    """A copy of a layer's premultiplied BGRA pixels."""
    return read_pixels(document.layer(layer)).copy()

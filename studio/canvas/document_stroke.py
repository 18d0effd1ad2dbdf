"""A stroke in progress on one layer of a canvas document: it paints live,
reports what it touched, and hands its undo patches to the document when done."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

from .brush import BrushSpec
from .commands import LayerPatch
from .layers import LayerName
from .sizing import Box
from .strokes import Stroke


class StrokeTarget(Protocol):
    """What a stroke needs of the document it paints on."""

    def layer(self, name: str | LayerName) -> QImage: ...

    def area_painted(self, area: QRect) -> None: ...

    def stroke_finished(self, stroke: CanvasStroke, patches: list[LayerPatch]) -> None: ...


class CanvasStroke:
    """Made by CanvasDocument.begin_stroke(); add points, then finish()."""

    def __init__(self, document: StrokeTarget, name: LayerName, spec: BrushSpec) -> None:
        self._document = document
        self.layer = name
        self.text = f"{'Erase' if spec.erase else 'Paint'} {name.value}"
        # Looked up on each use: undoing a resize replaces the layer's image.
        self._stroke = Stroke(lambda: document.layer(name), spec)
        self._finished = False

    def add_point(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self._finished:
            return
        box = self._stroke.add_point(x, y, pressure)
        if box is not None:
            self._document.area_painted(box_rect(box))

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        box = self._stroke.end()
        if box is not None:
            self._document.area_painted(box_rect(box))
        patches = [LayerPatch(self.layer, patch) for patch in self._stroke.patches()]
        self._document.stroke_finished(self, patches)


def box_rect(box: Box) -> QRect:
    left, top, right, bottom = box
    return QRect(left, top, right - left, bottom - top)

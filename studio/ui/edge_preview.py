"""The live canny edge map of the canvas, shown in the panel while thresholds move.

Computed on a small copy (at most 256 px) after a short pause in painting, so
it stays far below a frame's time even on a 2048² canvas."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QImage, QPainter, QPixmap

from ..canvas.document import CanvasDocument
from ..engine.request import Mode

PREVIEW_SIDE = 256
DEBOUNCE_MS = 120


def small_composite(document: CanvasDocument, side: int = PREVIEW_SIDE) -> QImage:
    """The visible image and sketch layers (what ControlNet gets: see
    CanvasDocument.init_image), scaled down."""
    size = document.size().scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio)
    out = QImage(size, QImage.Format.Format_RGB32)
    out.fill(Qt.GlobalColor.white)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    for name in ("image", "sketch"):
        if document.is_visible(name):
            painter.drawImage(out.rect(), document.layer(name))
    painter.end()
    return out


def edge_map(image: QImage, low: int, high: int) -> QImage:
    import cv2

    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height = gray.width(), gray.height()
    array = np.frombuffer(gray.constBits(), np.uint8).reshape(height, gray.bytesPerLine())
    edges = np.ascontiguousarray(cv2.Canny(array[:, :width], low, high))
    return QImage(edges.data, width, height, width, QImage.Format.Format_Grayscale8).copy()


class EdgePreview(QObject):
    """Keeps the panel's edge preview current while ControlNet mode is on."""

    def __init__(self, document: CanvasDocument, panel) -> None:
        super().__init__(panel)
        self.document = document
        self.panel = panel
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.refresh)
        document.changed.connect(self.schedule)
        document.visibility_changed.connect(self.schedule)
        panel.canny_changed.connect(self.schedule)
        panel.mode_changed.connect(self.schedule)
        self.last: QImage | None = None

    def schedule(self, *_args) -> None:
        if self.panel.current_mode() is Mode.CONTROLNET_CANNY:
            self.timer.start()

    def refresh(self) -> None:
        low, high = self.panel.canny_low.value(), self.panel.canny_high.value()
        self.last = edge_map(small_composite(self.document), min(low, high), high)
        self.panel.set_edge_preview(QPixmap.fromImage(self.last))

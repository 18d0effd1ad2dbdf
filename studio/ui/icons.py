"""Small icons drawn with QPainter: emoji glyphs are missing from many fonts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication

SIZE = 32


def _icon(draw: Callable[[QPainter], None]) -> QIcon:
    app = QApplication.instance()
    ink = app.palette().color(QPalette.ColorRole.ButtonText) if app else QColor("#e6e6e6")
    pixmap = QPixmap(SIZE, SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(ink, 2.2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.ink = ink  # type: ignore[attr-defined]
    draw(painter)
    painter.end()
    return QIcon(pixmap)


def dice_icon() -> QIcon:
    def draw(p: QPainter) -> None:
        p.drawRoundedRect(QRectF(5, 5, 22, 22), 5, 5)
        p.setBrush(p.ink)  # type: ignore[attr-defined]
        for x, y in ((11, 11), (21, 11), (16, 16), (11, 21), (21, 21)):
            p.drawEllipse(QPointF(x, y), 1.8, 1.8)

    return _icon(draw)


def lock_icon() -> QIcon:
    def draw(p: QPainter) -> None:
        p.drawArc(QRectF(10, 4, 12, 14), 0, 180 * 16)
        p.drawLine(QPointF(10, 11), QPointF(10, 15))
        p.drawLine(QPointF(22, 11), QPointF(22, 15))
        p.setBrush(p.ink)  # type: ignore[attr-defined]
        p.drawRoundedRect(QRectF(7, 15, 18, 13), 3, 3)

    return _icon(draw)

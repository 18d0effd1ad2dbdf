"""The window's small icons, drawn in the palette's colours (see canvas/icons.py):
symbol glyphs such as ⟳ ⚙ ⏳ are missing from many fonts and show as empty boxes.
Each is drawn on a 32-unit square."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen

from ..canvas.icons import drawn_icon, round_pen

UNITS = 32


def _pen(ink: QColor, width: float = 2.2) -> QPen:
    return round_pen(ink, width)


def _icon(draw) -> QIcon:
    return drawn_icon(draw, UNITS)


def dice_icon() -> QIcon:
    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(_pen(ink))
        p.drawRoundedRect(QRectF(5, 5, 22, 22), 5, 5)
        p.setBrush(ink)
        for x, y in ((11, 11), (21, 11), (16, 16), (11, 21), (21, 21)):
            p.drawEllipse(QPointF(x, y), 1.8, 1.8)

    return _icon(draw)


def lock_icon() -> QIcon:
    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(_pen(ink))
        p.drawArc(QRectF(10, 4, 12, 14), 0, 180 * 16)
        p.drawLine(QPointF(10, 11), QPointF(10, 15))
        p.drawLine(QPointF(22, 11), QPointF(22, 15))
        p.setBrush(ink)
        p.drawRoundedRect(QRectF(7, 15, 18, 13), 3, 3)

    return _icon(draw)


def reload_icon() -> QIcon:
    """A circular arrow: fetch the list again."""

    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(_pen(ink, 2.6))
        p.drawArc(QRectF(6, 6, 20, 20), 60 * 16, 290 * 16)
        # The arrow head at the arc's open end (60 degrees), pointing along it.
        tip = QPointF(16 + 10 * math.cos(math.radians(60)), 16 - 10 * math.sin(math.radians(60)))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(ink)
        p.drawPolygon([tip + QPointF(6, 0), tip + QPointF(-3, -5), tip + QPointF(-1, 6)])

    return _icon(draw)


def settings_icon() -> QIcon:
    """A cog wheel: the options."""

    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(ink)
        wheel = QPainterPath()
        wheel.setFillRule(Qt.FillRule.WindingFill)
        wheel.addEllipse(QPointF(16, 16), 9, 9)
        for tooth in range(8):
            p.save()
            p.translate(16, 16)
            p.rotate(tooth * 45)
            p.drawRoundedRect(QRectF(-2.6, -13, 5.2, 7), 1.2, 1.2)
            p.restore()
        hole = QPainterPath()
        hole.addEllipse(QPointF(16, 16), 3.6, 3.6)
        p.drawPath(wheel.subtracted(hole))

    return _icon(draw)


def close_icon() -> QIcon:
    """A cross: dismiss."""

    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(_pen(ink, 2.6))
        p.drawLine(QPointF(9, 9), QPointF(23, 23))
        p.drawLine(QPointF(23, 9), QPointF(9, 23))

    return _icon(draw)


def running_icon() -> QIcon:
    """A play triangle: the job that runs now."""

    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(_pen(ink, 1.5))
        p.setBrush(ink)
        p.drawPolygon([QPointF(9, 6), QPointF(26, 16), QPointF(9, 26)])

    return _icon(draw)


def waiting_icon() -> QIcon:
    """An hourglass: a job that waits its turn."""

    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(_pen(ink, 2.2))
        p.drawLine(QPointF(8, 5), QPointF(24, 5))
        p.drawLine(QPointF(8, 27), QPointF(24, 27))
        glass = QPainterPath(QPointF(10, 5))
        glass.cubicTo(QPointF(10, 12), QPointF(16, 13), QPointF(16, 16))
        glass.cubicTo(QPointF(16, 19), QPointF(10, 20), QPointF(10, 27))
        glass.moveTo(QPointF(22, 5))
        glass.cubicTo(QPointF(22, 12), QPointF(16, 13), QPointF(16, 16))
        glass.cubicTo(QPointF(16, 19), QPointF(22, 20), QPointF(22, 27))
        p.drawPath(glass)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(ink)
        p.drawPolygon([QPointF(11.5, 26), QPointF(16, 20), QPointF(20.5, 26)])  # the sand

    return _icon(draw)

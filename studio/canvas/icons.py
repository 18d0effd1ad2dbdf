"""Tool icons drawn with QPainter, so the canvas needs no image files. Each is
drawn on a 64-unit square in the palette's text colour (or the mask red)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

from .layers import MASK_COLOR

ICON_PIXELS = 64


def _icon(draw: Callable[[QPainter, QColor], None]) -> QIcon:
    icon = QIcon()
    palette = QGuiApplication.palette()
    for mode, group in (
        (QIcon.Mode.Normal, QPalette.ColorGroup.Active),
        (QIcon.Mode.Disabled, QPalette.ColorGroup.Disabled),
    ):
        pixmap = QPixmap(ICON_PIXELS, ICON_PIXELS)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        draw(painter, palette.color(group, QPalette.ColorRole.WindowText))
        painter.end()
        icon.addPixmap(pixmap, mode)
    return icon


def _pen(color: QColor, width: float) -> QPen:
    return QPen(
        color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
    )


def _mask_fill(alpha: int = 150) -> QColor:
    color = QColor(MASK_COLOR)
    color.setAlpha(alpha)
    return color


def _draw_brush(painter: QPainter, ink: QColor, tip: QColor | None = None) -> None:
    painter.setPen(_pen(ink, 7))
    painter.drawLine(QPointF(54, 10), QPointF(32, 32))  # handle
    painter.setPen(_pen(ink, 11))
    painter.drawLine(QPointF(32, 32), QPointF(27, 37))  # ferrule
    bristles = QPainterPath(QPointF(24, 32))
    bristles.cubicTo(QPointF(10, 36), QPointF(16, 48), QPointF(6, 58))
    bristles.cubicTo(QPointF(22, 56), QPointF(32, 50), QPointF(32, 40))
    bristles.closeSubpath()
    painter.setPen(_pen(ink, 2.5))
    painter.setBrush(tip or ink)
    painter.drawPath(bristles)


def brush_icon() -> QIcon:
    return _icon(lambda p, ink: _draw_brush(p, ink))


def mask_brush_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_mask_fill(120))
        painter.drawEllipse(QRectF(4, 30, 30, 30))
        _draw_brush(painter, ink, MASK_COLOR)

    return _icon(draw)


def eraser_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.translate(32, 32)
        painter.rotate(-45)
        painter.setPen(_pen(ink, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(-24, -12, 48, 24), 4, 4)
        painter.setBrush(ink)
        painter.drawRoundedRect(QRectF(-24, -12, 18, 24), 4, 4)  # the worn tip
        painter.resetTransform()
        painter.setPen(_pen(ink, 3))
        painter.drawLine(QPointF(22, 58), QPointF(58, 58))

    return _icon(draw)


def picker_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(_pen(ink, 3))
        painter.setBrush(ink)
        painter.drawEllipse(QRectF(40, 6, 18, 18))  # bulb
        painter.setPen(_pen(ink, 9))
        painter.drawLine(QPointF(36, 20), QPointF(44, 28))  # collar
        painter.setPen(_pen(ink, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        tube = QPainterPath(QPointF(36, 26))
        tube.lineTo(QPointF(14, 48))
        tube.lineTo(QPointF(8, 56))
        tube.lineTo(QPointF(16, 50))
        tube.lineTo(QPointF(38, 28))
        painter.drawPath(tube)

    return _icon(draw)


def fill_mask_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(_pen(ink, 3))
        painter.setBrush(_mask_fill())
        painter.drawRoundedRect(QRectF(8, 8, 48, 48), 5, 5)

    return _icon(draw)


def clear_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(QPen(ink, 3, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(8, 8, 48, 48), 5, 5)
        painter.setPen(_pen(ink, 5))
        painter.drawLine(QPointF(22, 22), QPointF(42, 42))
        painter.drawLine(QPointF(42, 22), QPointF(22, 42))

    return _icon(draw)


def invert_mask_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_mask_fill())
        painter.drawPie(QRectF(8, 8, 48, 48), 90 * 16, 180 * 16)
        painter.setPen(_pen(ink, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QRectF(8, 8, 48, 48))
        painter.drawLine(QPointF(32, 8), QPointF(32, 56))

    return _icon(draw)


def flatten_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(_pen(ink, 3))
        painter.setBrush(QBrush(ink, Qt.BrushStyle.Dense5Pattern))
        sheet = [QPointF(6, 46), QPointF(32, 34), QPointF(58, 46), QPointF(32, 58)]
        painter.drawPolygon(sheet)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawLine(QPointF(32, 6), QPointF(32, 30))
        painter.drawPolyline([QPointF(22, 20), QPointF(32, 30), QPointF(42, 20)])

    return _icon(draw)


def fit_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(_pen(ink, 4))
        for x, y, dx, dy in ((8, 8, 1, 1), (56, 8, -1, 1), (8, 56, 1, -1), (56, 56, -1, -1)):
            painter.drawPolyline([QPointF(x, y + 14 * dy), QPointF(x, y), QPointF(x + 14 * dx, y)])

    return _icon(draw)

"""Icons drawn with QPainter, so the app needs no image files.

Each is drawn when it is painted, with the palette of that moment: a QIcon of
fixed pixmaps keeps the colours of the theme it was made in (white tool icons
on the light theme's light background after a switch). Ink is the palette's
WindowText, its Disabled colour for a disabled icon and HighlightedText on a
selection; the mask's red stays red. Tool icons are drawn on a 64-unit square.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QIcon,
    QIconEngine,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

from .layers import MASK_COLOR

ICON_UNITS = 64

Draw = Callable[[QPainter, QColor], None]


def icon_ink(mode: QIcon.Mode = QIcon.Mode.Normal) -> QColor:
    """The colour an icon is drawn in for `mode`, from the application palette now."""
    palette = QGuiApplication.palette()
    if mode == QIcon.Mode.Disabled:
        return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    if mode == QIcon.Mode.Selected:
        return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.HighlightedText)
    return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.WindowText)


class DrawnIconEngine(QIconEngine):
    """Runs `draw(painter, ink)` on a square of `units` scaled to each request."""

    def __init__(self, draw: Draw, units: int = ICON_UNITS) -> None:
        super().__init__()
        self._draw = draw
        self._units = units

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        side = min(rect.width(), rect.height())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(
            rect.x() + (rect.width() - side) / 2, rect.y() + (rect.height() - side) / 2
        )
        painter.scale(side / self._units, side / self._units)
        self._draw(painter, icon_ink(mode))
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        # Sharp on high-DPI screens: drawn at device pixels, not scaled up.
        pixmap = self.pixmap(size * scale, mode, state)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def clone(self) -> QIconEngine:
        # Qt owns the copy (a QIcon detaching), but PySide does not hand it over
        # for a returned value: without a Python reference it would be freed
        # under Qt's feet. The few copies ever made are kept for the process.
        copy = DrawnIconEngine(self._draw, self._units)
        _CLONES.append(copy)
        return copy


_CLONES: list[DrawnIconEngine] = []


def drawn_icon(draw: Draw, units: int = ICON_UNITS) -> QIcon:
    return QIcon(DrawnIconEngine(draw, units))


def round_pen(color: QColor, width: float) -> QPen:
    return QPen(
        color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
    )


def _mask_fill(alpha: int = 150) -> QColor:
    color = QColor(MASK_COLOR)
    color.setAlpha(alpha)
    return color


def _draw_brush(painter: QPainter, ink: QColor, tip: QColor | None = None) -> None:
    painter.setPen(round_pen(ink, 7))
    painter.drawLine(QPointF(54, 10), QPointF(32, 32))  # handle
    painter.setPen(round_pen(ink, 11))
    painter.drawLine(QPointF(32, 32), QPointF(27, 37))  # ferrule
    bristles = QPainterPath(QPointF(24, 32))
    bristles.cubicTo(QPointF(10, 36), QPointF(16, 48), QPointF(6, 58))
    bristles.cubicTo(QPointF(22, 56), QPointF(32, 50), QPointF(32, 40))
    bristles.closeSubpath()
    painter.setPen(round_pen(ink, 2.5))
    painter.setBrush(tip or ink)
    painter.drawPath(bristles)


def brush_icon() -> QIcon:
    return drawn_icon(lambda p, ink: _draw_brush(p, ink))


def mask_brush_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_mask_fill(120))
        painter.drawEllipse(QRectF(4, 30, 30, 30))
        _draw_brush(painter, ink, MASK_COLOR)

    return drawn_icon(draw)


def eraser_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.save()
        painter.translate(32, 32)
        painter.rotate(-45)
        painter.setPen(round_pen(ink, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(-24, -12, 48, 24), 4, 4)
        painter.setBrush(ink)
        painter.drawRoundedRect(QRectF(-24, -12, 18, 24), 4, 4)  # the worn tip
        painter.restore()
        painter.setPen(round_pen(ink, 3))
        painter.drawLine(QPointF(22, 58), QPointF(58, 58))

    return drawn_icon(draw)


def picker_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(round_pen(ink, 3))
        painter.setBrush(ink)
        painter.drawEllipse(QRectF(40, 6, 18, 18))  # bulb
        painter.setPen(round_pen(ink, 9))
        painter.drawLine(QPointF(36, 20), QPointF(44, 28))  # collar
        painter.setPen(round_pen(ink, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        tube = QPainterPath(QPointF(36, 26))
        tube.lineTo(QPointF(14, 48))
        tube.lineTo(QPointF(8, 56))
        tube.lineTo(QPointF(16, 50))
        tube.lineTo(QPointF(38, 28))
        painter.drawPath(tube)

    return drawn_icon(draw)


def fill_mask_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(round_pen(ink, 3))
        painter.setBrush(_mask_fill())
        painter.drawRoundedRect(QRectF(8, 8, 48, 48), 5, 5)

    return drawn_icon(draw)


def clear_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(QPen(ink, 3, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(8, 8, 48, 48), 5, 5)
        painter.setPen(round_pen(ink, 5))
        painter.drawLine(QPointF(22, 22), QPointF(42, 42))
        painter.drawLine(QPointF(42, 22), QPointF(22, 42))

    return drawn_icon(draw)


def invert_mask_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_mask_fill())
        painter.drawPie(QRectF(8, 8, 48, 48), 90 * 16, 180 * 16)
        painter.setPen(round_pen(ink, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QRectF(8, 8, 48, 48))
        painter.drawLine(QPointF(32, 8), QPointF(32, 56))

    return drawn_icon(draw)


def flatten_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(round_pen(ink, 3))
        painter.setBrush(QBrush(ink, Qt.BrushStyle.Dense5Pattern))
        sheet = [QPointF(6, 46), QPointF(32, 34), QPointF(58, 46), QPointF(32, 58)]
        painter.drawPolygon(sheet)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawLine(QPointF(32, 6), QPointF(32, 30))
        painter.drawPolyline([QPointF(22, 20), QPointF(32, 30), QPointF(42, 20)])

    return drawn_icon(draw)


def fit_icon() -> QIcon:
    def draw(painter: QPainter, ink: QColor) -> None:
        painter.setPen(round_pen(ink, 4))
        for x, y, dx, dy in ((8, 8, 1, 1), (56, 8, -1, 1), (8, 56, 1, -1), (56, 56, -1, -1)):
            painter.drawPolyline([QPointF(x, y + 14 * dy), QPointF(x, y), QPointF(x + 14 * dx, y)])

    return drawn_icon(draw)


def _draw_turn_arrow(painter: QPainter, ink: QColor, mirrored: bool) -> None:
    """A curved arrow turning back: undo (left) or, mirrored, redo."""
    if mirrored:
        painter.translate(ICON_UNITS, 0)
        painter.scale(-1, 1)
    painter.setPen(round_pen(ink, 6))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    curve = QPainterPath(QPointF(18, 26))
    curve.lineTo(QPointF(38, 26))
    curve.cubicTo(QPointF(62, 26), QPointF(62, 54), QPointF(38, 54))
    curve.lineTo(QPointF(26, 54))
    painter.drawPath(curve)
    painter.setPen(round_pen(ink, 3))
    painter.setBrush(ink)
    painter.drawPolygon([QPointF(6, 26), QPointF(22, 14), QPointF(22, 38)])


def undo_icon() -> QIcon:
    return drawn_icon(lambda p, ink: _draw_turn_arrow(p, ink, mirrored=False))


def redo_icon() -> QIcon:
    return drawn_icon(lambda p, ink: _draw_turn_arrow(p, ink, mirrored=True))

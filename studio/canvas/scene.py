"""What the view draws: the document's layers, a generation preview on top,
and the outline of the brush under the pointer."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from .document import CanvasDocument
from .layers import MASK_OPACITY, LayerName
from .sizing import Box

PIXEL_GRID_ZOOM = 2.0
CHECKER_SQUARE = 8  # screen pixels, whatever the zoom
CHECKER_LIGHT = QColor(255, 255, 255)
CHECKER_DARK = QColor(226, 226, 226)


def checker_brush() -> QBrush:
    tile = QPixmap(2 * CHECKER_SQUARE, 2 * CHECKER_SQUARE)
    tile.fill(CHECKER_LIGHT)
    painter = QPainter(tile)
    painter.fillRect(0, 0, CHECKER_SQUARE, CHECKER_SQUARE, CHECKER_DARK)
    painter.fillRect(CHECKER_SQUARE, CHECKER_SQUARE, CHECKER_SQUARE, CHECKER_SQUARE, CHECKER_DARK)
    painter.end()
    return QBrush(tile)


class DocumentItem(QGraphicsItem):
    """The layers at document coordinates (one scene unit = one pixel),
    repainting only the exposed part: a dab repaints a dab-sized patch."""

    def __init__(self, document: CanvasDocument) -> None:
        super().__init__()
        self._document = document
        self._checker = checker_brush()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def boundingRect(self) -> QRectF:
        return QRectF(self._document.rect())

    def document_resized(self) -> None:
        self.prepareGeometryChange()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        area = option.exposedRect.toAlignedRect() & self._document.rect()
        if area.isEmpty():
            return
        scale = painter.worldTransform().m11()
        checker = QBrush(self._checker)
        checker.setTransform(QTransform.fromScale(1 / scale, 1 / scale))
        painter.fillRect(area, checker)
        # Filtered up to 200 %, so odd zooms show no uneven pixel rows; beyond
        # that, pixels are shown as the crisp squares a pixel-peeper wants.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < PIXEL_GRID_ZOOM)
        document = self._document
        for name in (LayerName.IMAGE, LayerName.SKETCH, LayerName.MASK):
            if document.is_visible(name):
                painter.setOpacity(MASK_OPACITY if name == LayerName.MASK else 1.0)
                painter.drawImage(area, document.layer(name), area)
        painter.setOpacity(1.0)


class PreviewItem(QGraphicsItem):
    """A live generation preview over the layers, and a marching outline
    around the region being generated. Neither touches the layers."""

    def __init__(self, document: CanvasDocument) -> None:
        super().__init__()
        self._document = document
        self._image: QImage | None = None
        self._preview_box: Box | None = None
        self._busy_box: Box | None = None
        self._dash_offset = 0.0
        self._march = QTimer()
        self._march.setInterval(120)
        self._march.timeout.connect(self._step_march)

    def boundingRect(self) -> QRectF:
        # The outline's cosmetic pen may stick out by a pixel at any zoom.
        return QRectF(self._document.rect()).adjusted(-4, -4, 4, 4)

    def document_resized(self) -> None:
        self.prepareGeometryChange()

    def set_preview(self, image: QImage | None, region: Box | None) -> None:
        self._image = None if image is None or image.isNull() else image
        self._preview_box = region
        self.update()

    def set_busy(self, region: Box | None) -> None:
        self._busy_box = region
        if region is None:
            self._march.stop()
        else:
            self._march.start()
        self.update()

    @property
    def has_preview(self) -> bool:
        return self._image is not None

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self._rect(self._preview_box), self._image)
        if self._busy_box is not None:
            rect = self._rect(self._busy_box)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 200), 0))
            painter.drawRect(rect)
            ants = QPen(QColor(255, 255, 255), 0, Qt.PenStyle.CustomDashLine)
            ants.setDashPattern([4, 4])
            ants.setDashOffset(self._dash_offset)
            painter.setPen(ants)
            painter.drawRect(rect)

    def _rect(self, box: Box | None) -> QRectF:
        if box is None:
            return QRectF(self._document.rect())
        left, top, right, bottom = box
        return QRectF(left, top, right - left, bottom - top)

    def _step_march(self) -> None:
        self._dash_offset = (self._dash_offset + 1) % 8
        self.update()


class BrushOutline(QGraphicsItem):
    """The brush's footprint under the pointer: a black and a white circle,
    so it shows on any colour."""

    def __init__(self) -> None:
        super().__init__()
        self._diameter = 1.0
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_diameter(self, diameter: float) -> None:
        if diameter != self._diameter:
            self.prepareGeometryChange()
            self._diameter = diameter

    def boundingRect(self) -> QRectF:
        # Room for the cosmetic pens and the centre cross at any zoom.
        half = self._diameter / 2 + 2
        return QRectF(-half, -half, 2 * half, 2 * half)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        radius = self._diameter / 2
        scale = painter.worldTransform().m11()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for color, inset in ((QColor(0, 0, 0, 170), 0.0), (QColor(255, 255, 255, 220), 1.0)):
            painter.setPen(QPen(color, 0))
            r = max(0.5, radius - inset / scale)
            painter.drawEllipse(QPointF(0, 0), r, r)

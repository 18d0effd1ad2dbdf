"""The canvas view: shows a document, zooms and pans, and turns mouse and
tablet input into strokes with the active tool."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QTabletEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QWidget

from .actions import CanvasActions
from .document import CanvasDocument, CanvasStroke
from .errors import CanvasError
from .exchange import image_source, read_image
from .scene import BrushOutline, DocumentItem, PreviewItem
from .sizing import Box, Fit
from .tools import Tool, ToolSettings

MIN_ZOOM = 1 / 32
MAX_ZOOM = 32.0
ZOOM_STEP = 1.25  # Ctrl++ / Ctrl+-
WHEEL_ZOOM_PER_NOTCH = 1.2  # one 15° wheel notch; trackpads send fractions of one
FIT_MARGIN = 0.94  # fitted documents leave a little room around them
BACKGROUND = QColor(42, 43, 47)


class CanvasView(QGraphicsView):
    """Signals: `zoom_changed(float)`, `color_picked(QColor)`, and
    `error_occurred(str)` when a dropped or pasted file cannot be opened
    (a sentence for the user; the canvas is unchanged)."""

    zoom_changed = Signal(float)
    color_picked = Signal(QColor)
    error_occurred = Signal(str)

    def __init__(
        self,
        document: CanvasDocument | None = None,
        settings: ToolSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document or CanvasDocument(parent=self)
        self.settings = settings or ToolSettings(self)
        self.import_fit: Fit = "canvas"  # how dropped and pasted images are fitted

        self._scene = QGraphicsScene(self)
        self._document_item = DocumentItem(self.document)
        self._preview_item = PreviewItem(self.document)
        self._outline = BrushOutline()
        self._preview_item.setZValue(1)
        self._outline.setZValue(2)
        self._outline.hide()
        for item in (self._document_item, self._preview_item, self._outline):
            self._scene.addItem(item)
        self.setScene(self._scene)

        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(BACKGROUND)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        # The scene is repainted by exposed rects; never the whole viewport per dab.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)

        self._fitting = True  # refit on resize until the user zooms
        self._stroke: CanvasStroke | None = None
        self._panning_from: QPointF | None = None
        self._space_held = False
        self._picking = False
        self._pointer_inside = False  # the brush outline follows the pointer only
        self._last_point: QPointF | None = None  # where the last stroke ended, for Shift+click

        self.document.area_changed.connect(self._document_item.update)
        self.document.size_changed.connect(self._document_resized)
        self.settings.changed.connect(self._update_outline)
        self.canvas_actions = CanvasActions(self, parent=self)
        self._update_scene_rect()
        self._update_cursor()

    # -- zoom and pan ------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zooms keeping the document point under `anchor` (viewport
        coordinates; the centre by default) where it is."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.map_to_document(anchor)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._update_scene_rect()
        self._scroll_to_put(fixed, anchor)
        self._update_outline()
        self.zoom_changed.emit(zoom)

    def zoom_in(self) -> None:
        self._fitting = False
        self.set_zoom(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self._fitting = False
        self.set_zoom(self.zoom() / ZOOM_STEP)

    def actual_size(self) -> None:
        """100 %: one document pixel per screen pixel."""
        self._fitting = False
        self.set_zoom(1.0)

    def fit_to_window(self) -> None:
        """Shows the whole document, centred, as large as the window allows."""
        self._fitting = True
        viewport = self.viewport().rect()
        zoom = FIT_MARGIN * min(
            viewport.width() / self.document.width(), viewport.height() / self.document.height()
        )
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._update_scene_rect()
        self._scroll_to_put(
            QPointF(self.document.rect().center()) + QPointF(0.5, 0.5),
            QPointF(viewport.width() / 2, viewport.height() / 2),
        )
        self._update_outline()
        self.zoom_changed.emit(self.zoom())

    def map_to_document(self, position: QPointF) -> QPointF:
        """A viewport position in document pixel coordinates (not clipped)."""
        return self.viewportTransform().inverted()[0].map(QPointF(position))

    def map_from_document(self, point: QPointF) -> QPointF:
        return self.viewportTransform().map(QPointF(point))

    def _scroll_to_put(self, point: QPointF, at: QPointF) -> None:
        now = self.map_from_document(point)
        horizontal, vertical = self.horizontalScrollBar(), self.verticalScrollBar()
        horizontal.setValue(horizontal.value() + round(now.x() - at.x()))
        vertical.setValue(vertical.value() + round(now.y() - at.y()))

    def _update_scene_rect(self) -> None:
        # A margin of one viewport on every side lets the document be panned
        # to any edge and zoomed about any point.
        zoom = self.zoom()
        margin_x = self.viewport().width() / zoom
        margin_y = self.viewport().height() / zoom
        self.setSceneRect(
            QRectF(self.document.rect()).adjusted(-margin_x, -margin_y, margin_x, margin_y)
        )

    def _pan_by(self, delta: QPointF) -> None:
        horizontal, vertical = self.horizontalScrollBar(), self.verticalScrollBar()
        horizontal.setValue(horizontal.value() - round(delta.x()))
        vertical.setValue(vertical.value() - round(delta.y()))

    # -- preview ----------------------------------------------------------

    def set_preview(self, image: QImage | None, region: Box | None = None) -> None:
        """Shows a generation preview over the layers, scaled into region
        (left, top, right, bottom) or over the whole document; the layers
        are untouched. None removes it."""
        self._preview_item.set_preview(image, region)

    def clear_preview(self) -> None:
        self._preview_item.set_preview(None, None)

    def set_busy_region(self, region: Box | None) -> None:
        """Outlines the region being generated (None: no outline; pass the
        whole document's box for a full-canvas generation)."""
        self._preview_item.set_busy(region)

    def has_preview(self) -> bool:
        return self._preview_item.has_preview

    # -- clipboard and drops ------------------------------------------------

    def copy_to_clipboard(self) -> None:
        self.document.copy_to_clipboard()

    def paste_from_clipboard(self) -> None:
        try:
            if not self.document.paste_from_clipboard(self.import_fit):
                self.error_occurred.emit("The clipboard holds no image to paste.")
        except CanvasError as error:
            self.error_occurred.emit(str(error))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_source(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # the scene would refuse it otherwise
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        source = image_source(event.mimeData())
        if source is None:
            event.ignore()
            return
        event.acceptProposedAction()
        try:
            image = read_image(source) if isinstance(source, Path) else source
            self.document.set_image(image, self.import_fit)
        except CanvasError as error:
            self.error_occurred.emit(str(error))

    # -- input ------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._panning_from = event.position()
            self._update_cursor()
        elif button == Qt.MouseButton.LeftButton:
            point = self._pixel_centre(event.position())
            alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            if self.settings.tool == Tool.PICKER or alt:
                self._picking = True
                self._pick(point)
            elif shift and self._last_point is not None:
                # Shift+click: a straight line on from where the last stroke ended.
                self._begin_stroke(self._last_point, 1.0)
                self._stroke.add_point(point.x(), point.y(), 1.0)
            else:
                self._begin_stroke(point, 1.0)
            self._last_point = point
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._panning_from is not None:
            self._pan_by(event.position() - self._panning_from)
            self._panning_from = event.position()
        elif self._picking:
            self._pick(self._pixel_centre(event.position()))
        elif self._stroke is not None:
            point = self._pixel_centre(event.position())
            self._stroke.add_point(point.x(), point.y(), 1.0)
            self._last_point = point
        self._move_outline(self._pixel_centre(event.position()))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._panning_from is not None and event.button() == Qt.MouseButton.LeftButton
        ):
            self._panning_from = None
            self._update_cursor()
        elif event.button() == Qt.MouseButton.LeftButton:
            self._picking = False
            self._end_stroke()
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # A quick second click is a second dab, not a "double click".
        self.mousePressEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if isinstance(event, QTabletEvent) and self._tablet_event(event):
            return True
        if event.type() == QEvent.Type.Leave:
            self._pointer_inside = False
            self._outline.hide()
        return super().viewportEvent(event)

    def _tablet_event(self, event: QTabletEvent) -> bool:
        """Pen input with pressure; True when handled (no mouse event follows)."""
        if self.settings.tool == Tool.PICKER or self._space_held or self._panning_from:
            return False  # handled as the mouse events Qt makes from it
        point = self.map_to_document(event.position())
        kind = event.type()
        if kind == QEvent.Type.TabletPress and event.button() == Qt.MouseButton.LeftButton:
            self._begin_stroke(point, event.pressure())
            self._last_point = point
        elif kind == QEvent.Type.TabletMove and self._stroke is not None:
            self._stroke.add_point(point.x(), point.y(), event.pressure())
            self._last_point = point
        elif kind == QEvent.Type.TabletRelease and event.button() == Qt.MouseButton.LeftButton:
            self._end_stroke()
        self._move_outline(point)
        event.accept()
        return True

    def wheelEvent(self, event: QWheelEvent) -> None:
        # The wheel zooms about the pointer, with or without Ctrl (the
        # Ctrl+wheel habit from other programs works too).
        notches = event.angleDelta().y() / 120
        if notches:
            self._fitting = False
            self.set_zoom(self.zoom() * WHEEL_ZOOM_PER_NOTCH**notches, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self._update_cursor()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = False
                self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        # A key released elsewhere never reaches us: do not stay in pan mode.
        self._space_held = False
        self._update_cursor()
        super().focusOutEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitting:
            self.fit_to_window()
        else:
            self._update_scene_rect()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawBackground(painter, rect)
        # A soft shadow lifts the page off the background at any zoom.
        page = self.viewportTransform().mapRect(QRectF(self.document.rect()))
        painter.save()
        painter.resetTransform()
        painter.setPen(Qt.PenStyle.NoPen)
        for spread, alpha in ((6, 18), (4, 28), (2, 45), (1, 80)):
            painter.setBrush(QColor(0, 0, 0, alpha))
            painter.drawRect(page.adjusted(-spread, -spread + 2, spread, spread + 2))
        painter.restore()

    # -- helpers -----------------------------------------------------------

    def _pixel_centre(self, position: QPointF) -> QPointF:
        # A mouse position names a whole screen pixel; paint at its centre.
        return self.map_to_document(QPointF(position) + QPointF(0.5, 0.5))

    def _begin_stroke(self, point: QPointF, pressure: float) -> None:
        self._stroke = self.document.begin_stroke(self.settings.target, self.settings.brush_spec())
        self._stroke.add_point(point.x(), point.y(), pressure)

    def _end_stroke(self) -> None:
        if self._stroke is not None:
            self._stroke.finish()
            self._stroke = None

    def _pick(self, point: QPointF) -> None:
        x, y = int(point.x()), int(point.y())
        if self.document.rect().contains(x, y):
            color = self.document.color_at(x, y)
            self.settings.color = color
            self.color_picked.emit(color)

    def _move_outline(self, point: QPointF) -> None:
        self._pointer_inside = True
        self._outline.setPos(point)
        self._update_outline()

    def _update_outline(self) -> None:
        painting = self.settings.tool != Tool.PICKER and not self._space_held
        self._outline.set_diameter(self.settings.size)
        # Too small to read on screen: the cross cursor alone shows the spot.
        self._outline.setVisible(
            painting and self.settings.size * self.zoom() >= 4 and self._pointer_inside
        )
        self._update_cursor()

    def _update_cursor(self) -> None:
        if self._panning_from is not None:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._space_held:
            shape = Qt.CursorShape.OpenHandCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(shape)

    def _document_resized(self) -> None:
        self._last_point = None
        self._document_item.document_resized()
        self._preview_item.document_resized()
        self.fit_to_window()

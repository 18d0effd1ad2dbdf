"""The canvas document: its size, its three layers, and every edit, undoable.

It knows nothing of diffusion: the UI asks it for the images a generation
needs (see outputs.py) and hands results back with place_result()."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QPoint, QRect, QSize, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QUndoStack

from . import exchange, outputs, project
from .brush import BrushSpec
from .commands import DocumentState, LayerPatch, PatchCommand, StateCommand, VisibilityCommand
from .document_stroke import CanvasStroke, box_rect
from .fitting import canvas_image, fit_image
from .imageconv import ALPHA, blank_layer, pixels, read_pixels, to_qimage
from .layers import LAYER_ORDER, MASK_COLOR, LayerName, layer_name, mask_layer, mask_strength
from .sizing import DEFAULT_SIZE, Box, Fit, check_fit, check_size, clip_box
from .strokes import TilePatch

UNDO_LIMIT = 100


class CanvasDocument(QObject):
    """Signals: `area_changed(QRect)` fires for every repaint-worthy change,
    including each step of a stroke in progress; the per-layer signals and
    `changed` fire once per finished action (a whole stroke, an undo)."""

    changed = Signal()
    image_changed = Signal()
    sketch_changed = Signal()
    mask_changed = Signal()
    size_changed = Signal(QSize)
    area_changed = Signal(QRect)
    visibility_changed = Signal(str, bool)

    def __init__(
        self, width: int = DEFAULT_SIZE, height: int = DEFAULT_SIZE, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        check_size(width, height)
        self._width, self._height = width, height
        self._layers = _blank_layers(width, height)
        self._visible = dict.fromkeys(LAYER_ORDER, True)
        self._stroke: CanvasStroke | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)

    def undo(self) -> None:
        """Undoes the last action (ending a stroke in progress first)."""
        self.finish_stroke()
        self.undo_stack.undo()

    def redo(self) -> None:
        self.finish_stroke()
        self.undo_stack.redo()

    # -- geometry and layers -------------------------------------------------

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height

    def size(self) -> QSize:
        return QSize(self._width, self._height)

    def rect(self) -> QRect:
        return QRect(0, 0, self._width, self._height)

    def layer(self, name: str | LayerName) -> QImage:
        """The layer's live image, for drawing and reading. Edit it only
        through the document, or undo will not know."""
        return self._layers[layer_name(name)]

    def is_visible(self, name: str | LayerName) -> bool:
        return self._visible[layer_name(name)]

    def set_visible(self, name: str | LayerName, visible: bool, *, undoable: bool = False) -> None:
        """Shows or hides a layer. The user's own show/hide is not an undo step
        (as in most editors); `undoable` makes it one, for a change the app
        makes as part of an action (see single_step)."""
        name = layer_name(name)
        if self._visible[name] == visible:
            return
        if undoable:
            self.finish_stroke()
            self.undo_stack.push(VisibilityCommand(self, name, visible))
        else:
            self._show(name, visible)

    @contextmanager
    def single_step(self, text: str) -> Iterator[None]:
        """Every undoable edit inside the block is one undo step named `text`."""
        self.finish_stroke()
        self.undo_stack.beginMacro(text)
        try:
            yield
        finally:
            self.undo_stack.endMacro()

    def layer_has_content(self, name: str | LayerName) -> bool:
        return bool(read_pixels(self.layer(name))[:, :, ALPHA].any())

    # -- whole-document edits ------------------------------------------------

    def new(self, width: int = DEFAULT_SIZE, height: int = DEFAULT_SIZE) -> None:
        """An empty document (undoable, so a mistaken New loses nothing)."""
        check_size(width, height)
        self._push_state("New canvas", DocumentState(width, height, _blank_layers(width, height)))

    def reset(self, width: int = DEFAULT_SIZE, height: int = DEFAULT_SIZE) -> None:
        """Starts over: an empty document of this size with no undo history and
        nothing unsaved. For a document nobody has touched: nothing is lost."""
        check_size(width, height)
        self.finish_stroke()
        self.undo_stack.clear()
        self.restore_state(DocumentState(width, height, _blank_layers(width, height)))
        for name in LAYER_ORDER:
            self.set_visible(name, True)
        self.undo_stack.setClean()

    def open_as_new(self, source: str | Path | Image.Image | QImage) -> None:
        """A document holding only this picture (a file or an image), at its
        size within limits: empty sketch and mask, every layer shown. One
        undo step. See set_image to put a picture into the document instead."""
        if isinstance(source, str | Path):
            source = exchange.read_image(Path(source))
        picture = canvas_image(to_qimage(source))
        width, height = picture.width(), picture.height()
        layers = _blank_layers(width, height)
        layers[LayerName.IMAGE] = picture
        with self.single_step("Open image"):
            self._push_state("Open image", DocumentState(width, height, layers))
            for name in LAYER_ORDER:
                self.set_visible(name, True, undoable=True)

    def resize(self, width: int, height: int, fit: Fit = "resize") -> None:
        """Changes the document size, fitting every layer the same way."""
        check_size(width, height)
        check_fit(fit)
        layers = {
            name: fit_image(image, width, height, fit) for name, image in self._layers.items()
        }
        self._push_state("Resize canvas", DocumentState(width, height, layers))

    def set_image(self, image: Image.Image | QImage, fit: Fit = "canvas") -> None:
        """Puts an opened photo on the image layer.

        fit: "resize" stretches it to the document, "crop" scales it to cover
        the document and cuts the overflow, "canvas" gives the document the
        image's size (within limits; sketch and mask are scaled along)."""
        check_fit(fit)
        picture = to_qimage(image)
        width, height = self._width, self._height
        if fit == "canvas":
            picture = canvas_image(picture)
            width, height = picture.width(), picture.height()
        else:
            picture = fit_image(picture, width, height, fit)
        if (width, height) == (self._width, self._height):
            self._replace_region(LayerName.IMAGE, picture, QPoint(0, 0), "Open image")
            return
        layers = {
            name: fit_image(layer, width, height, "resize") for name, layer in self._layers.items()
        }
        layers[LayerName.IMAGE] = picture
        self._push_state("Open image", DocumentState(width, height, layers))

    def place_result(self, image: Image.Image | QImage, region: Box | None = None) -> None:
        """Puts a generated image on the image layer: over the whole document,
        or scaled into region = (left, top, right, bottom). Sketch and mask stay."""
        box = (0, 0, self._width, self._height) if region is None else region
        clipped = clip_box(box, self._width, self._height)
        if clipped is None:
            size = f"{self._width}×{self._height}"
            raise ValueError(f"the region {box} lies outside the {size} canvas")
        left, top, right, bottom = box
        picture = fit_image(to_qimage(image), right - left, bottom - top, "resize")
        target = box_rect(clipped)
        # Composite over what is there: a result with transparency keeps the image below.
        part = self._layers[LayerName.IMAGE].copy(target)
        painter = QPainter(part)
        painter.drawImage(left - target.left(), top - target.top(), picture)
        painter.end()
        self._replace_region(LayerName.IMAGE, part, target.topLeft(), "Place result")

    # -- layer edits ---------------------------------------------------------

    def clear_layer(self, name: str | LayerName) -> None:
        name = layer_name(name)
        self._replace_region(
            name, blank_layer(self._width, self._height), QPoint(0, 0), f"Clear {name.value}"
        )

    def fill_mask(self) -> None:
        full = blank_layer(self._width, self._height)
        full.fill(MASK_COLOR)
        self._replace_region(LayerName.MASK, full, QPoint(0, 0), "Fill mask")

    def invert_mask(self) -> None:
        self._set_mask_strength(255 - mask_strength(self._layers[LayerName.MASK]), "Invert mask")

    def set_mask(self, mask: Image.Image) -> None:
        """Replaces the mask with a single-channel image (white = change)."""
        mask = mask.convert("L")
        if mask.size != (self._width, self._height):
            mask = mask.resize((self._width, self._height), Image.Resampling.BILINEAR)
        self._set_mask_strength(np.asarray(mask, np.uint8), "Set mask")

    def flatten_sketch(self) -> None:
        """Paints the sketch into the image layer and empties the sketch: one undo step."""
        image = self._layers[LayerName.IMAGE].copy()
        painter = QPainter(image)
        painter.drawImage(0, 0, self._layers[LayerName.SKETCH])
        painter.end()
        self._push_patches(
            "Flatten sketch",
            [
                self._full_patch(LayerName.IMAGE, image),
                self._full_patch(LayerName.SKETCH, blank_layer(self._width, self._height)),
            ],
        )

    def begin_stroke(self, name: str | LayerName, spec: BrushSpec) -> CanvasStroke:
        """Starts a stroke on the sketch or the mask; add points, then finish()."""
        name = layer_name(name)
        if name == LayerName.MASK:
            # Mask pixels always carry the mask colour; only their alpha counts.
            spec = BrushSpec(
                spec.size,
                spec.hardness,
                spec.opacity,
                MASK_COLOR.getRgb()[:3],
                spec.erase,
                spec.pressure_size,
            )
        self.finish_stroke()
        self._stroke = CanvasStroke(self, name, spec)
        return self._stroke

    def finish_stroke(self) -> None:
        """Ends a stroke in progress, if any (an edit during a stroke ends it first)."""
        if self._stroke is not None:
            self._stroke.finish()

    def color_at(self, x: int, y: int) -> QColor:
        """The colour the user sees at (x, y) without the mask overlay."""
        return outputs.color_at(self, x, y)

    # -- what a generation needs (see outputs.py) ----------------------------

    def init_image(self) -> Image.Image:
        return outputs.init_image(self)

    def composed_image(self, transparent: bool = False) -> Image.Image:
        return outputs.composed_image(self, transparent)

    def sketch_image(self) -> Image.Image:
        return outputs.sketch_image(self)

    def mask_image(self, feather: int = 0, grow: int = 0) -> Image.Image:
        return outputs.mask_image(self, feather, grow)

    def mask_bbox(self, padding: int = 0, feather: int = 0, grow: int = 0) -> Box | None:
        return outputs.mask_bbox(self, padding, feather, grow)

    def has_mask(self) -> bool:
        return self.layer_has_content(LayerName.MASK)

    # -- files and clipboard (see project.py, exchange.py) --------------------

    def save_project(self, path: str | Path) -> None:
        project.save_project(self, Path(path))
        self.undo_stack.setClean()

    def load_project(self, path: str | Path) -> None:
        """Replaces the document with a saved one; raises ProjectError, leaving
        the document as it was, when the file cannot be read."""
        contents = project.load_project(Path(path))
        self.finish_stroke()
        self.undo_stack.clear()
        self.restore_state(DocumentState(contents.width, contents.height, contents.layers))
        for name, visible in contents.visible.items():
            self.set_visible(name, visible)
        self.undo_stack.setClean()

    def open_image(self, path: str | Path, fit: Fit = "canvas") -> None:
        self.set_image(exchange.read_image(Path(path)), fit)

    def export_composed(self, path: str | Path) -> None:
        exchange.write_image(self.composed_image(transparent=True), Path(path))

    def export_mask(self, path: str | Path, feather: int = 0, grow: int = 0) -> None:
        exchange.write_image(self.mask_image(feather, grow), Path(path))

    def export_sketch(self, path: str | Path) -> None:
        exchange.write_image(self.sketch_image(), Path(path))

    def copy_to_clipboard(self) -> None:
        exchange.copy_image(self.composed_image(transparent=True))

    def paste_from_clipboard(self, fit: Fit = "canvas") -> bool:
        """Opens the clipboard's image; False when it holds none."""
        image = exchange.clipboard_image()
        if image is None:
            return False
        self.set_image(image, fit)
        return True

    # -- writes for undo commands and strokes (see commands.py) --------------
    # None of these is an undo step: the command or stroke calling it is.

    def write_pixels(self, name: LayerName, left: int, top: int, values: np.ndarray) -> None:
        """Puts an array of premultiplied BGRA pixels into a layer at (left, top)."""
        height, width = values.shape[:2]
        pixels(self._layers[name])[top : top + height, left : left + width] = values
        self.area_changed.emit(QRect(left, top, width, height))

    def restore_state(self, state: DocumentState) -> None:
        """Makes the document that state: its size and every layer."""
        resized = (state.width, state.height) != (self._width, self._height)
        self._width, self._height = state.width, state.height
        # Shallow copies: the state keeps its pixels when the layers are painted.
        self._layers = {name: QImage(image) for name, image in state.layers.items()}
        if resized:
            self.size_changed.emit(self.size())
        self.area_changed.emit(self.rect())
        self.announce_layers(LAYER_ORDER)

    def announce_layers(self, names: Iterable[LayerName]) -> None:
        """Says that an action on these layers has finished: their signals, then `changed`."""
        signals = {
            LayerName.IMAGE: self.image_changed,
            LayerName.SKETCH: self.sketch_changed,
            LayerName.MASK: self.mask_changed,
        }
        names = set(names)
        for name in LAYER_ORDER:
            if name in names:
                signals[name].emit()
        self.changed.emit()

    def area_painted(self, area: QRect) -> None:
        """A stroke in progress painted this area."""
        self.area_changed.emit(area)

    def stroke_finished(self, stroke: CanvasStroke, patches: list[LayerPatch]) -> None:
        """A stroke has ended: its patches become one undo step."""
        if self._stroke is stroke:
            self._stroke = None
        if patches:
            command = PatchCommand(self, stroke.text, patches, already_applied=True)
            self.undo_stack.push(command)

    # -- internals ----------------------------------------------------------

    def _replace_region(self, name: LayerName, image: QImage, at: QPoint, text: str) -> None:
        left, top, width, height = at.x(), at.y(), image.width(), image.height()
        after = read_pixels(to_qimage(image)).copy()
        before = read_pixels(self._layers[name])[top : top + height, left : left + width].copy()
        patch = TilePatch(left, top, before, after)
        self._push_patches(text, [LayerPatch(name, patch)])

    def _full_patch(self, name: LayerName, image: QImage) -> LayerPatch:
        before = read_pixels(self._layers[name]).copy()
        return LayerPatch(name, TilePatch(0, 0, before, read_pixels(image).copy()))

    def _set_mask_strength(self, strength: np.ndarray, text: str) -> None:
        self._push_patches(text, [self._full_patch(LayerName.MASK, mask_layer(strength))])

    def _push_patches(self, text: str, patches: list[LayerPatch]) -> None:
        self.finish_stroke()
        self.undo_stack.push(PatchCommand(self, text, patches))

    def _push_state(self, text: str, after: DocumentState) -> None:
        self.finish_stroke()
        before = DocumentState(self._width, self._height, dict(self._layers))
        self.undo_stack.push(StateCommand(self, text, before, after))

    def _show(self, name: LayerName, visible: bool) -> None:
        self._visible[name] = visible
        self.visibility_changed.emit(name.value, visible)
        self.area_changed.emit(self.rect())


def _blank_layers(width: int, height: int) -> dict[LayerName, QImage]:
    return {name: blank_layer(width, height) for name in LAYER_ORDER}

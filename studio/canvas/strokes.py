"""One brush stroke painted into a layer's pixels, incrementally.

Dabs are combined into a stroke coverage map with max(), not piled on top of
each other, so a stroke at 40 % opacity is 40 % everywhere however often it
crosses itself (like paint, not like a marker). The layer is recomposed from
its pre-stroke pixels only where new dabs landed (numpy for the coverage,
QPainter's SIMD blending for the pixels), and those pixels are saved tile by
tile the first time the stroke reaches them: the undo command stores just
what the stroke covered, and a long stroke on a 2048² layer costs what a
short one costs per mouse event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QColor, QImage, QPainter

from .brush import BrushSpec, Dab, DabPath, make_dab
from .imageconv import LAYER_FORMAT, pixels

TILE = 128
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class TilePatch:
    """Before/after pixels of one rectangle of a layer (BGRA, premultiplied)."""

    left: int
    top: int
    before: np.ndarray
    after: np.ndarray


class Stroke:
    """Paints a stroke into the layer image `layer_of()` returns.

    `layer_of` is asked again for every edit, so the document may replace
    the layer's QImage object meanwhile (its size must stay)."""

    def __init__(self, layer_of: Callable[[], QImage], spec: BrushSpec) -> None:
        self._layer_of = layer_of
        self.spec = spec
        height, width = layer_of().height(), layer_of().width()
        self._size = (width, height)
        # np.zeros / np.empty only reserve memory: untouched pages cost nothing.
        self._coverage = np.zeros((height, width), np.float32)
        self._before = np.empty((height, width, 4), np.uint8)
        self._saved = np.zeros((-(-height // TILE), -(-width // TILE)), bool)
        self._path = DabPath(spec)
        self._last_point: tuple[float, float, float] | None = None
        self._color = QColor(*spec.color)

    def add_point(self, x: float, y: float, pressure: float = 1.0) -> Box | None:
        """Paints up to (x, y); returns the changed box, or None if nothing changed."""
        self._last_point = (x, y, pressure)
        centres = self._path.add(x, y, pressure)
        return self._paint_dabs(centres)

    def end(self) -> Box | None:
        """Paints the stroke's last point, which dab spacing may have skipped."""
        if self._last_point is None:
            return None
        # Dabs combine with max(), so one more at the end never darkens.
        return self._paint_dabs([self._last_point])

    def patches(self) -> list[TilePatch]:
        """The tiles the stroke changed, before and after; call once, at the end."""
        layer_pixels = pixels(self._layer_of())
        patches = []
        for row, column in zip(*np.nonzero(self._saved), strict=True):
            tile_top, tile_left = int(row) * TILE, int(column) * TILE
            tile = (slice(tile_top, tile_top + TILE), slice(tile_left, tile_left + TILE))
            # Only the part of the tile the stroke covered: a thin line keeps a thin strip.
            covered = self._coverage[tile] > 0
            rows, columns = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
            if rows.size == 0:
                continue
            top, left = tile_top + int(rows[0]), tile_left + int(columns[0])
            region = (
                slice(top, tile_top + int(rows[-1]) + 1),
                slice(left, tile_left + int(columns[-1]) + 1),
            )
            before, after = self._before[region], layer_pixels[region]
            if not np.array_equal(before, after):
                patches.append(TilePatch(left, top, before.copy(), after.copy()))
        self._coverage = self._before = np.empty((0, 0))
        return patches

    def _paint_dabs(self, centres: list[tuple[float, float, float]]) -> Box | None:
        changed: Box | None = None
        pending: Box | None = None
        for x, y, pressure in centres:
            radius = self.spec.radius(pressure)
            dab = self._clipped(make_dab(x, y, radius, self.spec.hardness))
            if dab is None:
                continue
            self._add_coverage(dab)
            # Recompose nearby dabs together, but in boxes a few dabs wide: the
            # box around a long diagonal segment would be mostly untouched.
            merged = _union(pending, dab.box)
            limit = max(96.0, 6 * radius)
            if pending is not None and max(_sides(merged)) > limit:
                self._compose(pending)
                merged = dab.box
            pending = merged
            changed = _union(changed, dab.box)
        if pending is not None:
            self._compose(pending)
        return changed

    def _clipped(self, dab: Dab) -> Dab | None:
        width, height = self._size
        left, top, right, bottom = dab.box
        cl, ct = max(0, left), max(0, top)
        cr, cb = min(width, right), min(height, bottom)
        if cr <= cl or cb <= ct:
            return None
        alpha = dab.alpha[ct - top : cb - top, cl - left : cr - left]
        return Dab(cl, ct, alpha)

    def _add_coverage(self, dab: Dab) -> None:
        left, top, right, bottom = dab.box
        target = self._coverage[top:bottom, left:right]
        np.maximum(target, dab.alpha, out=target)

    def _save_tiles(self, box: Box) -> None:
        left, top, right, bottom = box
        rows = slice(top // TILE, (bottom - 1) // TILE + 1)
        columns = slice(left // TILE, (right - 1) // TILE + 1)
        unsaved = ~self._saved[rows, columns]
        if not unsaved.any():
            return
        layer_pixels = pixels(self._layer_of())
        for row, column in zip(*np.nonzero(unsaved), strict=True):
            tile_top = (rows.start + int(row)) * TILE
            tile_left = (columns.start + int(column)) * TILE
            region = (slice(tile_top, tile_top + TILE), slice(tile_left, tile_left + TILE))
            self._before[region] = layer_pixels[region]
        self._saved[rows, columns] = True

    def _compose(self, box: Box) -> None:
        self._save_tiles(box)
        left, top, right, bottom = box
        width, height = right - left, bottom - top
        region = (slice(top, bottom), slice(left, right))
        # The stroke's alpha here as an 8-bit image (rows padded to 4 bytes, as
        # QImage wants), tinted with the colour by QPainter, not numpy.
        stride = -(-width // 4) * 4
        alpha = np.zeros((height, stride), np.uint8)
        alpha[:, :width] = self._coverage[region] * np.float32(255 * self.spec.opacity) + 0.5
        paint = QImage(alpha.data, width, height, stride, QImage.Format.Format_Alpha8)
        paint = paint.convertToFormat(LAYER_FORMAT)  # black, with the stroke's alpha
        layer = self._layer_of()
        pixels(layer)[region] = self._before[region]
        painter = QPainter()
        if not self.spec.erase:
            painter.begin(paint)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
            painter.fillRect(paint.rect(), self._color)
            painter.end()
        painter.begin(layer)
        painter.setCompositionMode(
            QPainter.CompositionMode.CompositionMode_DestinationOut
            if self.spec.erase
            else QPainter.CompositionMode.CompositionMode_SourceOver
        )
        painter.drawImage(left, top, paint)
        painter.end()


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _sides(box: Box) -> tuple[int, int]:
    return box[2] - box[0], box[3] - box[1]

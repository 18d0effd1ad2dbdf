"""Mask arithmetic on single-channel arrays (255 = change): grow, feather, bounds.

Pure numpy / PIL so it can be tested without a canvas."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageChops, ImageFilter

Box = tuple[int, int, int, int]


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask grown outwards by `pixels` (shrunk for a negative value).

    A square neighbourhood, computed separably with O(log n) array operations
    per axis, so even a large grow on a 2048² mask takes milliseconds."""
    if pixels == 0:
        return mask.copy()
    op = np.maximum if pixels > 0 else np.minimum
    radius = abs(pixels)
    return _extreme_1d(_extreme_1d(mask, radius, 0, op), radius, 1, op)


def _extreme_1d(
    values: np.ndarray, radius: int, axis: int, op: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """op (max or min) over a window of 2*radius+1 along one axis."""
    window = 2 * radius + 1
    count = values.shape[axis]
    padding = [(0, 0)] * values.ndim
    padding[axis] = (radius, radius)
    # Repeating the edge keeps a mask that touches the border touching it when shrunk.
    current = np.pad(values, padding, mode="edge")

    def part(array: np.ndarray, start: int, length: int) -> np.ndarray:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, start + length)
        return array[tuple(index)]

    # Doubling: after each pass current[i] is op over `span` consecutive values.
    span = 1
    while span * 2 <= window:
        length = current.shape[axis] - span
        current = op(part(current, 0, length), part(current, span, length))
        span *= 2
    # Two overlapping spans cover the whole window.
    return op(part(current, 0, count), part(current, window - span, count))


def feather(mask: Image.Image, radius: int) -> Image.Image:
    """A soft-edged copy of a single-channel mask that fades out over about
    `radius` pixels beyond the painted edge; painted pixels stay fully white,
    so everything the user painted is still changed completely."""
    mask = mask.convert("L")
    if radius <= 0:
        return mask
    return ImageChops.lighter(mask.filter(ImageFilter.GaussianBlur(radius / 2)), mask)


def bounding_box(mask: np.ndarray, padding: int = 0) -> Box | None:
    """(left, top, right, bottom) around the non-zero pixels plus padding,
    clipped to the mask; None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(mask.any(axis=0))
    height, width = mask.shape
    padding = max(0, padding)
    return (
        max(0, int(columns[0]) - padding),
        max(0, int(rows[0]) - padding),
        min(width, int(columns[-1]) + 1 + padding),
        min(height, int(rows[-1]) + 1 + padding),
    )

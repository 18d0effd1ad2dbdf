"""The document's three layers, bottom to top, and how they look."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

import numpy as np
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QColor, QImage

from .imageconv import ALPHA, blank_layer, pixels, read_pixels


class LayerName(StrEnum):
    IMAGE = "image"  # an opened photo or a generated result
    SKETCH = "sketch"  # what the user paints: img2img input, ControlNet source
    MASK = "mask"  # where inpainting may change the image; alpha = strength


LAYER_ORDER: tuple[LayerName, ...] = (LayerName.IMAGE, LayerName.SKETCH, LayerName.MASK)

# The mask layer's pixels are always this colour; only their alpha carries the
# mask. The view draws the whole layer at MASK_OPACITY, so a painted area
# reads as a translucent red film whatever the brush opacity was.
MASK_COLOR = QColor(235, 30, 45)
MASK_OPACITY = 0.45

# What transparent parts of the image and sketch become in flattened output.
PAPER_COLOR = QColor(255, 255, 255)


class LayerSource(Protocol):
    """What reading a document's layers needs (outputs, the project file):
    a CanvasDocument is one; helpers take this so they need not import it."""

    def width(self) -> int: ...

    def height(self) -> int: ...

    def size(self) -> QSize: ...

    def rect(self) -> QRect: ...

    def layer(self, name: str | LayerName) -> QImage: ...

    def is_visible(self, name: str | LayerName) -> bool: ...


def layer_name(name: str | LayerName) -> LayerName:
    """The LayerName for a string, or a ValueError that lists the valid names."""
    try:
        return LayerName(name)
    except ValueError:
        valid = ", ".join(layer.value for layer in LAYER_ORDER)
        raise ValueError(f"there is no layer {name!r}; the layers are {valid}") from None


def mask_layer(strength: np.ndarray) -> QImage:
    """A mask layer from a (height, width) uint8 array, 255 = change."""
    height, width = strength.shape
    layer = blank_layer(width, height)
    colour = np.array([MASK_COLOR.blue(), MASK_COLOR.green(), MASK_COLOR.red(), 255], np.uint16)
    premultiplied = (strength[:, :, None].astype(np.uint16) * colour + 127) // 255
    pixels(layer)[:] = premultiplied.astype(np.uint8)
    return layer


def mask_strength(layer: QImage) -> np.ndarray:
    """A copy of a mask layer's strength (its alpha), 255 = change."""
    return read_pixels(layer)[:, :, ALPHA].copy()

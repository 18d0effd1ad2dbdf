"""Conversions between QImage, PIL images and numpy pixel arrays.

Layers are QImages in Format_ARGB32_Premultiplied, the format QPainter draws
fastest. In memory each pixel is a native-endian 32-bit 0xAARRGGBB word, so on
the little-endian machines we ship for the bytes run B, G, R, A.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

LAYER_FORMAT = QImage.Format.Format_ARGB32_Premultiplied

if sys.byteorder != "little":  # pragma: no cover - no big-endian desktop targets
    raise ImportError("the canvas expects a little-endian machine (BGRA pixel bytes)")

# Channel indices in a layer's pixel array.
BLUE, GREEN, RED, ALPHA = 0, 1, 2, 3


def to_qimage(image: Image.Image | QImage) -> QImage:
    """A layer-format copy of a PIL image or QImage (never shares pixels)."""
    if isinstance(image, QImage):
        if image.isNull():
            raise ValueError("the image is empty")
        return image.convertToFormat(LAYER_FORMAT).copy()
    rgba = image.convert("RGBA")
    data = rgba.tobytes()
    wrapped = QImage(data, rgba.width, rgba.height, 4 * rgba.width, QImage.Format.Format_RGBA8888)
    # convertToFormat copies, so the result owns its pixels once `data` is gone.
    return wrapped.convertToFormat(LAYER_FORMAT)


def to_pil(image: QImage) -> Image.Image:
    """An RGBA PIL copy of a QImage (straight, not premultiplied, alpha)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = bytes(rgba.constBits())
    size = (rgba.width(), rgba.height())
    return Image.frombuffer("RGBA", size, data, "raw", "RGBA", rgba.bytesPerLine(), 1).copy()


def pixels(image: QImage) -> np.ndarray:
    """A writable (height, width, 4) BGRA view of a layer's own pixels.

    The view is only valid while `image` is alive and unchanged in size; take a
    fresh one for each edit rather than keeping it."""
    # bits() (not constBits) detaches the image from any shallow copy first, so
    # snapshots held by undo commands are never written through this view.
    return _view(image, image.bits())


def read_pixels(image: QImage) -> np.ndarray:
    """A read-only (height, width, 4) BGRA view; never copies the image."""
    return _view(image, image.constBits())


class _ImagePixels:
    """Hands numpy an image's pixel buffer while keeping the QImage alive:
    PySide's bits() memoryview does not, so a view of a temporary image
    would otherwise read freed memory."""

    def __init__(self, image: QImage, flat: np.ndarray) -> None:
        self.image = image
        self.__array_interface__ = flat.__array_interface__


def _view(image: QImage, buffer) -> np.ndarray:
    if image.format() != LAYER_FORMAT:
        raise ValueError(f"expected a layer-format image, got {image.format()}")
    flat = np.asarray(_ImagePixels(image, np.frombuffer(buffer, dtype=np.uint8)))
    return flat.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()]


def blank_layer(width: int, height: int) -> QImage:
    image = QImage(width, height, LAYER_FORMAT)
    image.fill(0)
    return image


def alpha(image: QImage) -> np.ndarray:
    """A (height, width) uint8 copy of a layer's alpha channel."""
    return read_pixels(image)[:, :, ALPHA].copy()

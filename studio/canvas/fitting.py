"""Fitting an image to a size: stretched, cropped to cover, or placed as is."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter

from .imageconv import blank_layer, to_qimage
from .sizing import MAX_SIZE, Fit, canvas_size_for, cover_box


def fit_image(image: QImage, width: int, height: int, fit: Fit) -> QImage:
    """`image` made width×height: stretched ("resize"), scaled to cover and
    centre-cropped ("crop"), or placed unscaled in the centre ("canvas")."""
    if fit == "canvas":
        result = blank_layer(width, height)
        painter = QPainter(result)
        # Centred; an odd leftover pixel goes to the right / bottom.
        left, top = -((image.width() - width) // 2), -((image.height() - height) // 2)
        painter.drawImage(left, top, image)
        painter.end()
        return result
    if fit == "crop":
        left, top, right, bottom = cover_box(image.width(), image.height(), width, height)
        image = image.copy(QRect(left, top, right - left, bottom - top))
    if image.size() == QSize(width, height):
        return to_qimage(image)
    return to_qimage(_smooth_scaled(image, width, height))


def canvas_image(image: QImage) -> QImage:
    """An opened image as a whole document: its own size, scaled down to fit
    MAX_SIZE if needed, with the few pixels beyond a multiple of 8 trimmed
    (not resampled) from its edges."""
    width, height = canvas_size_for(image.width(), image.height())
    scale = min(1.0, MAX_SIZE / max(image.width(), image.height()))
    if scale < 1:
        image = _smooth_scaled(image, round(image.width() * scale), round(image.height() * scale))
    return fit_image(image, width, height, "canvas")


def _smooth_scaled(image: QImage, width: int, height: int) -> QImage:
    return image.scaled(
        width,
        height,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )

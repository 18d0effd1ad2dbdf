"""The images the canvas produces on demand, as PIL images.

Hidden image or sketch layers are left out of the composed and init images,
as they are left out of what the user sees. The mask is always the mask:
hiding its overlay only hides the colour, not the mask."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QColor, QImage, QPainter

from . import masks
from .imageconv import ALPHA, BLUE, GREEN, RED, read_pixels, to_pil
from .layers import PAPER_COLOR, LayerName, LayerSource, mask_strength
from .sizing import Box


def composed_image(document: LayerSource, transparent: bool = False) -> Image.Image:
    """The visible image and sketch layers: RGB on white paper, or RGBA."""
    result = QImage(document.size(), QImage.Format.Format_ARGB32_Premultiplied)
    result.fill(0 if transparent else PAPER_COLOR)
    painter = QPainter(result)
    for name in (LayerName.IMAGE, LayerName.SKETCH):
        if document.is_visible(name):
            painter.drawImage(0, 0, document.layer(name))
    painter.end()
    image = to_pil(result)
    return image if transparent else image.convert("RGB")


def init_image(document: LayerSource) -> Image.Image:
    """The img2img / inpainting source: the image with the sketch painted on."""
    return composed_image(document)


def sketch_image(document: LayerSource) -> Image.Image:
    """The sketch alone, RGBA, transparent where nothing is painted."""
    return to_pil(document.layer(LayerName.SKETCH))


def mask_image(document: LayerSource, feather: int = 0, grow: int = 0) -> Image.Image:
    """The mask as an "L" image, white = change: grown (or shrunk, for a
    negative grow) by `grow` pixels, then softened over `feather` pixels."""
    strength = masks.grow(mask_strength(document.layer(LayerName.MASK)), grow)
    return masks.feather(Image.fromarray(strength, "L"), feather)


def mask_bbox(
    document: LayerSource, padding: int = 0, feather: int = 0, grow: int = 0
) -> Box | None:
    """The box around everything the (grown, feathered) mask touches plus
    padding, clipped to the canvas; None when nothing is masked."""
    mask = mask_image(document, feather, grow)
    return masks.bounding_box(np.asarray(mask), padding)


def color_at(document: LayerSource, x: int, y: int) -> QColor:
    """The colour of the composed image at one pixel (what a picker picks)."""
    if not document.rect().contains(x, y):
        raise ValueError(f"({x}, {y}) lies outside the canvas")
    # Premultiplied source-over of the visible layers onto paper.
    paper = PAPER_COLOR
    result = np.array([paper.blue(), paper.green(), paper.red()], np.float32)
    for name in (LayerName.IMAGE, LayerName.SKETCH):
        if document.is_visible(name):
            pixel = read_pixels(document.layer(name))[y, x].astype(np.float32)
            result = pixel[[BLUE, GREEN, RED]] + result * (1 - pixel[ALPHA] / 255)
    blue, green, red = (int(v + 0.5) for v in result)
    return QColor(red, green, blue)

"""Mask arithmetic for inpainting: feathering, the masked region, pasting back."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

from .request import SIZE_MULTIPLE


def feather(mask: Image.Image, radius: int) -> Image.Image:
    """A soft-edged copy of a single-channel mask (white = change)."""
    mask = mask.convert("L")
    if radius <= 0:
        return mask
    # Blur spreads the mask outwards; taking the lighter of both keeps the
    # painted area fully white so it is regenerated completely.
    return ImageChops.lighter(mask.filter(ImageFilter.GaussianBlur(radius / 2)), mask)


def mask_bbox(mask: Image.Image, padding: int) -> tuple[int, int, int, int] | None:
    """The bounding box of the painted pixels plus padding, clipped to the image."""
    box = mask.point(lambda v: 255 if v > 0 else 0).getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    width, height = mask.size
    return (
        max(0, left - padding),
        max(0, top - padding),
        min(width, right + padding),
        min(height, bottom + padding),
    )


def region_size(box: tuple[int, int, int, int], native: int) -> tuple[int, int]:
    """The size to generate a crop at: the model's native area, the crop's aspect."""
    w, h = box[2] - box[0], box[3] - box[1]
    scale = (native * native / (w * h)) ** 0.5
    snap = lambda v: max(SIZE_MULTIPLE * 8, round(v * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)  # noqa: E731
    return snap(w), snap(h)


def composite(original: Image.Image, generated: Image.Image, soft_mask: Image.Image) -> Image.Image:
    """The generated pixels where the mask is painted, the original elsewhere —
    pixel-identical wherever the (feathered) mask is 0."""
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), soft_mask)

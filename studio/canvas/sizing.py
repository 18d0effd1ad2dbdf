"""Document sizes and how an imported image is fitted to one. Pure functions."""

from __future__ import annotations

from typing import Literal

SIZE_MULTIPLE = 8
MIN_SIZE = 8
MAX_SIZE = 2048
DEFAULT_SIZE = 512

Fit = Literal["resize", "crop", "canvas"]
FITS: tuple[Fit, ...] = ("resize", "crop", "canvas")
Box = tuple[int, int, int, int]


def check_size(width: int, height: int) -> None:
    """Raises ValueError with a sentence unless both sides are valid document sides."""
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIZE <= side <= MAX_SIZE or side % SIZE_MULTIPLE:
            raise ValueError(
                f"The canvas {name} must be a multiple of {SIZE_MULTIPLE} "
                f"between {MIN_SIZE} and {MAX_SIZE}; got {side}."
            )


def check_fit(fit: str) -> None:
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}; got {fit!r}")


def canvas_size_for(width: int, height: int) -> tuple[int, int]:
    """The document size an image of this size opens at: the image's own size,
    scaled down to fit MAX_SIZE and then trimmed to multiples of SIZE_MULTIPLE."""
    if width <= 0 or height <= 0:
        raise ValueError(f"an image must have a positive size, got {width}×{height}")
    scale = min(1.0, MAX_SIZE / max(width, height))
    return _snap_down(width * scale), _snap_down(height * scale)


def _snap_down(side: float) -> int:
    return max(MIN_SIZE, int(side + 1e-6) // SIZE_MULTIPLE * SIZE_MULTIPLE)


def cover_box(width: int, height: int, target_width: int, target_height: int) -> Box:
    """The centred crop of a width×height image with the target's aspect ratio:
    scaled to the target it covers it exactly, cutting what sticks out."""
    target_aspect = target_width / target_height
    if width / height > target_aspect:  # wider: cut the sides
        crop_width = max(1, round(height * target_aspect))
        left = (width - crop_width) // 2
        return left, 0, left + crop_width, height
    crop_height = max(1, round(width / target_aspect))
    top = (height - crop_height) // 2
    return 0, top, width, top + crop_height


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """The part of `box` inside a width×height document, or None if nothing is."""
    left, top, right, bottom = box
    left, top = max(0, left), max(0, top)
    right, bottom = min(width, right), min(height, bottom)
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom

"""Mask arithmetic and document sizing: pure functions, checked against
slow obvious versions and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.canvas import masks, sizing


def _naive_grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    op = np.max if pixels > 0 else np.min
    r = abs(pixels)
    padded = np.pad(mask, r, mode="edge")
    out = np.empty_like(mask)
    for y in range(mask.shape[0]):
        for x in range(mask.shape[1]):
            out[y, x] = op(padded[y : y + 2 * r + 1, x : x + 2 * r + 1])
    return out


@pytest.mark.parametrize("pixels", [1, 2, 3, 5, 8, -1, -3, 0])
def test_grow_matches_a_square_neighbourhood(pixels):
    rng = np.random.default_rng(pixels + 10)
    mask = (rng.random((23, 31)) > 0.93).astype(np.uint8) * rng.integers(1, 256, (23, 31)).astype(
        np.uint8
    )
    if pixels < 0:
        mask = 255 - mask
    assert np.array_equal(masks.grow(mask, pixels), _naive_grow(mask, pixels))


def test_grow_by_more_than_the_mask_covers_everything():
    mask = np.zeros((16, 16), np.uint8)
    mask[8, 8] = 255
    assert masks.grow(mask, 40).min() == 255


def test_feather_keeps_the_painted_area_white_and_fades_outside():
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    soft = np.asarray(masks.feather(Image.fromarray(mask), 8))
    assert soft[16:48, 16:48].min() == 255
    assert 0 < soft[32, 14] < 255  # just outside the edge: partly changed
    assert soft[32, 13] < soft[32, 15]  # fading outwards
    assert soft[32, 0] == 0 and soft[0, 0] == 0  # far away: untouched
    assert np.array_equal(np.asarray(masks.feather(Image.fromarray(mask), 0)), mask)


@pytest.mark.parametrize(
    ("padding", "expected"),
    [(0, (10, 20, 31, 41)), (5, (5, 15, 36, 46)), (50, (0, 0, 64, 64))],
)
def test_bounding_box_with_padding_is_clipped_to_the_mask(padding, expected):
    mask = np.zeros((64, 64), np.uint8)
    mask[20:41, 10:31] = 1
    assert masks.bounding_box(mask, padding) == expected


def test_bounding_box_of_an_empty_mask_is_none():
    assert masks.bounding_box(np.zeros((8, 8), np.uint8), 4) is None


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((512, 512), (512, 512)),
        ((1000, 750), (1000, 744)),
        ((4000, 3000), (2048, 1536)),
        ((3000, 4000), (1536, 2048)),
        ((5, 700), (8, 696)),
        ((2049, 10), (2048, 8)),
    ],
)
def test_canvas_size_for_an_image(size, expected):
    assert sizing.canvas_size_for(*size) == expected


@pytest.mark.parametrize(
    ("source", "target", "box"),
    [
        ((200, 100), (100, 100), (50, 0, 150, 100)),
        ((100, 200), (100, 100), (0, 50, 100, 150)),
        ((100, 100), (200, 100), (0, 25, 100, 75)),
        ((300, 200), (600, 400), (0, 0, 300, 200)),
    ],
)
def test_cover_box_is_centred_with_the_target_aspect(source, target, box):
    assert sizing.cover_box(*source, *target) == box


@pytest.mark.parametrize(("width", "height"), [(0, 512), (512, 12), (2056, 512), (-8, 8)])
def test_invalid_canvas_sizes_are_refused_with_a_sentence(width, height):
    with pytest.raises(ValueError, match="multiple of 8 between 8 and 2048"):
        sizing.check_size(width, height)

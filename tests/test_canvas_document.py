"""The document's operations and outputs, driven through its public API:
opening images, placing results, layer operations, what a generation gets,
and undo that never loses the mask."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor

from studio.canvas import BrushSpec, CanvasDocument, LayerName
from tests.canvas_helpers import alpha, layer_pixels


@pytest.fixture
def document(qapp) -> CanvasDocument:
    return CanvasDocument(64, 64)


def paint(document, layer, points, size=8.0, color=(0, 0, 0), opacity=1.0, erase=False):
    stroke = document.begin_stroke(layer, BrushSpec(size, 1.0, opacity, color, erase))
    for x, y in points:
        stroke.add_point(x, y)
    stroke.finish()


def quadrants(width: int, height: int) -> Image.Image:
    """Red, green / blue, white quadrants: easy to tell where each part went."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    w, h = width // 2, height // 2
    draw.rectangle((0, 0, w - 1, h - 1), fill=(255, 0, 0))
    draw.rectangle((w, 0, width, h - 1), fill=(0, 255, 0))
    draw.rectangle((0, h, w - 1, height), fill=(0, 0, 255))
    draw.rectangle((w, h, width, height), fill=(255, 255, 255))
    return image


def test_a_new_document_is_512_square_transparent_and_not_masked(qapp):
    document = CanvasDocument()
    assert document.size() == QSize(512, 512)
    assert not document.has_mask()
    assert not document.layer_has_content(LayerName.IMAGE)
    assert document.init_image().getextrema() == ((255, 255),) * 3  # white paper
    for name in ("image", "sketch", "mask"):
        assert (
            document.layer(name).format() == document.layer(name).Format.Format_ARGB32_Premultiplied
        )


def test_new_is_undoable_and_announces_the_size(document, qtbot):
    paint(document, "mask", [(32, 32)])
    with qtbot.waitSignal(document.size_changed) as blocker:
        document.new(128, 96)
    assert blocker.args == [QSize(128, 96)]
    assert not document.has_mask()
    document.undo()
    assert document.size() == QSize(64, 64) and document.has_mask()
    with pytest.raises(ValueError, match="multiple of 8"):
        document.new(100, 100)


def test_set_image_resize_stretches_it_to_the_document(document):
    document.set_image(quadrants(128, 64), fit="resize")
    image = document.composed_image()
    assert image.size == (64, 64)
    assert image.getpixel((5, 5)) == (255, 0, 0)
    assert image.getpixel((58, 58)) == (255, 255, 255)


def test_set_image_crop_covers_the_document_and_cuts_the_sides(document):
    document.set_image(quadrants(128, 64), fit="crop")  # keeps the middle 64×64
    image = document.composed_image()
    assert image.getpixel((5, 5)) == (255, 0, 0)
    assert image.getpixel((58, 5)) == (0, 255, 0)
    assert image.getpixel((31, 5)) == (255, 0, 0) and image.getpixel((33, 5)) == (0, 255, 0)


def test_set_image_canvas_takes_the_image_size_in_multiples_of_8(document):
    photo = quadrants(100, 61)
    document.set_image(photo, fit="canvas")
    assert document.size() == QSize(96, 56)
    # Trimmed by a few pixels at the edges, not resampled.
    assert np.array_equal(np.asarray(document.composed_image()), np.asarray(photo)[2:58, 2:98])


def test_an_oversized_image_is_scaled_down_to_the_largest_canvas(qapp):
    document = CanvasDocument(64, 64)
    document.set_image(Image.new("RGB", (4096, 1024), (10, 20, 30)), fit="canvas")
    assert document.size() == QSize(2048, 512)


def test_opening_an_image_keeps_the_mask_and_undo_gives_the_old_image_back(document):
    document.set_image(quadrants(64, 64), fit="resize")
    paint(document, "mask", [(10, 10), (50, 50)])
    mask = layer_pixels(document, "mask")
    document.set_image(Image.new("RGB", (64, 64), (9, 9, 9)), fit="resize")
    assert np.array_equal(layer_pixels(document, "mask"), mask)
    document.undo()
    assert document.composed_image().getpixel((5, 5)) == (255, 0, 0)
    assert np.array_equal(layer_pixels(document, "mask"), mask)


def test_undoing_an_image_that_resized_the_document_restores_mask_and_sketch_exactly(document):
    paint(document, "mask", [(10, 10), (50, 50)])
    paint(document, "sketch", [(10, 50), (50, 10)], color=(0, 128, 255))
    mask, sketch = layer_pixels(document, "mask"), layer_pixels(document, "sketch")
    document.set_image(quadrants(160, 80), fit="canvas")
    assert document.size() == QSize(160, 80)
    assert document.has_mask()  # scaled along with the document, not dropped
    document.undo()
    assert document.size() == QSize(64, 64)
    assert np.array_equal(layer_pixels(document, "mask"), mask)
    assert np.array_equal(layer_pixels(document, "sketch"), sketch)
    document.redo()
    assert document.size() == QSize(160, 80)


@pytest.mark.parametrize(
    ("fit", "corner", "centre"),
    [
        ("resize", (255, 0, 0), (255, 255, 255)),
        ("crop", (255, 0, 0), (255, 255, 255)),
        ("canvas", (255, 255, 255), (255, 255, 255)),
    ],
)
def test_resize_fits_every_layer_the_same_way_and_undoes(document, fit, corner, centre):
    document.set_image(quadrants(64, 64), fit="resize")
    document.set_mask(Image.new("L", (64, 64), 255))
    before = layer_pixels(document, "image")
    document.resize(128, 64, fit)
    assert document.size() == QSize(128, 64)
    image = document.composed_image()
    assert image.getpixel((1, 1)) == corner  # "canvas" adds transparent paper at the sides
    assert image.getpixel((64 + 16, 48)) == centre
    mask = np.asarray(document.mask_image())
    assert mask[32, 64] == 255
    assert (mask[:, 0] == 0).all() if fit == "canvas" else (mask[:, 0] == 255).all()
    document.undo()
    assert np.array_equal(layer_pixels(document, "image"), before)


def test_place_result_fills_a_region_and_leaves_everything_else(document):
    document.set_image(Image.new("RGB", (64, 64), (50, 50, 50)), fit="resize")
    paint(document, "mask", [(20, 20), (40, 40)])
    mask = layer_pixels(document, "mask")
    document.place_result(Image.new("RGB", (8, 8), (250, 0, 250)), region=(16, 16, 48, 48))
    image = np.asarray(document.composed_image())
    assert (image[16:48, 16:48] == (250, 0, 250)).all()
    outside = np.ones((64, 64), bool)
    outside[16:48, 16:48] = False
    assert (image[outside] == 50).all()
    assert np.array_equal(layer_pixels(document, "mask"), mask)
    document.undo()
    assert (np.asarray(document.composed_image()) == 50).all()
    assert np.array_equal(layer_pixels(document, "mask"), mask)  # undo never loses the mask


def test_place_result_over_the_whole_canvas_is_scaled_to_it(document):
    document.place_result(Image.new("RGB", (128, 128), (1, 2, 3)))
    assert document.composed_image().getextrema() == ((1, 1), (2, 2), (3, 3))
    with pytest.raises(ValueError, match="outside"):
        document.place_result(Image.new("RGB", (8, 8)), region=(100, 100, 120, 120))


def test_clear_fill_and_invert_the_mask_each_undo_in_one_step(document):
    paint(document, "mask", [(10, 32), (54, 32)])
    painted = layer_pixels(document, "mask")
    document.invert_mask()
    inverted = np.asarray(document.mask_image())
    assert inverted[32, 32] == 0 and inverted[0, 0] == 255
    document.fill_mask()
    assert np.asarray(document.mask_image()).min() == 255
    document.clear_layer("mask")
    assert not document.has_mask()
    for _ in range(3):
        document.undo()
    assert np.array_equal(layer_pixels(document, "mask"), painted)


def test_flatten_paints_the_sketch_into_the_image_in_one_undo_step(document):
    document.set_image(Image.new("RGB", (64, 64), (200, 200, 200)), fit="resize")
    paint(document, "sketch", [(10, 32), (54, 32)], color=(0, 0, 255))
    before = document.init_image()
    document.flatten_sketch()
    assert alpha(document, "sketch").max() == 0
    assert document.layer("image").pixelColor(32, 32) == QColor(0, 0, 255)
    assert np.array_equal(np.asarray(document.init_image()), np.asarray(before))
    document.undo()
    assert document.layer("image").pixelColor(32, 32) == QColor(200, 200, 200)
    assert document.layer("sketch").pixelColor(32, 32) == QColor(0, 0, 255)


def test_init_image_is_the_image_with_the_sketch_on_it(document):
    document.set_image(Image.new("RGB", (64, 64), (200, 0, 0)), fit="resize")
    paint(document, "sketch", [(32, 32)], size=10, color=(0, 0, 255), opacity=0.5)
    paint(document, "mask", [(5, 5)])
    init = document.init_image()
    assert init.mode == "RGB"
    assert init.getpixel((32, 32)) == pytest.approx((100, 0, 128), abs=1)
    assert init.getpixel((5, 5)) == (200, 0, 0)  # the mask is not part of it
    document.set_visible("sketch", False)  # hidden layers are left out
    assert document.init_image().getpixel((32, 32)) == (200, 0, 0)


def test_sketch_image_is_the_sketch_alone_with_transparency(document):
    document.set_image(Image.new("RGB", (64, 64), (200, 0, 0)), fit="resize")
    paint(document, "sketch", [(32, 32)], size=10, color=(0, 255, 0))
    sketch = document.sketch_image()
    assert sketch.mode == "RGBA"
    assert sketch.getpixel((32, 32)) == (0, 255, 0, 255)
    assert sketch.getpixel((0, 0))[3] == 0


def test_mask_image_is_white_where_painted_whether_or_not_it_is_shown(document):
    paint(document, "mask", [(32, 32)], size=16)
    document.set_visible("mask", False)
    mask = document.mask_image()
    assert mask.mode == "L"
    assert mask.getpixel((32, 32)) == 255 and mask.getpixel((0, 0)) == 0
    assert document.has_mask()


def test_mask_feather_and_grow(document):
    paint(document, "mask", [(32, 32)], size=16)  # a disc from 24 to 40
    sharp = np.asarray(document.mask_image())
    assert sharp[32, 22] == 0
    grown = np.asarray(document.mask_image(grow=4))
    assert grown[32, 21] == 255 and grown[32, 18] == 0
    soft = np.asarray(document.mask_image(feather=8))
    assert soft[32, 32] == 255
    assert 0 < soft[32, 21] < 255
    assert soft[32, 2] == 0
    shrunk = np.asarray(document.mask_image(grow=-3))
    assert shrunk[32, 26] == 0 and shrunk[32, 32] == 255


def test_mask_bbox_pads_and_clips(document):
    assert document.mask_bbox(8) is None
    paint(document, "mask", [(20, 30), (30, 30)], size=4)
    assert document.mask_bbox(0) == (18, 28, 32, 32)
    assert document.mask_bbox(10) == (8, 18, 42, 42)
    assert document.mask_bbox(40) == (0, 0, 64, 64)
    assert document.mask_bbox(0, grow=2) == (16, 26, 34, 34)


def test_set_mask_from_a_greyscale_image(document):
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 15, 31), fill=255)
    document.set_mask(mask)  # scaled to the document
    result = np.asarray(document.mask_image())
    assert result[10, 10] == 255 and result[10, 50] == 0
    document.undo()
    assert not document.has_mask()


def test_unknown_layer_names_are_a_clear_error(document):
    with pytest.raises(ValueError, match="the layers are image, sketch, mask"):
        document.clear_layer("background")


def test_an_edit_during_a_stroke_finishes_the_stroke_first(document):
    stroke = document.begin_stroke("sketch", BrushSpec(6))
    stroke.add_point(10, 10)
    stroke.add_point(30, 10)
    document.fill_mask()  # e.g. a generation result arriving mid-stroke
    stroke.add_point(50, 10)  # ignored: the stroke has ended
    stroke.finish()
    assert document.undo_stack.count() == 2
    assert alpha(document, "sketch")[10, 20] == 255 and alpha(document, "sketch")[10, 45] == 0
    document.undo()
    document.undo()
    assert alpha(document, "sketch").max() == 0


def test_a_long_stroke_on_a_large_canvas_keeps_only_the_touched_tiles(qapp):
    document = CanvasDocument(2048, 2048)
    paint(document, "sketch", [(100 + i * 18, 1024) for i in range(100)], size=20)
    command = document.undo_stack.command(0)
    stored = sum(p.patch.before.nbytes + p.patch.after.nbytes for p in command._patches)
    whole_layer = 2048 * 2048 * 4
    assert stored < 0.03 * whole_layer  # about the stroke's own area, before and after
    document.undo()
    assert alpha(document, "sketch").max() == 0


def test_an_action_that_hides_a_layer_undoes_and_redoes_as_one_step(document):
    paint(document, "sketch", [(10, 10), (50, 50)])
    steps = document.undo_stack.count()
    with document.single_step("Place result"):
        document.place_result(quadrants(64, 64))
        document.set_visible("sketch", False, undoable=True)
    assert document.undo_stack.count() == steps + 1
    assert not document.is_visible("sketch") and document.layer_has_content("image")
    document.undo()
    assert document.is_visible("sketch") and not document.layer_has_content("image")
    document.redo()
    assert not document.is_visible("sketch") and document.layer_has_content("image")


def test_showing_and_hiding_a_layer_by_hand_is_not_an_undo_step(document):
    paint(document, "sketch", [(10, 10), (50, 50)])
    steps = document.undo_stack.count()
    document.set_visible("sketch", False)
    assert document.undo_stack.count() == steps and not document.is_visible("sketch")


def test_reset_starts_over_without_history(document):
    paint(document, "mask", [(32, 32)])
    document.reset(96, 128)
    assert document.size() == QSize(96, 128) and not document.has_mask()
    assert document.undo_stack.count() == 0 and document.undo_stack.isClean()


def test_opening_an_image_as_a_new_document_drops_sketch_and_mask_in_one_undo_step(document):
    paint(document, "mask", [(32, 32)])
    paint(document, "sketch", [(10, 10), (50, 50)])
    document.set_visible("sketch", False)
    steps = document.undo_stack.count()
    document.open_as_new(quadrants(160, 80))
    assert document.size() == QSize(160, 80)
    assert not document.has_mask() and not document.layer_has_content("sketch")
    assert document.is_visible("sketch")  # a new document shows every layer
    assert document.composed_image().getpixel((5, 5)) == (255, 0, 0)
    assert document.undo_stack.count() == steps + 1
    document.undo()
    assert document.size() == QSize(64, 64) and document.has_mask()

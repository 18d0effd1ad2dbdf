"""Files: the project file round trip and its failures, image import and
export round trips."""

from __future__ import annotations

import json
import os
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QSize

from studio.canvas import BrushSpec, CanvasDocument, ImageFileError, ProjectError
from tests.canvas_helpers import layer_pixels


@pytest.fixture
def document(qapp) -> CanvasDocument:
    document = CanvasDocument(96, 64)
    photo = Image.new("RGB", (96, 64), (40, 90, 160))
    ImageDraw.Draw(photo).ellipse((20, 10, 60, 50), fill=(250, 200, 30))
    document.set_image(photo, fit="resize")
    for layer, color, opacity, y in (("sketch", (200, 0, 80), 0.6, 20), ("mask", (0, 0, 0), 1, 44)):
        stroke = document.begin_stroke(layer, BrushSpec(12, 0.3, opacity, color))
        for x in range(5, 90, 6):
            stroke.add_point(x, y)
        stroke.finish()
    return document


def test_save_and_reopen_gives_back_every_layer(document, tmp_path):
    path = tmp_path / "work.dscanvas"
    document.set_visible("sketch", False)
    document.save_project(path)
    assert document.undo_stack.isClean()

    reopened = CanvasDocument()
    reopened.load_project(path)
    assert reopened.size() == QSize(96, 64)
    assert np.array_equal(layer_pixels(reopened, "image"), layer_pixels(document, "image"))
    assert np.array_equal(layer_pixels(reopened, "sketch"), layer_pixels(document, "sketch"))
    assert np.array_equal(np.asarray(reopened.mask_image()), np.asarray(document.mask_image()))
    assert not reopened.is_visible("sketch") and reopened.is_visible("mask")
    assert reopened.undo_stack.count() == 0  # a fresh history for the opened file
    assert [p.name for p in tmp_path.iterdir()] == ["work.dscanvas"]  # no temp files left


def test_the_project_file_is_a_zip_other_tools_can_read(document, tmp_path):
    path = tmp_path / "work.dscanvas"
    document.save_project(path)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "diffusion-studio-canvas" and manifest["version"] == 1
        assert [layer["name"] for layer in manifest["layers"]] == ["image", "sketch", "mask"]
        with archive.open("mask.png") as mask_file:
            mask = Image.open(mask_file).convert("L")
            assert np.array_equal(np.asarray(mask), np.asarray(document.mask_image()))


def test_saving_over_a_project_replaces_it(document, tmp_path):
    path = tmp_path / "work.dscanvas"
    document.save_project(path)
    document.clear_layer("mask")
    document.save_project(path)
    reopened = CanvasDocument()
    reopened.load_project(path)
    assert not reopened.has_mask()


def test_a_failed_save_leaves_the_old_file_and_no_litter(document, tmp_path):
    path = tmp_path / "work.dscanvas"
    path.mkdir()  # a folder in the way: the final rename must fail
    with pytest.raises(ProjectError, match="Could not save"):
        document.save_project(path)
    assert path.is_dir() and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_projects_and_exports_get_the_users_umask(document, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        document.save_project(tmp_path / "work.dscanvas")
        document.export_composed(tmp_path / "out.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "work.dscanvas").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == mode


def test_saving_over_a_project_keeps_its_permissions(document, tmp_path):
    path = tmp_path / "work.dscanvas"
    document.save_project(path)
    path.chmod(0o640)  # the user narrowed who may read it
    document.clear_layer("mask")
    document.save_project(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def _zip(path, files: dict[str, bytes | str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _manifest(**changes) -> str:
    manifest = {
        "format": "diffusion-studio-canvas",
        "version": 1,
        "width": 16,
        "height": 16,
        "layers": [{"name": "image", "file": "image.png", "visible": True}],
    }
    manifest.update(changes)
    return json.dumps(manifest)


def _png(size=(16, 16)) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGBA", size, (1, 2, 3, 255)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (b"just some bytes", "is not a Diffusion Studio canvas project"),
        ({"readme.txt": "hi"}, "is not a Diffusion Studio canvas project"),
        ({"manifest.json": '{"format": "something-else"}'}, "is not a Diffusion Studio canvas"),
        ({"manifest.json": "{not json"}, "damaged: its manifest is not valid JSON"),
        ({"manifest.json": _manifest(version=7)}, "saved by a newer Diffusion Studio"),
        ({"manifest.json": _manifest(width=13)}, "damaged"),
        ({"manifest.json": _manifest()}, "damaged: its image layer is missing"),
        ({"manifest.json": _manifest(), "image.png": b"\x89PNG garbage"}, "not a valid PNG"),
        (
            {"manifest.json": _manifest(), "image.png": _png((8, 8))},
            "damaged: its image layer is 8×8",
        ),
        ({"manifest.json": _manifest(layers=[{"name": "paint", "file": "x"}])}, "damaged"),
    ],
)
def test_unknown_or_corrupt_files_are_a_clear_message_and_change_nothing(
    document, tmp_path, contents, message
):
    path = tmp_path / "bad.dscanvas"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        _zip(path, contents)
    before = layer_pixels(document, "image")
    with pytest.raises(ProjectError, match=message) as error:
        document.load_project(path)
    assert "bad.dscanvas" in str(error.value)
    assert document.size() == QSize(96, 64)
    assert np.array_equal(layer_pixels(document, "image"), before)
    assert document.undo_stack.count() > 0  # the history is kept too


def test_a_truncated_project_is_a_clear_message(document, tmp_path):
    path = tmp_path / "work.dscanvas"
    document.save_project(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProjectError, match=r"work\.dscanvas is damaged: the file is incomplete"):
        CanvasDocument().load_project(path)


def test_a_missing_project_is_a_clear_message(tmp_path, qapp):
    with pytest.raises(ProjectError, match="does not exist"):
        CanvasDocument().load_project(tmp_path / "nowhere.dscanvas")


def test_a_minimal_project_gets_empty_sketch_and_mask(tmp_path, qapp):
    path = tmp_path / "min.dscanvas"
    _zip(path, {"manifest.json": _manifest(), "image.png": _png()})
    document = CanvasDocument()
    document.load_project(path)
    assert document.size() == QSize(16, 16)
    assert document.init_image().getpixel((3, 3)) == (1, 2, 3)
    assert not document.has_mask()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_opening_image_files(document, tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    Image.new("RGB", (120, 80), (250, 20, 20)).save(path, quality=95)
    document.open_image(path)
    assert document.size() == QSize(120, 80)
    assert document.init_image().getpixel((60, 40)) == pytest.approx((250, 20, 20), abs=6)


def test_opening_a_photo_turns_it_upright(document, tmp_path):
    photo = Image.new("RGB", (40, 24), (0, 0, 0))
    ImageDraw.Draw(photo).rectangle((0, 0, 7, 23), fill=(255, 255, 255))  # white left edge
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "portrait.jpg"
    photo.save(path, exif=exif, quality=95)
    document.open_image(path)
    assert document.size() == QSize(24, 40)
    assert document.init_image().getpixel((12, 3)) > (200, 200, 200)  # now the top edge


def test_opening_a_file_that_is_not_an_image_is_a_clear_message(document, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ImageFileError, match=r"notes\.png is not an image the canvas can open"):
        document.open_image(path)
    with pytest.raises(ImageFileError, match="does not exist"):
        document.open_image(tmp_path / "missing.png")


def test_export_round_trips(document, tmp_path):
    document.export_composed(tmp_path / "composed.png")
    document.export_mask(tmp_path / "mask.png", feather=4)
    document.export_sketch(tmp_path / "sketch.png")
    composed = Image.open(tmp_path / "composed.png")
    assert composed.mode == "RGBA"
    assert np.array_equal(
        np.asarray(composed.convert("RGB")), np.asarray(document.composed_image())
    )
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "mask.png")), np.asarray(document.mask_image(feather=4))
    )
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "sketch.png")), np.asarray(document.sketch_image())
    )
    document.export_composed(tmp_path / "composed.jpg")
    assert Image.open(tmp_path / "composed.jpg").mode == "RGB"
    with pytest.raises(ImageFileError, match="use one of"):
        document.export_mask(tmp_path / "mask.bmp")


def test_an_exported_image_reopens_as_the_same_picture(document, tmp_path):
    document.flatten_sketch()
    document.export_composed(tmp_path / "out.png")
    before = document.init_image()
    other = CanvasDocument()
    other.open_image(tmp_path / "out.png")
    assert other.size() == QSize(96, 64)
    assert np.array_equal(np.asarray(other.init_image()), np.asarray(before))

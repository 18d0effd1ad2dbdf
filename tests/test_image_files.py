"""Result files: PNG, JPEG and WebP carrying their recipe the way A1111 stores it
and marked as AI-generated, written atomically."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from PIL import Image
from PIL.ExifTags import IFD, Base
from write_faults import fill_disk

from studio.engine.errors import EngineError
from studio.engine.image_files import (
    JPEG_MAX_RECIPE_CHARS,
    check_result_files,
    exif_with_parameters,
    save_image,
    write_error,
)
from studio.engine.infotext import format_infotext
from studio.engine.pngfile import DIGITAL_SOURCE_TYPE, is_marked_ai_generated
from studio.engine.request import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    GenerationRequest,
)
from studio.engine.safety import protect
from studio.engine.watermark import MAX_TEXT, Watermark

RECIPE = "a cat on a roof, café, 夜 🐱\nNegative prompt: blurry\nSteps: 2, Seed: 42, Size: 64x64"

# What A1111 writes for "a cat\nSteps: 2, Seed: 42": piexif 1.1.3's
# dump({"Exif": {UserComment: UserComment.dump(text, encoding="unicode")}}).
A1111_TEXT = "a cat\nSteps: 2, Seed: 42"
A1111_EXIF = bytes.fromhex(
    "4578696600004d4d002a00000008000187690004000000010000001a000000000001928600070000"
    "003800000028554e49434f44450000610020006300610074000a00530074006500700073003a0020"
    "0032002c00200053006500650064003a002000340032"
)
TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1}


def exif_entries(block: bytes) -> dict[tuple[str, int], tuple[int, bytes]]:
    """(IFD, tag) -> (TIFF type, value bytes) of a big-endian EXIF block, read
    as piexif reads it: the first IFD, then the Exif IFD it points to."""
    if block.startswith(b"Exif\0\0"):
        block = block[6:]
    assert block[:4] == b"MM\x00\x2a"  # big-endian, as piexif writes
    entries: dict[tuple[str, int], tuple[int, bytes]] = {}

    def read_ifd(offset: int, name: str) -> None:
        (count,) = struct.unpack_from(">H", block, offset)
        for index in range(count):
            tag, kind, n, value = struct.unpack_from(">HHI4s", block, offset + 2 + 12 * index)
            size = TIFF_TYPE_SIZES[kind] * n
            if size > 4:
                (where,) = struct.unpack(">I", value)
                value = block[where : where + size]
            entries[(name, tag)] = (kind, value[:size])

    read_ifd(struct.unpack_from(">I", block, 4)[0], "0th")
    read_ifd(int.from_bytes(entries[("0th", IFD.Exif)][1], "big"), "Exif")
    return entries


def user_comment(path: Path) -> str:
    """The recipe as Pillow reads it back from a JPEG or WebP."""
    with Image.open(path) as image:
        raw = image.getexif().get_ifd(IFD.Exif)[Base.UserComment]
    assert raw.startswith(b"UNICODE\0")
    return raw[8:].decode("utf-16-be")


def _picture() -> Image.Image:
    image = Image.new("RGB", (64, 48), (20, 40, 200))
    image.paste((240, 200, 30), (10, 10, 30, 30))
    return image


def test_exif_block_has_the_layout_a1111_writes():
    ours = exif_entries(exif_with_parameters(A1111_TEXT))
    assert ours == exif_entries(A1111_EXIF)
    kind, comment = ours[("Exif", Base.UserComment)]
    # UNDEFINED (7), not the BYTE type Pillow would give bytes: piexif reads BYTE
    # back as a tuple of numbers, which A1111 cannot decode.
    assert kind == 7
    assert comment == b"UNICODE\0" + A1111_TEXT.encode("utf-16-be")


@pytest.mark.parametrize(
    ("name", "image_format"), [("out.jpg", "JPEG"), ("out.JPEG", "JPEG"), ("out.webp", "WEBP")]
)
def test_jpeg_and_webp_carry_the_recipe_and_the_ai_marking(tmp_path, name, image_format):
    path = save_image(_picture(), tmp_path / name, RECIPE)

    assert path == tmp_path / name
    assert user_comment(path) == RECIPE
    with Image.open(path) as image:
        assert image.format == image_format and image.size == (64, 48)
        assert exif_entries(image.info["exif"])[("Exif", Base.UserComment)][0] == 7
        assert DIGITAL_SOURCE_TYPE.encode() in image.info["xmp"]
        assert is_marked_ai_generated(image)
        red, green, blue = image.convert("RGB").getpixel((20, 20))
        assert abs(red - 240) < 12 and abs(green - 200) < 12 and blue < 45  # quality 95
    assert os.listdir(tmp_path) == [name]


def test_png_keeps_its_text_chunk(tmp_path):
    path = save_image(_picture(), tmp_path / "out.png", RECIPE)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.text["parameters"] == RECIPE
        assert is_marked_ai_generated(image)


def test_a_jpeg_drops_alpha_and_keeps_the_picture(tmp_path):
    image = _picture().convert("RGBA")
    path = save_image(image, tmp_path / "alpha.jpg", RECIPE)
    with Image.open(path) as saved:
        assert saved.mode == "RGB" and user_comment(path) == RECIPE


@pytest.mark.parametrize("name", ["out.gif", "out.tiff", "out", "out.png.txt"])
def test_unknown_suffixes_are_refused_with_the_formats_named(tmp_path, name):
    with pytest.raises(EngineError, match=r"end the name with \.png, \.jpg, \.jpeg or \.webp"):
        save_image(_picture(), tmp_path / name, RECIPE)
    assert os.listdir(tmp_path) == []


def test_a_recipe_too_long_for_a_jpeg_is_a_sentence_and_writes_nothing(tmp_path):
    with pytest.raises(EngineError, match="too long for a JPEG file"):
        save_image(_picture(), tmp_path / "long.jpg", "x" * (JPEG_MAX_RECIPE_CHARS + 1))
    assert os.listdir(tmp_path) == []
    save_image(_picture(), tmp_path / "long.webp", "x" * (JPEG_MAX_RECIPE_CHARS + 1))
    assert user_comment(tmp_path / "long.webp") == "x" * (JPEG_MAX_RECIPE_CHARS + 1)


def test_the_longest_recipe_of_a_valid_request_fits_in_a_jpeg(tmp_path):
    # Why check_result_files has no JPEG check: each prompt is capped well below
    # what a JPEG holds, so the longest a request can make, with the safety
    # filter's terms, a watermark and the longest model name, still fits.
    request = GenerationRequest(
        prompt="p" * MAX_PROMPT_CHARS,
        negative_prompt="n" * MAX_PROMPT_CHARS,
        width=MAX_SIDE,
        height=MAX_SIDE,
        steps=MAX_STEPS,
        scheduler="dpm++2m-karras",
        watermark=Watermark(text="w" * MAX_TEXT),
    )
    request.validated()
    ran = request.replace(negative_prompt=protect(request.negative_prompt))  # as generate does
    extra = {"Watermark": request.watermark.describe()}
    recipe = format_infotext(ran, MAX_SEED, "m" * 255, extra)
    assert len(recipe) > 2 * MAX_PROMPT_CHARS
    path = save_image(_picture(), tmp_path / "longest.jpg", recipe)
    assert user_comment(path) == recipe


def test_names_are_checked_by_making_the_writers_own_temporary_file(tmp_path):
    fits = tmp_path / ("a" * 236 + ".png")  # 240 bytes: its temporary name is shortened
    check_result_files([fits], [GenerationRequest(prompt="a boat")])
    assert os.listdir(tmp_path) == []  # the probe is gone
    save_image(_picture(), fits, RECIPE)
    assert os.listdir(tmp_path) == [fits.name]

    too_long = tmp_path / ("a" * 252 + ".png")  # 256 bytes
    batch = [tmp_path / ("a" * 247 + f"-{i}.png") for i in (1, 10)]  # 254 and 255 bytes: fine
    check_result_files(batch)
    for paths in ([too_long], [batch[0], too_long], [tmp_path / too_long.name / "x.png"]):
        with pytest.raises(EngineError) as failure:
            check_result_files(paths)
        assert str(failure.value).endswith(": the name is too long; choose a shorter one.")
    assert os.listdir(tmp_path) == [fits.name]


@pytest.mark.parametrize("name", ["keep.png", "keep.jpg", "keep.webp"])
def test_a_full_disk_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, name):
    path = save_image(_picture(), tmp_path / name, "first")
    before = path.read_bytes()
    fill_disk(monkeypatch)
    with pytest.raises(OSError) as failure:
        save_image(_picture(), path, "second")
    with pytest.raises(OSError):
        save_image(_picture(), tmp_path / f"new-{name}", "third")
    monkeypatch.undo()

    assert str(write_error(path, failure.value)) == (
        f"Cannot write {path}: the disk is full; free some space and try again."
    )
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [name]

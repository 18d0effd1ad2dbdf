"""Reading an image's parameters without decoding its pixels: PNG text chunks
(Latin-1 or UTF-8, before or after the pixels, in a file cut off in its pixels,
too large), A1111's JPEG and WebP EXIF UserComment, and one error type, a
sentence, for any file that cannot be read."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from studio.app import main
from studio.engine import foreign_parameters
from studio.engine.image_files import save_image
from studio.engine.image_parameters import ParametersReadError, read_parameters
from studio.engine.pngfile import save_png

RECIPE = "a lighthouse, stormy sky\nNegative prompt: blurry\nSteps: 7, Seed: 12, Size: 64x64"


def _noise(size: int = 64) -> Image.Image:
    return Image.frombytes("RGB", (size, size), random.Random(size).randbytes(size * size * 3))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_chunks(before: list[bytes], after: list[bytes] = ()) -> bytes:
    """A real PNG (noise, so the pixel data is large) with extra chunks around IDAT."""
    buffer = io.BytesIO()
    _noise().save(buffer, format="PNG")
    data = buffer.getvalue()
    first_idat = data.index(b"IDAT") - 4
    iend = data.index(b"IEND") - 4
    return (
        data[:first_idat]
        + b"".join(before)
        + data[first_idat:iend]
        + b"".join(after)
        + (data[iend:])
    )


def test_latin1_text_that_happens_to_be_valid_utf8_is_left_alone(tmp_path):
    # "Ã©" is two Latin-1 letters, and also the UTF-8 bytes of "é": as tEXt
    # (Latin-1 by the PNG standard) it means what it says.
    text = "Ã© and Ã¼\nSteps: 2, Seed: 3, Size: 64x64"
    path = save_png(_noise(8), tmp_path / "latin.png", text)
    assert read_parameters(path) == text


@pytest.mark.parametrize("kind", [b"tEXt", b"zTXt"])
def test_utf8_bytes_put_in_latin1_chunks_by_other_tools_are_repaired(kind):
    text = "naïve café — “quoted”, Straße\nSteps: 20, Seed: 1, Size: 64x64"
    raw = text.encode("utf-8")
    body = b"parameters\0" + (raw if kind == b"tEXt" else b"\0" + zlib.compress(raw))
    assert read_parameters(_png_with_chunks([_chunk(kind, body)])) == text


def test_text_after_the_pixels_is_read_without_decoding_them():
    png = _png_with_chunks([], [_chunk(b"tEXt", b"parameters\0" + RECIPE.encode())])
    start = png.index(b"IDAT") + 4
    damaged = png[:start] + b"\xff" * 40 + png[start + 40 :]  # pixels no decoder can read
    with pytest.raises(OSError), Image.open(io.BytesIO(damaged)) as image:
        image.load()
    assert read_parameters(damaged) == RECIPE


def test_a_png_cut_off_inside_its_pixel_data_still_gives_its_parameters(tmp_path, capsys):
    png = _png_with_chunks([_chunk(b"iTXt", b"parameters\0\0\0\0\0" + RECIPE.encode())])
    cut = tmp_path / "cut.png"
    cut.write_bytes(png[: png.index(b"IDAT") + 5000])
    assert read_parameters(cut) == RECIPE
    assert main(["params", str(cut)]) == 0
    assert capsys.readouterr().out == RECIPE + "\n"


def _utf16(text: str, order: str) -> bytes:
    return text.encode({"be": "utf-16-be", "le": "utf-16-le", "bom": "utf-16"}[order])


def _exif_with_user_comment(comment: bytes) -> bytes:
    """EXIF as A1111 writes it through piexif: a big-endian TIFF block whose first
    IFD points to the Exif IFD, which holds UserComment (0x9286, type UNDEFINED)."""
    tiff = b"MM\0\x2a" + struct.pack(">I", 8)
    first_ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, 26) + b"\0\0\0\0"
    exif_ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), 44)
    exif_ifd += b"\0\0\0\0"
    return b"Exif\0\0" + tiff + first_ifd + exif_ifd + comment


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP"])
@pytest.mark.parametrize(
    "comment",
    [
        b"UNICODE\0" + _utf16(RECIPE, "be"),  # A1111 and piexif
        b"UNICODE\0" + _utf16(RECIPE, "le"),
        b"UNICODE\0" + _utf16(RECIPE, "bom"),
        b"ASCII\0\0\0" + RECIPE.encode(),
    ],
    ids=["utf16-be", "utf16-le", "utf16-bom", "ascii"],
)
def test_a1111_jpeg_and_webp_carry_the_parameters_in_exif_user_comment(
    tmp_path, image_format, comment
):
    path = tmp_path / f"a1111.{image_format.lower()}"
    _noise(32).save(path, format=image_format, exif=_exif_with_user_comment(comment))
    assert read_parameters(path) == RECIPE


def test_a_cameras_user_comment_is_not_a_recipe(tmp_path):
    path = tmp_path / "photo.jpg"
    comment = b"ASCII\0\0\0OLYMPUS DIGITAL CAMERA         "
    _noise(32).save(path, exif=_exif_with_user_comment(comment))
    assert read_parameters(path) is None
    _noise(32).save(tmp_path / "bare.webp")
    assert read_parameters(tmp_path / "bare.webp") is None


def _ztxt(key: bytes, text: bytes) -> bytes:
    return _chunk(b"zTXt", key + b"\0\0" + zlib.compress(text, 9))


def test_huge_text_chunks_give_a_sentence_or_are_passed_over():
    # 3 MB of parameters: Pillow refuses it with a ValueError while opening.
    huge = _png_with_chunks([_ztxt(b"parameters", b"masterpiece, " * 240_000)])
    with pytest.raises(ValueError), Image.open(io.BytesIO(huge)):
        pass
    with pytest.raises(ParametersReadError) as error:
        read_parameters(huge)
    assert str(error.value) == (
        "The file's parameters text is over 256 KB, longer than any recipe, so it was not read."
    )
    # A 32 KB chunk that would inflate to 32 MB is never inflated past the limit.
    bomb = _png_with_chunks([_ztxt(b"parameters", b"\0" * 2**25)])
    with pytest.raises(ParametersReadError, match="over 256 KB"):
        read_parameters(bomb)
    # A huge chunk we do not read is skipped; the recipe beside it is read.
    recipe = _chunk(b"tEXt", b"parameters\0" + RECIPE.encode())
    beside = _png_with_chunks([_ztxt(b"notes", b"x" * 3_000_000)], [recipe])
    assert read_parameters(beside) == RECIPE


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "missing.png does not exist."),
        (lambda d: d, "is a folder, not an image."),
        (lambda d: _write(d / "notes.txt", b"just words"), "notes.txt is not an image this app"),
        (lambda d: _write(d / "half.jpg", b"\xff\xd8\xff\xe1\x00\x10Exif"), "half.jpg"),
    ],
)
def test_unreadable_files_give_one_sentence(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(ParametersReadError, match=message.replace(".", r"\.")):
        read_parameters(path)
    assert main(["params", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_damaged_files_of_every_format_raise_only_the_documented_error():
    rng = random.Random(23)
    originals = [_png_with_chunks([_chunk(b"tEXt", b"parameters\0" + RECIPE.encode())])]
    for image_format in ("JPEG", "WEBP"):
        buffer = io.BytesIO()
        exif = _exif_with_user_comment(b"UNICODE\0" + _utf16(RECIPE, "be"))
        _noise(32).save(buffer, format=image_format, exif=exif)
        originals.append(buffer.getvalue())
    for original in originals:
        for _ in range(150):
            data = bytearray(original[: rng.randrange(1, len(original) + 1)])
            for _ in range(rng.randrange(4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                result = read_parameters(bytes(data))
            except ParametersReadError as error:
                assert str(error).endswith(".") and "\n" not in str(error)
            else:
                assert result is None or isinstance(result, str)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_what_this_app_writes_in_each_format_reads_back(tmp_path, suffix):
    text = "ünïcode — 猫\nNegative prompt: blurry\nSteps: 7, Seed: 12, Size: 32x32"
    path = save_image(_noise(32), tmp_path / f"out{suffix}", text)
    assert read_parameters(path) == text


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP"])
def test_a_user_comment_with_a_byte_order_mark_and_an_odd_length_is_read(tmp_path, image_format):
    # One byte past the last UTF-16 unit: strict decoding raised UnicodeDecodeError.
    path = tmp_path / f"odd.{image_format.lower()}"
    comment = b"UNICODE\0" + _utf16(RECIPE, "bom") + b"\x00"
    _noise(32).save(path, format=image_format, exif=_exif_with_user_comment(comment))
    assert read_parameters(path) == RECIPE + "\ufffd"


def test_a_bug_in_another_tools_reader_is_a_sentence(monkeypatch):
    # The readers treat malformed values as absent; should one still fail, the caller
    # (the history strip, a drop, `studio params`) gets the one error it catches.
    def failing_reader(texts: object) -> str | None:
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(foreign_parameters, "infotext_from_foreign", failing_reader)
    png = _png_with_chunks([_chunk(b"tEXt", b"Software\0NovelAI"), _chunk(b"tEXt", b"Comment\0{}")])
    with pytest.raises(ParametersReadError) as error:
        read_parameters(png)
    assert str(error.value) == (
        "The file holds another tool's parameters in a form this app does not know, "
        "so they were not read."
    )


def _a1111_exif_picture(image_format: str) -> bytes:
    buffer = io.BytesIO()
    exif = _exif_with_user_comment(b"UNICODE\0" + _utf16(RECIPE, "be"))
    _noise(32).save(buffer, format=image_format, exif=exif)
    return buffer.getvalue()


def test_a_jpeg_of_30000x30000_pixels_still_gives_its_parameters(tmp_path, capsys):
    data = bytearray(_a1111_exif_picture("JPEG"))
    size_at = data.index(b"\xff\xc0") + 5  # the baseline frame header: height, width
    assert struct.unpack(">HH", data[size_at : size_at + 4]) == (32, 32)
    data[size_at : size_at + 4] = struct.pack(">HH", 30000, 30000)
    path = _write(tmp_path / "huge.jpg", bytes(data))
    with pytest.raises(Image.DecompressionBombError), Image.open(path):
        pass  # Pillow will not even open it to read the metadata
    assert main(["params", str(path)]) == 0
    assert capsys.readouterr().out == RECIPE + "\n"


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP"])
def test_pictures_over_pillows_pixel_limit_give_their_parameters(
    tmp_path, monkeypatch, image_format
):
    suffix = image_format.lower()
    path = _write(tmp_path / f"big.{suffix}", _a1111_exif_picture(image_format))
    _noise(32).save(tmp_path / f"bare.{suffix}", format=image_format)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 32x32 is over twice that
    with pytest.raises(Image.DecompressionBombError), Image.open(path):
        pass
    assert read_parameters(path) == RECIPE
    assert read_parameters(tmp_path / f"bare.{suffix}") is None


def test_a_picture_too_large_to_open_in_another_format_is_one_sentence(tmp_path, monkeypatch):
    path = tmp_path / "big.tif"
    _noise(32).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ParametersReadError) as error:
        read_parameters(path)
    assert str(error.value) == (
        "big.tif has more than 200 pixels, too many to open, so its parameters could not be read."
    )

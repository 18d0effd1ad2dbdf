"""`studio generate -o`: the suffix picks the format (PNG, JPEG, WebP), the
parameters travel inside each file, and nothing is ever renamed silently."""

from __future__ import annotations

import os
import time

import pytest
from PIL import Image
from PIL.ExifTags import IFD, Base
from write_faults import temp_files

from studio.app import main
from studio.engine.infotext import parse_infotext
from studio.engine.pngfile import is_marked_ai_generated


def recipe_of(path) -> str:
    """The parameters as Pillow reads them back: EXIF UserComment in a JPEG or
    WebP (b"UNICODE\\0" + UTF-16-BE, as A1111 writes), the text chunk in a PNG."""
    with Image.open(path) as image:
        if image.format == "PNG":
            return image.text["parameters"]
        raw = image.getexif().get_ifd(IFD.Exif)[Base.UserComment]
    assert raw[:8] == b"UNICODE\0"
    return raw[8:].decode("utf-16-be")


def _generate(model, out, *more: str) -> int:
    args = ["generate", "-p", "a boat, café", "-m", str(model), "--steps", "1", "--seed", "5"]
    return main([*args, "--negative", "fog", "-q", "-o", str(out), *more])


@pytest.mark.parametrize(
    ("name", "image_format"),
    [("boat.jpg", "JPEG"), ("boat.jpeg", "JPEG"), ("boat.webp", "WEBP"), ("boat.PNG", "PNG")],
)
def test_the_suffix_picks_the_format_and_the_parameters_travel_inside(
    sd_model, tmp_path, capsys, name, image_format
):
    assert _generate(sd_model, tmp_path / name) == 0

    assert os.listdir(tmp_path) == [name]  # that name, no other
    assert f"{tmp_path / name}  (seed 5)" in capsys.readouterr().out
    with Image.open(tmp_path / name) as image:
        assert image.format == image_format and image.size == (64, 64)
        assert is_marked_ai_generated(image)
    parsed = parse_infotext(recipe_of(tmp_path / name))
    assert parsed.prompt == "a boat, café" and parsed.negative_prompt == "fog"
    assert parsed.params["Seed"] == "5" and parsed.params["Steps"] == "1"


def test_a_batch_keeps_the_suffix(sd_model, tmp_path):
    assert _generate(sd_model, tmp_path / "set.jpg", "--batch", "2") == 0
    assert sorted(os.listdir(tmp_path)) == ["set-1.jpg", "set-2.jpg"]
    seeds = [parse_infotext(recipe_of(tmp_path / f"set-{i}.jpg")).params["Seed"] for i in (1, 2)]
    assert seeds == ["5", "6"]
    for i in (1, 2):
        with Image.open(tmp_path / f"set-{i}.jpg") as image:
            assert image.format == "JPEG"


@pytest.mark.parametrize("name", ["x.gif", "x.bmp", "x"])
def test_an_unknown_suffix_is_refused_before_any_generation(sd_model, tmp_path, capsys, name):
    # Not quiet: a single denoising step would print "step 1/1" first.
    args = ["generate", "-p", "x", "-m", str(sd_model), "--steps", "1", "-o", str(tmp_path / name)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {tmp_path / name} names no image format this app writes; "
        "end the name with .png, .jpg, .jpeg or .webp.\n"
    )
    assert os.listdir(tmp_path) == []


def test_prompts_too_long_are_refused_before_generating(sd_model, tmp_path, capsys):
    args = ["generate", "-p", "boat " * 7000, "-m", str(sd_model), "--steps", "1"]
    assert main([*args, "-o", str(tmp_path / "long.jpg")]) == 1
    err = capsys.readouterr().err
    # One sentence and no step: refused before the model ran, by the request's own
    # prompt limit, which keeps every recipe within a JPEG's (test_image_files).
    assert err.startswith("error: The prompt") and len(err.splitlines()) == 1
    assert "step" not in err and os.listdir(tmp_path) == []


def test_temp_files_left_by_a_killed_run_are_removed(sd_model, tmp_path):
    leftover = tmp_path / ".out.png.4194304-0123abcd.tmp"  # what a kill mid-write leaves
    leftover.write_bytes(b"\x89PNG half a file")
    an_hour_ago = time.time() - 3600
    os.utime(leftover, (an_hour_ago, an_hour_ago))
    assert _generate(sd_model, tmp_path / "out.png") == 0
    assert temp_files(tmp_path) == [] and os.listdir(tmp_path) == ["out.png"]


def test_a_long_name_is_written_and_one_too_long_refused_before_generating(
    sd_model, tmp_path, capsys
):
    long_name = "b" * 236 + ".png"  # 240 bytes: its temporary name must be shortened
    assert _generate(sd_model, tmp_path / long_name) == 0
    assert os.listdir(tmp_path) == [long_name]
    capsys.readouterr()

    too_long = tmp_path / ("c" * 252 + ".png")  # 256 bytes: more than a name can hold
    # Not quiet: a single denoising step would print "step 1/1" first.
    args = ["generate", "-p", "x", "-m", str(sd_model), "--steps", "1", "-o", str(too_long)]
    assert main(args) == 1
    assert capsys.readouterr().err == (
        f"error: Cannot write {too_long}: the name is too long; choose a shorter one.\n"
    )
    assert os.listdir(tmp_path) == [long_name]


def test_a_batch_name_that_grows_too_long_is_refused_before_generating(sd_model, tmp_path, capsys):
    out = tmp_path / ("d" * 249 + ".png")  # 253 bytes; "-1" to "-9" make 255, "-10" 256
    args = ["generate", "-p", "x", "-m", str(sd_model), "--steps", "1", "--batch", "10"]
    assert main([*args, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.endswith(": the name is too long; choose a shorter one.\n") and "step" not in err
    assert os.listdir(tmp_path) == []

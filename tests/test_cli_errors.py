"""Bad input on the command line, run as a user would: each case ends with a
non-zero exit code and exactly one `error: ...` sentence on stderr, never a
traceback, and writes nothing (issue 23)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from write_faults import fill_disk, make_read_only, png_header_only, temp_files

from studio.app import main

ROOT = Path(__file__).resolve().parent.parent
# Generation cases name a model that does not exist: a check that came after the
# model was looked up would answer with the model's sentence instead.
GENERATE = ["generate", "-p", "a red circle", "-q", "-m", "no-such-model"]


def assert_one_sentence(code: int, out: str, err: str, expected: str) -> None:
    assert code != 0
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and lines[0].endswith("."), lines[0]
    assert expected in lines[0]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A folder holding every kind of wrong thing a user can point at."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "adir").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("RGB", (64, 64), "white").save(tmp_path / "small.png")
    (tmp_path / "huge.png").write_bytes(png_header_only(30000, 30000))
    make_read_only(tmp_path / "locked", monkeypatch)
    return tmp_path


CASES = {
    "init image of 30000x30000": (
        [*GENERATE, "--mode", "img2img", "--init", "huge.png"],
        "The init image 'huge.png' has more than 178,956,970 pixels, too many to open",
    ),
    "mask of 30000x30000": (
        [*GENERATE, "--mode", "inpaint", "--init", "small.png", "--mask", "huge.png"],
        "The mask 'huge.png' has more than",
    ),
    "control image of 30000x30000": (
        [*GENERATE, "--mode", "controlnet-canny", "--control", "huge.png"],
        "The control image 'huge.png' has more than",
    ),
    "out in a read-only folder": (
        [*GENERATE, "-o", "locked/x.png"],
        "Cannot write locked/x.png: you may not write in locked; choose another folder.",
    ),
    "out in a new folder inside a read-only one": (
        [*GENERATE, "-o", "locked/new/x.png"],
        "Cannot write locked/new/x.png: you may not write in locked",
    ),
    "out naming a folder": ([*GENERATE, "-o", "adir"], "Cannot write adir: adir is a folder"),
    "out whose parent is a file": (
        [*GENERATE, "-o", "afile/x.png"],
        "Cannot write afile/x.png: afile is a file, not a folder",
    ),
    "out whose grandparent is a file": (
        [*GENERATE, "-o", "afile/sub/x.png"],
        "afile is a file, not a folder",
    ),
    "out with a name too long for the disk": (
        [*GENERATE, "-o", "n" * 300 + ".png"],
        "the name is too long; choose a shorter one.",
    ),
    "out in a folder whose name is too long": (
        [*GENERATE, "-o", "adir/" + "n" * 300 + "/x.png"],
        "the name is too long; choose a shorter one.",
    ),
    "out with an unknown suffix": (
        [*GENERATE, "-o", "x.gif"],
        "x.gif names no image format this app writes; end the name with .png, .jpg, .jpeg",
    ),
    "out without a suffix": ([*GENERATE, "-o", "picture"], "picture names no image format"),
    "cache-dir a file, generate": (
        [*GENERATE, "--cache-dir", "afile"],
        "Cannot use the cache folder afile: afile is a file, not a folder",
    ),
    "cache-dir a file, cache stats": (
        ["cache", "stats", "--cache-dir", "afile"],
        "Cannot use the cache folder afile",
    ),
    "cache-dir a file, cache clear": (
        ["cache", "clear", "--cache-dir", "afile"],
        "Cannot use the cache folder afile",
    ),
    "cache clear in a read-only folder": (
        ["cache", "clear", "--cache-dir", "locked"],
        "Cannot use the cache folder locked: you may not write in locked",
    ),
    "missing prompts file": (
        [*GENERATE, "--prompts-file", "missing.txt"],
        "The prompt file 'missing.txt' does not exist",
    ),
    "prompts file is a folder": ([*GENERATE, "--prompts-file", "adir"], "'adir'"),
    "init image is a folder": (
        [*GENERATE, "--mode", "img2img", "--init", "adir"],
        "The init image 'adir' is a folder",
    ),
    "init image is not an image": (
        [*GENERATE, "--mode", "img2img", "--init", "notes.txt"],
        "The init image 'notes.txt' is not an image",
    ),
    "keyword list is a folder": ([*GENERATE, "--safety-keywords", "adir"], "'adir'"),
    "make-tiny-model into a file": (["make-tiny-model", "afile"], "afile is a file"),
    "make-tiny-model below a file": (
        ["make-tiny-model", "afile/model"],
        "afile is a file, not a folder",
    ),
    "make-tiny-model in a read-only folder": (
        ["make-tiny-model", "locked/model"],
        "Cannot write locked/model: you may not write in locked",
    ),
}
# `studio params`: the whole sentence each prints.
PARAMS_CASES = {
    "a missing file": ("missing.png", "missing.png does not exist."),
    "a folder": ("adir", "adir is a folder, not an image."),
    "a text file": ("notes.txt", "notes.txt is not an image this app can read."),
    "a picture without a recipe": ("small.png", "small.png holds no generation parameters."),
    "a 30000x30000 PNG without a recipe": (
        "huge.png",
        "huge.png holds no generation parameters.",
    ),
    "a cut-off JPEG": (
        "half.jpg",
        "half.jpg is damaged, so its parameters could not be read (Truncated File Read).",
    ),
}


@pytest.mark.parametrize(("args", "expected"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_sentence(workdir, capsys, args, expected):
    before = sorted(os.listdir(workdir))
    code = main(args)
    out, err = capsys.readouterr()
    assert_one_sentence(code, out, err, expected)
    assert sorted(os.listdir(workdir)) == before


@pytest.mark.parametrize(("name", "sentence"), PARAMS_CASES.values(), ids=PARAMS_CASES.keys())
def test_params_of_a_file_without_a_readable_recipe_prints_one_sentence(
    workdir, capsys, name, sentence
):
    (workdir / "half.jpg").write_bytes(_jpeg_bytes()[:300])
    assert main(["params", name]) == 1
    assert capsys.readouterr() == ("", f"error: {sentence}\n")


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_full_disk_while_saving_is_a_sentence_and_leaves_nothing(
    sd_model, workdir, monkeypatch, capsys
):
    fill_disk(monkeypatch)
    args = ["generate", "-p", "x", "-m", str(sd_model), "--steps", "1", "--no-cache", "-q"]
    code = main([*args, "-o", "out/full.png"])
    out, err = capsys.readouterr()
    assert_one_sentence(
        code,
        out,
        err,
        "Cannot write out/full.png: the disk is full; free some space and try again.",
    )
    assert os.listdir(workdir / "out") == [] and temp_files(workdir / "out") == []


def test_a_disk_too_full_for_the_images_is_refused_before_generating(workdir, monkeypatch, capsys):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=5000))
    code = main([*GENERATE, "--width", "512", "--height", "512", "-o", "x.png"])
    out, err = capsys.readouterr()
    assert_one_sentence(code, out, err, "Cannot write x.png: its disk has 0.0 MB free")


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--cache-dir", "afile", "--port", "0"],
        ["generate", "-p", "x", "--mode", "img2img", "--init", "huge.png", "-o", "x.png"],
        ["generate", "-p", "x", "-o", "afile/x.png"],
    ],
    ids=["serve with cache-dir a file", "generate with a huge init", "generate out below a file"],
)
def test_the_installed_command_prints_no_traceback(workdir, args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "studio", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_sentence(run.returncode, run.stdout, run.stderr, "")


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_CACHE": str(tmp_path / "hub")}
    run = subprocess.Popen(
        [sys.executable, "-m", "studio", "models"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run.stdout.close()  # as `studio models | head -1` is once head has its line
    err = run.stderr.read().decode()
    assert run.wait(timeout=120) == 141
    assert err == ""  # it said 'error: Broken pipe; check the path and try again.'

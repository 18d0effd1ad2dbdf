"""The double-click app: the self-test that the frozen app runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.engine.metadata import save_png
from studio.selftest import image_problems, png_text_chunks

ROOT = Path(__file__).resolve().parent.parent
INFOTEXT = "a lighthouse\nNegative prompt: fog\nSteps: 4, Sampler: Euler, Seed: 7, Size: 32x24"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(STUDIO_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen")
    env.update(extra)
    return env


def _noise(width: int = 32, height: int = 24) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# -- checking a generated picture ---------------------------------------------------------------


def test_a_good_picture_passes(tmp_path):
    path = save_png(_noise(), tmp_path / "ok.png", INFOTEXT)
    assert png_text_chunks(path)["parameters"] == INFOTEXT
    assert image_problems(path, 32, 24, "a lighthouse", 7) == []


@pytest.mark.parametrize(
    ("image", "width", "prompt", "seed", "problem"),
    [
        (Image.new("RGB", (32, 24), (0, 0, 0)), 32, "a lighthouse", 7, "blank"),
        (Image.new("RGB", (32, 24), (90, 120, 200)), 32, "a lighthouse", 7, "blank"),
        (_noise(), 64, "a lighthouse", 7, "expected 64×24"),
        (_noise(), 32, "a castle", 7, "do not hold the prompt"),
        (_noise(), 32, "a lighthouse", 8, "Seed: 8"),
    ],
)
def test_a_wrong_picture_is_named(tmp_path, image, width, prompt, seed, problem):
    path = save_png(image, tmp_path / "bad.png", INFOTEXT)
    problems = image_problems(path, width, 24, prompt, seed)
    assert any(problem in p for p in problems), problems


def test_parameters_must_be_a_text_chunk(tmp_path):
    # iTXt is what some tools misread: the self-test insists on tEXt.
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", INFOTEXT)
    path = tmp_path / "itxt.png"
    _noise().save(path, pnginfo=info)
    assert image_problems(path, 32, 24, "a lighthouse", 7) == ["no 'parameters' tEXt chunk"]


def test_a_damaged_png_is_reported(tmp_path):
    path = save_png(_noise(), tmp_path / "damaged.png", INFOTEXT)
    data = bytearray(path.read_bytes())
    data[data.index(b"tEXt") + 8] ^= 0xFF  # inside the chunk: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged tEXt"):
        png_text_chunks(path)
    assert "not a readable PNG" in image_problems(path, 32, 24, "a lighthouse", 7)[0]
    (tmp_path / "missing.png").unlink(missing_ok=True)
    assert "was not written" in image_problems(tmp_path / "missing.png", 32, 24, "x", 1)[0]


# -- the self-test, unfrozen -------------------------------------------------------------------


def _self_test(command: list[str], tmp_path: Path, env: dict[str, str], timeout: float = 600):
    report = tmp_path / "report" / "self-test.json"
    done = subprocess.run(
        [*command, "--self-test", "--self-test-report", str(report)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert report.is_file(), f"no report; rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done, json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_self_test_generates_and_checks_an_image(tmp_path):
    from studio.selftest import default_model

    done, report = _self_test([sys.executable, "-m", "studio"], tmp_path, _env(tmp_path))
    assert done.returncode == 0, report
    assert report["ok"] and report["reason"] is None
    assert report["frozen"] is False
    assert report["model"] == default_model()
    names = {c["name"]: c for c in report["checks"]}
    for name in ("window", "window before torch", "engine", "saved", "image", "tls certificates",
                 "qt platform plugins", "data folder"):
        assert names[name]["ok"], names[name]
    assert "step events" in names["engine"]["detail"]
    # The picture and a screenshot of the window are kept beside the report.
    image = Path(report["image"])
    assert image.parent == tmp_path / "report"
    assert image_problems(image, *Image.open(image).size, "self-test", 1234) == []
    assert Image.open(report["screenshot"]).size[0] > 300
    assert "self-test passed" in done.stdout


def test_self_test_fails_with_a_reason(tmp_path):
    # A data folder that cannot be created: the window cannot start.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = _env(tmp_path, STUDIO_DATA_DIR=str(blocker / "data"))
    done, report = _self_test([sys.executable, "-m", "studio"], tmp_path, env, timeout=120)
    assert done.returncode == 1
    assert report["ok"] is False
    assert report["reason"].startswith("The app could not start")
    assert "self-test FAILED" in done.stdout


def test_self_test_without_report_prints_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "studio", "--self-test"],
        env=_env(tmp_path, STUDIO_DATA_DIR=str(blocker / "x")),
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert report["ok"] is False and report["checks"] == []


def test_a_self_test_killed_midway_leaves_a_report_saying_so(tmp_path):
    # A native crash (a segfault in torch's libraries) ends the process at once.
    report = tmp_path / "report.json"
    code = (
        "import os, sys, studio.gui, studio.selftest\n"
        "studio.gui.run_gui = lambda **kw: os._exit(9)\n"
        f"studio.selftest.run_self_test({str(report)!r})"
    )
    env = _env(tmp_path, STUDIO_LOG_FILE=str(tmp_path / "last-run.log"))
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert done.returncode == 9
    left = json.loads(report.read_text())
    assert left["ok"] is False
    assert "ended before the self-test finished" in left["reason"]
    assert str(tmp_path / "last-run.log") in left["reason"]

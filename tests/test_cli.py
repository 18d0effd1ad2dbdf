"""`studio` on the command line: help without torch, headless generation, errors
as sentences with no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from studio.app import main
from studio.engine.image_parameters import read_parameters
from studio.engine.infotext import parse_infotext


def test_help_answers_without_importing_torch_or_qt():
    code = (
        "import sys\n"
        "from studio.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'diffusers', 'PySide6') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "generate" in out.stdout and "HEAVY []" in out.stdout


def test_generate_writes_a_png_carrying_its_parameters(sd_model, tmp_path, capsys):
    out = tmp_path / "cat.png"
    code = main(
        [
            "generate",
            "--prompt",
            "a cat, watercolor",
            "--negative",
            "blurry",
            "--model",
            str(sd_model),
            "--steps",
            "2",
            "--seed",
            "42",
            "--guidance",
            "6.5",
            "--scheduler",
            "euler-a",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert Image.open(out).size == (64, 64)
    parsed = parse_infotext(read_parameters(out))
    assert parsed.prompt == "a cat, watercolor" and parsed.negative_prompt == "blurry"
    assert parsed.params["Seed"] == "42" and parsed.params["Sampler"] == "Euler a"
    assert parsed.params["CFG scale"] == "6.5" and parsed.params["Steps"] == "2"
    captured = capsys.readouterr()
    assert "(seed 42)" in captured.out and "step 2/2" in captured.err
    assert "\r" not in captured.err  # not a terminal: plain lines for a log


def test_batch_writes_numbered_files_with_consecutive_seeds(sd_model, tmp_path):
    code = main(
        [
            "generate",
            "-p",
            "x",
            "-m",
            str(sd_model),
            "--steps",
            "1",
            "--seed",
            "9",
            "--batch",
            "2",
            "-q",
            "-o",
            str(tmp_path / "set.png"),
        ]
    )
    assert code == 0
    seeds = [
        parse_infotext(read_parameters(tmp_path / f"set-{i}.png")).params["Seed"] for i in (1, 2)
    ]
    assert seeds == ["9", "10"]


def test_inpaint_from_files(sd_model, tmp_path, photo, square_mask):
    photo.save(tmp_path / "photo.png")
    square_mask.save(tmp_path / "mask.png")
    code = main(
        [
            "generate",
            "-p",
            "a hat",
            "-m",
            str(sd_model),
            "--mode",
            "inpaint",
            "--steps",
            "2",
            "--init",
            str(tmp_path / "photo.png"),
            "--mask",
            str(tmp_path / "mask.png"),
            "--inpaint-area",
            "masked",
            "-q",
            "-o",
            str(tmp_path / "hat.png"),
        ]
    )
    assert code == 0
    params = parse_infotext(read_parameters(tmp_path / "hat.png")).params
    assert params["Inpaint area"] == "Only masked" and params["Mode"] == "inpaint"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "error: The number of steps must be between 1 and 150"),
        (["--mode", "img2img"], "error: img2img needs an init image"),
        (
            ["--mode", "img2img", "--init", "nope.png"],
            "error: The init image 'nope.png' does not exist",
        ),
        (
            ["--model", "sdxl"],
            "error: Model 'sdxl' (Stable Diffusion XL 1.0) is not on this machine",
        ),
    ],
)
def test_errors_are_one_sentence_and_exit_1(args, message, capsys, tmp_path):
    code = main(["generate", "-p", "x", "-q", "-o", str(tmp_path / "x.png"), *args])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_params_prints_what_a_png_holds(sd_model, tmp_path, capsys):
    main(
        [
            "generate",
            "-p",
            "a boat",
            "-m",
            str(sd_model),
            "--steps",
            "1",
            "--seed",
            "3",
            "-q",
            "-o",
            str(tmp_path / "boat.png"),
        ]
    )
    capsys.readouterr()
    assert main(["params", str(tmp_path / "boat.png")]) == 0
    assert capsys.readouterr().out.startswith("a boat\nSteps: 1,")
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert main(["params", str(tmp_path / "plain.png")]) == 1


def test_make_tiny_model_writes_a_loadable_folder(tmp_path, capsys):
    folder = tmp_path / "tiny"
    assert main(["make-tiny-model", str(folder)]) == 0
    assert (folder / "model_index.json").is_file()
    assert main(["make-tiny-model", str(folder)]) == 1  # never overwrites
    assert "exists and is not empty" in capsys.readouterr().err


def test_models_lists_the_catalog_with_status(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "sd-turbo" in out and "not downloaded" in out and "builds locally" in out
    demo = next(line for line in out.splitlines() if line.startswith("demo "))
    assert "bundled" in demo and "[bundled]" in demo

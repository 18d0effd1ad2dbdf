"""The wheel is the whole app: installed into a fresh environment, away from
the checkout, `studio generate` with no --model draws with the bundled demo
model (its weights and icons are package data, not files beside a checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from studio.paths import resources_dir

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the dev tools bring setuptools, and CI stays offline here.
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "--quiet", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = out.glob("diffusion_studio-*.whl")
    return found


def test_the_wheel_holds_every_resource(wheel: Path) -> None:
    shipped = {
        path.relative_to(resources_dir().parent.parent).as_posix()
        for path in resources_dir().rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "studio/resources/models/demo/unet/diffusion_pytorch_model.safetensors" in shipped
    assert shipped <= set(zipfile.ZipFile(wheel).namelist())


def test_the_installed_wheel_generates_with_its_default_model(wheel: Path, tmp_path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            text=True,
        ).strip()
    )
    # The dependencies (torch, diffusers, ...) come from this environment by a
    # plain path entry; its .pth files, the checkout's editable hook among them,
    # are not run, so `studio` can only come from the wheel.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run([*install, "--quiet", str(wheel)], check=True, timeout=600)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(STUDIO_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    where = subprocess.run(
        [str(python), "-c", "import studio; print(studio.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout

    studio = venv / "bin" / "studio"
    command = [str(studio), "generate", "-p", "a large yellow star on a black background"]
    done = subprocess.run(
        [*command, "--seed", "8", "--no-cache", "-o", "star.png"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with Image.open(elsewhere / "star.png") as image:
        assert image.size == (64, 64)  # the demo model's native size
        assert "Model: demo" in image.info["parameters"]

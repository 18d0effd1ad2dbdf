"""Shared fixtures: tiny random-weight models built once per test session.

The environment is fixed before anything imports huggingface_hub or Qt, so a
developer's own hub cache and display never change what the tests see."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_SANDBOX = Path(tempfile.mkdtemp(prefix="studio-tests-"))
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = str(_SANDBOX / "hub")
os.environ["STUDIO_DATA_DIR"] = str(_SANDBOX / "data")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


@pytest.fixture(autouse=True)
def own_hub_cache(monkeypatch, tmp_path_factory):
    """Each test starts from an empty hub cache of its own: a model one test puts
    there (or a download thread that outlives its test) never shows in another."""
    import huggingface_hub.constants as constants

    folder = tmp_path_factory.mktemp("hub-cache")
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="session")
def sd_model(tiny_dir) -> Path:
    from studio.engine.tiny import save_tiny_model

    return save_tiny_model(tiny_dir / "tiny-sd")


@pytest.fixture(scope="session")
def sdxl_model(tiny_dir) -> Path:
    from studio.engine.tiny import save_tiny_model

    return save_tiny_model(tiny_dir / "tiny-sdxl", sdxl=True)


@pytest.fixture(scope="session")
def sd_inpaint_model(tiny_dir) -> Path:
    from studio.engine.tiny import save_tiny_model

    return save_tiny_model(tiny_dir / "tiny-sd-inpainting", inpaint_unet=True)


@pytest.fixture(scope="session")
def sd_controlnet(tiny_dir) -> Path:
    from studio.engine.tiny import save_tiny_controlnet

    return save_tiny_controlnet(tiny_dir / "tiny-controlnet")


@pytest.fixture(scope="session")
def sdxl_controlnet(tiny_dir) -> Path:
    from studio.engine.tiny import save_tiny_controlnet

    return save_tiny_controlnet(tiny_dir / "tiny-controlnet-sdxl", sdxl=True)


@pytest.fixture
def store():
    from studio.engine.pipelines import PipelineStore

    return PipelineStore()


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A 64×64 picture with structure: a red disc on blue, a yellow bar."""
    image = Image.new("RGB", (64, 64), (30, 60, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 40, 40), fill=(220, 30, 30))
    draw.rectangle((44, 10, 56, 54), fill=(240, 220, 40))
    return image


@pytest.fixture(scope="session")
def square_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((20, 20, 43, 43), fill=255)
    return mask


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback stand-in for the hub (tests/hub_server.py), with the real
    huggingface_hub client pointed at it and online, and a cache of its own."""
    import huggingface_hub.constants as constants
    from hub_server import FakeHub

    with FakeHub() as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            server.url + "/{repo_id}/resolve/{revision}/{filename}",
        )
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


@pytest.fixture
def memory_keyring():
    """Secrets kept in memory for the test, never in the machine's keyring."""
    import keyring
    from keyrings import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)

"""From the canvas to a request: the notice for a size far from the model's."""

from __future__ import annotations

import pytest

from studio.engine.catalog import ModelDefaults
from studio.engine.request import GenerationRequest, Mode
from studio.ui.canvas_request import native_size_notice

DEMO = ModelDefaults(12, 4.0, None, 64, 64)
SDXL = ModelDefaults(30, 6.0, None, 1024, 1024)


@pytest.mark.parametrize(
    ("native", "width", "height", "starts"),
    [
        (DEMO, 64, 64, None),
        (DEMO, 128, 128, None),  # twice the side: still close enough
        (DEMO, 512, 512, "demo was trained at 64×64; 512×512 is 64× its pixels"),
        (DEMO, 136, 128, "demo was trained at 64×64; 136×128 is 4× its pixels"),
        (SDXL, 512, 512, None),  # half the side: still close enough
        (SDXL, 256, 256, "demo was trained at 1024×1024; 256×256 gives it too few pixels"),
        (SDXL, 1024, 768, None),
        (None, 4096, 4096, None),  # a model that is not usable says so elsewhere
    ],
)
def test_a_size_far_from_the_models_own_is_named(native, width, height, starts):
    request = GenerationRequest("x", model="demo", width=width, height=height)
    notice = native_size_notice(request, native)
    if starts is None:
        assert notice is None
    else:
        assert notice.startswith(starts)


def test_the_notice_says_where_the_size_is_set():
    txt2img = GenerationRequest("x", model="/models/my-sd15", width=1024, height=1024)
    assert native_size_notice(txt2img, DEMO).endswith("use 64×64 (the Size fields).")
    assert native_size_notice(txt2img, DEMO).startswith("my-sd15 was trained at 64×64")
    img2img = txt2img.replace(mode=Mode.IMG2IMG)
    assert native_size_notice(img2img, DEMO).endswith("use 64×64 (File → New canvas).")

"""Validation at the boundary: every bad request is refused with a sentence."""

from __future__ import annotations

import pytest
from PIL import Image

from studio.engine.errors import RequestError
from studio.engine.request import (
    GenerationRequest,
    LoraSpec,
    Mode,
    check_denoising_steps,
)


def _rgb(w: int = 64, h: int = 64) -> Image.Image:
    return Image.new("RGB", (w, h), (10, 20, 30))


def _mask(w: int = 64, h: int = 64, value: int = 255) -> Image.Image:
    return Image.new("L", (w, h), value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "outpaint"}, "Unknown mode 'outpaint'"),
        ({"model": "  "}, "No model is chosen"),
        ({"scheduler": "heun"}, "Unknown scheduler 'heun'"),
        ({"steps": 0}, "number of steps must be between 1 and 150"),
        ({"steps": 151}, "number of steps must be between 1 and 150"),
        ({"steps": 2.5}, "The number of steps must be a whole number"),
        ({"guidance_scale": -1.0}, "guidance scale (CFG) must be between 0 and 30"),
        ({"guidance_scale": 31}, "guidance scale (CFG) must be between 0 and 30"),
        ({"strength": 1.5}, "strength must be between 0 and 1"),
        ({"seed": -5}, "Leave it empty for a random seed"),
        ({"seed": 2**64}, "seed must be between"),
        ({"batch_count": 0}, "batch count must be between 1 and 16"),
        ({"batch_count": 17}, "batch count must be between 1 and 16"),
        ({"width": 32}, "width must be between 64 and 4096"),
        ({"height": 5000}, "height must be between 64 and 4096"),
        ({"width": "512"}, "width must be a whole number"),
        ({"canny_low": 200, "canny_high": 100}, "must not exceed the high one"),
        ({"canny_high": 300}, "canny high threshold must be between 0 and 255"),
        ({"controlnet_scale": 3.0}, "ControlNet conditioning scale must be between 0 and 2"),
        ({"mask_blur": -1}, "mask feather must be between"),
        ({"inpaint_context": "region"}, "Unknown inpaint context 'region'"),
        ({"prompt": None}, "prompt and negative prompt must be text"),
    ],
)
def test_bad_fields_are_refused_with_a_sentence(changes, message):
    # An unknown mode or inpaint context is refused as the request is made.
    with pytest.raises(RequestError) as caught:
        GenerationRequest(prompt="a cat").replace(**changes).validated()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "images", "message"),
    [
        (Mode.IMG2IMG, {}, "img2img needs an init image"),
        (Mode.INPAINT, {}, "inpaint needs an init image"),
        (Mode.INPAINT, {"init_image": _rgb()}, "Inpainting needs a mask"),
        (Mode.INPAINT, {"init_image": _rgb(), "mask_image": _mask(value=0)}, "The mask is empty"),
        (
            Mode.INPAINT,
            {"init_image": _rgb(64, 64), "mask_image": _mask(64, 72)},
            "The mask is 64×72 but the image is 64×64",
        ),
        (Mode.CONTROLNET_CANNY, {}, "ControlNet canny needs a control image"),
        (Mode.IMG2IMG, {"init_image": "photo.png"}, "The init image is not an image"),
    ],
)
def test_missing_or_mismatched_images_are_refused(mode, images, message):
    with pytest.raises(RequestError) as caught:
        GenerationRequest("a cat", mode=mode, **images).validated()
    assert message in str(caught.value)


def test_sizes_are_snapped_to_multiples_of_8_with_a_notice():
    request, notices = GenerationRequest("x", width=513, height=100).validated()
    assert (request.width, request.height) == (512, 104)
    assert any("Width 513 was rounded to 512" in n for n in notices)
    assert any("Height 100 was rounded to 104" in n for n in notices)


def test_init_image_sets_the_size_and_is_converted_to_rgb():
    init = Image.new("RGBA", (100, 60))
    request, _ = GenerationRequest("x", mode=Mode.IMG2IMG, init_image=init).validated()
    assert (request.width, request.height) == (104, 64)
    assert request.init_image.mode == "RGB"


def test_txt2img_leaves_model_defaults_open():
    request, notices = GenerationRequest("x").validated()
    assert request.width is None and request.steps is None and request.seed is None
    assert notices == []


def test_controlnet_takes_edges_from_the_init_image_when_no_control_is_given():
    request, notices = GenerationRequest(
        "x", mode=Mode.CONTROLNET_CANNY, init_image=_rgb()
    ).validated()
    assert request.control_image is not None
    assert "edges are taken from the init image" in notices[0]


def test_a_faint_but_painted_mask_is_not_empty():
    request, _ = GenerationRequest(
        "x", mode=Mode.INPAINT, init_image=_rgb(), mask_image=_mask(value=40)
    ).validated()
    assert request.mask_image.mode == "L"


def test_lora_must_be_an_existing_safetensors_file(tmp_path):
    with pytest.raises(RequestError, match=r"is not a \.safetensors file"):
        GenerationRequest("x", loras=(LoraSpec(str(tmp_path / "style.ckpt")),)).validated()
    with pytest.raises(RequestError, match="does not exist"):
        GenerationRequest("x", loras=(LoraSpec(str(tmp_path / "style.safetensors")),)).validated()
    path = tmp_path / "style.safetensors"
    path.write_bytes(b"")
    with pytest.raises(RequestError, match="weight of LoRA 'style'"):
        GenerationRequest("x", loras=(LoraSpec(str(path), 9.0),)).validated()


def test_strength_times_steps_must_leave_a_step():
    request = GenerationRequest("x", mode=Mode.IMG2IMG, init_image=_rgb(), steps=2, strength=0.3)
    with pytest.raises(RequestError, match="no denoising step would run"):
        check_denoising_steps(request)
    check_denoising_steps(request.replace(strength=0.5))  # 1 step: fine

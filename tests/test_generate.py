"""Every mode end to end through the real loading code and `generate`, on tiny
random-weight SD and SDXL models saved to disk."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.engine.errors import EngineError, JobCancelledError
from studio.engine.generate import generate
from studio.engine.infotext import SAMPLER_NAMES, parse_infotext
from studio.engine.request import GenerationRequest, LoraSpec, Mode
from studio.engine.resolve import resolve_model


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _request(model, **changes) -> GenerationRequest:
    base = GenerationRequest("a red circle on a blue background", model=str(model), steps=3, seed=7)
    return base.replace(**changes)


@pytest.fixture(params=["sd", "sdxl"])
def family(request, sd_model, sdxl_model, sd_controlnet, sdxl_controlnet):
    """(model folder, matching ControlNet folder) for each architecture."""
    if request.param == "sd":
        return sd_model, sd_controlnet
    return sdxl_model, sdxl_controlnet


@pytest.mark.slow
def test_txt2img_returns_images_seeds_and_parameters(store, family):
    model, _ = family
    steps = []
    result = generate(
        _request(model, batch_count=2, width=80, height=64),
        store,
        on_step=lambda info: steps.append(info),
    )
    assert [im.size for im in result.images] == [(80, 64), (80, 64)]
    assert result.seeds == (7, 8)
    assert [s.step for s in steps] == [1, 2, 3]
    assert all(s.total == 3 for s in steps)
    # previews are latent-sized RGB images (the tiny VAE downsamples by 2)
    assert steps[-1].preview.size == (40, 32) and steps[-1].preview.mode == "RGB"
    assert result.request.scheduler == "euler"
    parsed = parse_infotext(result.infotexts[1])
    assert parsed.prompt == "a red circle on a blue background"
    assert parsed.params["Seed"] == "8"
    assert parsed.params["Size"] == "80x64"
    assert parsed.params["Steps"] == "3"
    assert parsed.params["Model"] == model.name


@pytest.mark.slow
def test_same_seed_gives_the_same_image_and_another_seed_does_not(store, family):
    model, _ = family
    first = generate(_request(model), store).images[0]
    again = generate(_request(model), store).images[0]
    other = generate(_request(model, seed=8), store).images[0]
    assert np.array_equal(_pixels(first), _pixels(again))
    assert not np.array_equal(_pixels(first), _pixels(other))


def test_each_image_of_a_batch_is_reproducible_from_its_own_seed(store, sd_model):
    batch = generate(_request(sd_model, batch_count=2), store)
    alone = generate(_request(sd_model, seed=batch.seeds[1]), store).images[0]
    assert np.abs(_pixels(batch.images[1]) - _pixels(alone)).max() <= 2


def test_random_seed_is_chosen_and_reported(store, sd_model):
    result = generate(_request(sd_model, seed=None), store)
    assert isinstance(result.request.seed, int)
    assert result.seeds == (result.request.seed,)
    assert f"Seed: {result.request.seed}" in result.infotexts[0]


def test_img2img_follows_the_init_image(store, family, photo):
    model, _ = family
    weak = generate(_request(model, mode=Mode.IMG2IMG, init_image=photo, strength=0.34), store)
    strong = generate(_request(model, mode=Mode.IMG2IMG, init_image=photo, strength=1.0), store)
    assert weak.images[0].size == photo.size
    distance = lambda im: np.abs(_pixels(im) - _pixels(photo)).mean()  # noqa: E731
    assert distance(weak.images[0]) < distance(strong.images[0])
    assert "Denoising strength: 0.34" in weak.infotexts[0]


@pytest.mark.slow
@pytest.mark.parametrize("context", ["whole", "masked"])
def test_inpaint_keeps_every_pixel_outside_the_feathered_mask(
    store, family, photo, square_mask, context
):
    model, _ = family
    result = generate(
        _request(
            model,
            mode=Mode.INPAINT,
            init_image=photo,
            mask_image=square_mask,
            mask_blur=4,
            strength=1.0,
            inpaint_context=context,
            inpaint_padding=8,
        ),
        store,
    )
    out, src = _pixels(result.images[0]), _pixels(photo)
    from studio.engine.masking import feather

    untouched = np.asarray(feather(square_mask, 4)) == 0
    assert untouched.sum() > 2000
    assert np.array_equal(out[untouched], src[untouched])
    inside = np.asarray(square_mask) == 255
    assert np.abs(out[inside] - src[inside]).mean() > 5  # the masked area did change


def test_only_masked_inpainting_reports_the_region_it_previews(store, sd_model, photo, square_mask):
    regions = []
    generate(
        _request(
            sd_model,
            mode=Mode.INPAINT,
            init_image=photo,
            mask_image=square_mask,
            inpaint_context="masked",
            inpaint_padding=8,
            mask_blur=0,
        ),
        store,
        on_step=lambda info: regions.append(info.region),
    )
    assert set(regions) == {(12, 12, 52, 52)}


def test_inpainting_model_with_a_9_channel_unet(store, sd_inpaint_model, photo, square_mask):
    result = generate(
        _request(sd_inpaint_model, mode=Mode.INPAINT, init_image=photo, mask_image=square_mask),
        store,
    )
    assert result.images[0].size == (64, 64)
    with pytest.raises(EngineError, match="is an inpainting model"):
        generate(_request(sd_inpaint_model), store)


@pytest.mark.slow
def test_controlnet_canny_changes_with_the_edges(store, family, photo):
    model, controlnet = family
    request = _request(
        model,
        mode=Mode.CONTROLNET_CANNY,
        control_image=photo,
        controlnet=str(controlnet),
        controlnet_scale=2.0,
    )
    with_edges = generate(request, store)
    blank = generate(request.replace(control_image=Image.new("RGB", (64, 64))), store)
    assert with_edges.images[0].size == (64, 64)
    assert not np.array_equal(_pixels(with_edges.images[0]), _pixels(blank.images[0]))
    params = parse_infotext(with_edges.infotexts[0]).params
    assert f"Model: {controlnet.name}," in params["ControlNet 0"]
    assert "Threshold A: 100, Threshold B: 200" in params["ControlNet 0"]


@pytest.mark.slow
def test_switching_modes_reuses_the_loaded_weights(store, family, photo, square_mask):
    model, controlnet = family
    generate(_request(model), store)
    base = store.pipeline_for(resolve_model(str(model)), Mode.TXT2IMG)
    loads = store.loads
    modules = (base.unet, base.vae, base.text_encoder)
    generate(_request(model, mode=Mode.IMG2IMG, init_image=photo), store)
    generate(_request(model, mode=Mode.INPAINT, init_image=photo, mask_image=square_mask), store)
    generate(
        _request(
            model, mode=Mode.CONTROLNET_CANNY, control_image=photo, controlnet=str(controlnet)
        ),
        store,
    )
    assert store.loads == loads + 1  # only the ControlNet itself was read from disk
    for mode in (Mode.IMG2IMG, Mode.INPAINT):
        pipe = store.pipeline_for(resolve_model(str(model)), mode)
        assert type(pipe).__name__ != type(base).__name__
        assert all(
            a is b for a, b in zip((pipe.unet, pipe.vae, pipe.text_encoder), modules, strict=True)
        )


@pytest.mark.parametrize(
    "scheduler", ["euler", "euler-a", "dpm++2m", "dpm++2m-karras", "ddim", "lcm"]
)
def test_every_scheduler_runs_without_reloading(store, sd_model, scheduler):
    generate(_request(sd_model), store)
    loads = store.loads
    result = generate(_request(sd_model, scheduler=scheduler), store)
    assert store.loads == loads
    assert result.request.scheduler == scheduler
    assert f"Sampler: {SAMPLER_NAMES[scheduler][0]}," in result.infotexts[0]


def test_schedulers_give_different_images(store, sd_model):
    a = generate(_request(sd_model, scheduler="euler-a"), store).images[0]
    b = generate(_request(sd_model, scheduler="ddim"), store).images[0]
    assert not np.array_equal(_pixels(a), _pixels(b))


@pytest.mark.slow
def test_cancel_mid_run_stops_at_the_next_step(store, sd_model):
    seen = []

    def on_step(info):
        seen.append(info.step)

    with pytest.raises(JobCancelledError):
        generate(
            _request(sd_model, steps=10),
            store,
            on_step=on_step,
            should_cancel=lambda: len(seen) >= 2,
        )
    assert seen == [1, 2]
    # the store is still usable afterwards
    assert generate(_request(sd_model), store).images[0].size == (64, 64)


def test_cancel_before_start_runs_no_step(store, sd_model):
    seen = []
    with pytest.raises(JobCancelledError):
        generate(_request(sd_model), store, on_step=seen.append, should_cancel=lambda: True)
    assert seen == []


@pytest.fixture(scope="session")
def tiny_lora(sd_model, tmp_path_factory):
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(str(sd_model / "unet"))
    torch.manual_seed(0)
    unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        )
    )
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(
        str(folder),
        unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
        weight_name="ink-style.safetensors",
    )
    return folder / "ink-style.safetensors"


@pytest.mark.slow
def test_lora_changes_the_image_and_is_unloaded_when_not_named(store, sd_model, tiny_lora):
    plain = generate(_request(sd_model), store)
    loads = store.loads
    styled = generate(_request(sd_model, loras=(LoraSpec(str(tiny_lora), 1.0),)), store)
    half = generate(_request(sd_model, loras=(LoraSpec(str(tiny_lora), 0.5),)), store)
    after = generate(_request(sd_model), store)
    assert store.loads == loads  # adapters never reload the base model
    p, s, h, a = (_pixels(r.images[0]) for r in (plain, styled, half, after))
    assert not np.array_equal(p, s)
    assert not np.array_equal(s, h)
    assert np.array_equal(p, a)
    assert 'Lora: "ink-style:1' in styled.infotexts[0] or "Lora: ink-style:1" in styled.infotexts[0]


def test_a_lora_for_another_architecture_is_a_clear_error(store, sdxl_model, tiny_lora):
    with pytest.raises(EngineError, match="LoRA 'ink-style' could not be applied"):
        generate(_request(sdxl_model, loras=(LoraSpec(str(tiny_lora)),)), store)
    # the model still works without it
    assert generate(_request(sdxl_model), store).images[0].size == (64, 64)


@pytest.mark.slow
def test_model_defaults_fill_what_the_request_leaves_open(store, sd_model):
    result = generate(GenerationRequest("x", model=str(sd_model), seed=1), store)
    r = result.request
    assert (r.width, r.height) == (64, 64)  # the tiny UNet's sample size × VAE factor
    assert r.steps == 25 and r.guidance_scale == 7.0

"""Every sampler on every model family, txt2img and img2img down to one step.

The families' schedules are the real scheduler configs of the catalog's hub
models (tests/fixtures/scheduler_configs/<catalog name>.json, copied from each
repo's scheduler/scheduler_config.json), the bundled demo model's and the tiny
test models'. They run through the real pipelines on tiny random weights with
each config in place, and on the demo model's own weights."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.engine.catalog import CATALOG, Kind
from studio.engine.errors import RequestError
from studio.engine.generate import generate
from studio.engine.infotext import SAMPLER_NAMES, request_from_infotext
from studio.engine.options import ServiceOptions
from studio.engine.request import SCHEDULERS, GenerationRequest, Mode
from studio.engine.schedulers import SAMPLERS, make_scheduler, scheduler_id_of
from studio.paths import bundled_models_dir
from training.judge import read

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "scheduler_configs"
HUB_FAMILIES = sorted(p.stem for p in FIXTURES.glob("*.json"))
FAMILIES = [*HUB_FAMILIES, "demo", "tiny"]
SDXL_FAMILIES = {"sdxl", "sdxl-turbo"}
# What each family's own scheduler is called here; sd15's PNDM has no name.
OWN_IDS = {
    "demo": "dpm++2m",
    "lcm-dreamshaper": "lcm",
    "sd-turbo": "euler",
    "sd15": None,
    "sd21": "ddim",
    "sdxl": "euler",
    "sdxl-turbo": "euler-a",
    "tiny": "euler",
}
PROMPT = "a large yellow star on a black background"


def _config(family: str, sd_model: Path | None = None) -> dict:
    if family == "demo":
        path = bundled_models_dir() / "demo" / "scheduler" / "scheduler_config.json"
    elif family == "tiny":
        assert sd_model is not None
        path = sd_model / "scheduler" / "scheduler_config.json"
    else:
        path = FIXTURES / f"{family}.json"
    return json.loads(path.read_text())


def _original(config: dict):
    import diffusers

    return getattr(diffusers, config["_class_name"]).from_config(config)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_the_fixtures_cover_every_hub_family_of_the_catalog():
    catalog = {
        name
        for name, entry in CATALOG.items()
        if entry.kind is Kind.PIPELINE and entry.hub_id and "inpainting" not in name
    }
    assert set(HUB_FAMILIES) == catalog
    assert set(SAMPLERS) == set(SCHEDULERS) == set(SAMPLER_NAMES)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_names_its_own_scheduler_and_an_id_means_one_configuration(family, sd_model):
    original = _original(_config(family, sd_model))
    assert scheduler_id_of(original) == OWN_IDS[family]
    for scheduler_id in SCHEDULERS:
        made = make_scheduler(scheduler_id, original)
        assert scheduler_id_of(made) == scheduler_id
        # what the model was trained with carries over to every sampler
        assert made.config.prediction_type == original.config.get("prediction_type", "epsilon")
        assert made.config.beta_schedule == original.config.beta_schedule
    # the model's own id builds the model's own scheduler, setting for setting
    if OWN_IDS[family] is not None:
        own = make_scheduler(OWN_IDS[family], original)
        assert type(own) is type(original) and dict(own.config) == dict(original.config)


def test_a_named_sampler_overrides_what_makes_another_one():
    """An Euler with Karras sigmas has no id of ours: asking for "euler" turns its
    Karras sigmas off, and "dpm++2m" makes a third-order solver second-order."""
    karras_euler = _original({**_config("sdxl"), "use_karras_sigmas": True})
    assert scheduler_id_of(karras_euler) is None
    assert make_scheduler("euler", karras_euler).config.use_karras_sigmas is False
    third_order = _original({**_config("demo"), "solver_order": 3})
    assert scheduler_id_of(third_order) is None
    assert make_scheduler("dpm++2m", third_order).config.solver_order == 2


def _denoise(scheduler, steps: int, strength: float | None) -> int:
    """Drives a scheduler the way diffusers' SD pipelines do (set_timesteps, for
    img2img the strength's tail of the schedule and its begin index, noise at the
    first timestep), with a stand-in model output; returns the steps run."""
    generator = torch.Generator().manual_seed(0)
    scheduler.set_timesteps(steps)
    timesteps = scheduler.timesteps
    if strength is None:
        latents = torch.randn(1, 4, 8, 8, generator=generator) * scheduler.init_noise_sigma
    else:
        start = max(steps - min(int(steps * strength), steps), 0) * scheduler.order
        timesteps = timesteps[start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        clean = torch.randn(1, 4, 8, 8, generator=generator)
        noise = torch.randn(1, 4, 8, 8, generator=generator)
        latents = scheduler.add_noise(clean, noise, timesteps[:1])
    for t in timesteps:
        scheduler.scale_model_input(latents, t)
        output = 0.1 * torch.randn(1, 4, 8, 8, generator=generator)
        latents = scheduler.step(output, t, latents, generator=generator).prev_sample
    assert torch.isfinite(latents).all(), f"{steps} steps, strength {strength}: not finite"
    return len(timesteps)


@pytest.mark.parametrize("scheduler_id", SCHEDULERS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_sampler_steps_through_every_family_schedule(family, scheduler_id, sd_model):
    """The demo's cosine schedule failed two of these: DPM++ 2M Karras read past
    its sigmas on the last step (IndexError) and Euler a gave NaN at 3 steps."""
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    original = _original(_config(family, sd_model))
    for steps in (1, 2, 3, 4, 5, 8, 12, 25):
        assert _denoise(make_scheduler(scheduler_id, original), steps, None) == steps
        for strength in (0.1, 0.3, 0.75):
            if int(steps * strength) >= 1:
                ran = _denoise(make_scheduler(scheduler_id, original), steps, strength)
                assert ran == int(steps * strength)


@pytest.fixture(scope="module")
def family_models(tmp_path_factory, sd_model, sdxl_model) -> dict[str, Path]:
    """The tiny SD / SDXL model with each hub family's scheduler in place: its
    config, and its class in model_index.json, which the loader goes by (the
    weights are linked, not copied)."""
    root = tmp_path_factory.mktemp("families")
    folders = {}
    for family in HUB_FAMILIES:
        base = sdxl_model if family in SDXL_FAMILIES else sd_model
        folder = root / family
        folder.mkdir()
        for item in base.iterdir():
            if item.name not in ("scheduler", "model_index.json"):
                (folder / item.name).symlink_to(item)
        config = _config(family)
        index = json.loads((base / "model_index.json").read_text())
        index["scheduler"] = ["diffusers", config["_class_name"]]
        (folder / "model_index.json").write_text(json.dumps(index))
        (folder / "scheduler").mkdir()
        (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
        folders[family] = folder
    return folders


def _run(store, model: str, scheduler_id: str | None, steps: int, **changes):
    seen = []
    request = GenerationRequest(PROMPT, model=model, seed=3, steps=steps, width=64, height=64)
    result = generate(
        request.replace(scheduler=scheduler_id, **changes), store, on_step=seen.append
    )
    image = _pixels(result.images[0])
    assert image.std() > 0, "a uniform picture: the latents were not finite"
    return result, [info.step for info in seen]


# img2img (strength, steps): one step left of four, three of four
IMG2IMG = ((0.3, 4), (0.75, 4))


@pytest.fixture(scope="module")
def tiny_store():
    from studio.engine.pipelines import PipelineStore

    return PipelineStore()


@pytest.mark.parametrize("scheduler_id", [None, *SCHEDULERS])
@pytest.mark.parametrize("family", ["tiny-sd", "tiny-sdxl", *HUB_FAMILIES])
def test_every_sampler_runs_every_family_through_the_pipelines(
    tiny_store, family_models, sd_model, sdxl_model, photo, family, scheduler_id
):
    """None: the model's own scheduler, named when it is one of ours (sd15's PNDM
    is not, and runs one model call more than its steps)."""
    tiny = {"tiny-sd": sd_model, "tiny-sdxl": sdxl_model}
    model = str(tiny.get(family) or family_models[family])
    named = scheduler_id or OWN_IDS["tiny" if family in tiny else family]
    extra = 0 if named else 1
    for steps in (1, 3) if family in tiny else (3,):
        result, seen = _run(tiny_store, model, scheduler_id, steps)
        assert seen == list(range(1, steps + extra + 1)) and result.request.scheduler == named
    for strength, steps in IMG2IMG if family in tiny else IMG2IMG[:1]:
        _, seen = _run(
            tiny_store, model, scheduler_id, steps, mode=Mode.IMG2IMG, init_image=photo,
            strength=strength,
        )  # fmt: skip
        assert seen == list(range(1, int(steps * strength) + extra + 1))


@pytest.fixture(scope="module")
def demo_store():
    from studio.engine.pipelines import PipelineStore

    return PipelineStore()


@pytest.mark.parametrize("scheduler_id", SCHEDULERS)
def test_every_sampler_runs_the_demo_model(demo_store, photo, scheduler_id):
    """The bundled model with the issue's prompt; 3 steps made Euler a NaN, 4 and
    more made DPM++ 2M Karras fail on its last step."""
    for steps in (3, 4):
        _, seen = _run(demo_store, "demo", scheduler_id, steps)
        assert seen == list(range(1, steps + 1))
    for strength, steps in IMG2IMG:
        _, seen = _run(
            demo_store, "demo", scheduler_id, steps, mode=Mode.IMG2IMG, init_image=photo,
            strength=strength,
        )  # fmt: skip
        assert seen == list(range(1, int(steps * strength) + 1))


def test_dpm_karras_draws_the_demo_models_star(demo_store):
    """Karras sigmas from the cosine schedule's capped top sigma (2·10⁴) drew
    blobs on a pink ground for these seeds; from exp(5.1) they draw the star."""
    for seed in (1, 8):
        request = GenerationRequest(PROMPT, model="demo", seed=seed, scheduler="dpm++2m-karras")
        reading = read(generate(request, demo_store).images[0])
        assert (reading.colour, reading.shape, reading.background) == ("yellow", "star", "black")


def test_lcm_refuses_more_steps_than_its_model_was_distilled_on(sd_model):
    from studio.engine.pipelines import PipelineStore

    cold = PipelineStore()
    request = GenerationRequest(PROMPT, model=str(sd_model), steps=60, scheduler="lcm")
    with pytest.raises(RequestError) as error:
        generate(request, cold)
    assert str(error.value) == (
        "The LCM sampler runs at most 50 steps (it picks them among the 50 its model was "
        "distilled on), not 60; lower the steps (LCM models need 2–8)."
    )
    assert cold.loads == 0  # refused before the weights were read


# -- the model's own scheduler, named before the cache key ---------------------------


def test_the_model_default_is_named_and_its_id_gives_the_same_pixels(demo_store):
    default = generate(GenerationRequest(PROMPT, model="demo", seed=5, steps=3), demo_store)
    named = GenerationRequest(PROMPT, model="demo", seed=5, steps=3, scheduler="dpm++2m")
    assert default.request.scheduler == "dpm++2m"
    assert "Sampler: DPM++ 2M," in default.infotexts[0]
    assert np.array_equal(
        _pixels(default.images[0]), _pixels(generate(named, demo_store).images[0])
    )


@pytest.fixture
def services(tmp_path) -> ServiceOptions:
    return ServiceOptions(cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("family", ["demo", "sd15"])
def test_a_restored_recipe_is_served_from_the_cache(demo_store, family_models, services, family):
    """Generate with the model's defaults, restore the recipe from its text,
    generate again: the same job, so a cache hit with the same pixels. sd15's
    own PNDM has no name here: its recipe names no sampler and restores none."""
    model = "demo" if family == "demo" else str(family_models[family])
    first = generate(
        GenerationRequest(PROMPT, model=model, seed=9, steps=2), demo_store, services=services
    )
    base = GenerationRequest("", model=model)
    restored, notices = request_from_infotext(first.infotexts[0], base)
    assert notices == [] and restored.scheduler == OWN_IDS[family]
    again = generate(restored, demo_store, services=services)
    assert not first.cached and again.cached
    assert np.array_equal(_pixels(first.images[0]), _pixels(again.images[0]))

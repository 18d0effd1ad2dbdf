"""A single .safetensors checkpoint through the engine: resolving, its config,
generation, the inpaint variant, and the errors a user can meet."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ldm_checkpoint import copy_pipeline_configs, write_single_file_checkpoint

from studio.engine.catalog import Architecture
from studio.engine.errors import EngineError, ModelLoadError
from studio.engine.generate import generate
from studio.engine.request import GenerationRequest, Mode
from studio.engine.resolve import Source, resolve_model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, sd_model, sdxl_model, sd_inpaint_model):
    """name -> .safetensors path; each has its config folder beside it."""
    root = tmp_path_factory.mktemp("single-files")
    files = {}
    for name, folder in (("dream", sd_model), ("dreamxl", sdxl_model), ("fill", sd_inpaint_model)):
        files[name] = write_single_file_checkpoint(folder, root / f"{name}.safetensors")
        copy_pipeline_configs(folder, root / name)
    return files


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.slow
def test_a_checkpoint_generates_the_same_image_as_its_folder(checkpoints, sd_model, store):
    model = resolve_model(str(checkpoints["dream"]))
    assert (model.source, model.architecture, model.label) == (
        Source.SINGLE_FILE,
        Architecture.SD,
        "dream",
    )
    # A lone checkpoint gets SD 1.5's defaults (DPM++ 2M Karras); pin the sampler
    # so both runs differ only in where the weights came from.
    request = GenerationRequest(
        "a boat",
        model=str(checkpoints["dream"]),
        steps=2,
        seed=4,
        width=64,
        height=64,
        scheduler="euler",
    )
    from_file = generate(request, store)
    assert resolve_model(request.model).defaults.scheduler == "dpm++2m-karras"
    from_folder = generate(request.replace(model=str(sd_model)), store)
    assert np.array_equal(np.asarray(from_file.images[0]), np.asarray(from_folder.images[0]))
    assert "Model: dream," in from_file.infotexts[0]


@pytest.mark.slow
def test_an_sdxl_checkpoint_runs_every_mode(checkpoints, store, photo, square_mask):
    spec = str(checkpoints["dreamxl"])
    assert resolve_model(spec).architecture is Architecture.SDXL
    base = GenerationRequest("x", model=spec, steps=2, seed=1, width=64, height=64)
    assert generate(base, store).images[0].size == (64, 64)
    loads = store.loads
    inpainted = generate(
        base.replace(mode=Mode.INPAINT, init_image=photo, mask_image=square_mask), store
    )
    assert inpainted.images[0].size == (64, 64)
    assert store.loads == loads


def test_an_inpainting_checkpoint_is_recognised(checkpoints, store, photo, square_mask):
    spec = str(checkpoints["fill"])
    assert resolve_model(spec).inpaint_unet
    result = generate(
        GenerationRequest(
            "x",
            model=spec,
            mode=Mode.INPAINT,
            init_image=photo,
            mask_image=square_mask,
            steps=2,
            seed=1,
        ),
        store,
    )
    assert result.images[0].size == (64, 64)
    with pytest.raises(EngineError, match="is an inpainting model"):
        generate(GenerationRequest("x", model=spec, steps=2), store)


def test_the_base_models_config_from_the_hub_cache_serves_a_lone_checkpoint(
    checkpoints, sd_model, tmp_path, empty_hub, store
):
    lone = shutil.copy(checkpoints["dream"], tmp_path / "lone.safetensors")
    commit = "f" * 40
    repo = empty_hub / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    copy_pipeline_configs(sd_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    model = resolve_model(str(lone))
    assert model.config == str(repo / "snapshots" / commit)
    result = generate(
        GenerationRequest("x", model=str(lone), steps=2, seed=1, width=64, height=64), store
    )
    assert result.images[0].size == (64, 64)


def test_a_lone_checkpoint_without_any_config_says_what_to_do(
    checkpoints, tmp_path, empty_hub, store
):
    lone = shutil.copy(checkpoints["dream"], tmp_path / "lone.safetensors")
    with pytest.raises(ModelLoadError) as caught:
        generate(GenerationRequest("x", model=str(lone), steps=2), store)
    message = str(caught.value)
    assert "single-file checkpoint" in message and "Download the matching base model" in message


def test_a_truncated_checkpoint_is_caught_before_loading(checkpoints, tmp_path):
    data = checkpoints["dream"].read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"not a readable \.safetensors file"):
        resolve_model(str(cut))


def test_a_safetensors_file_that_is_not_a_checkpoint_is_refused(sd_model):
    unet_weights = next((sd_model / "unet").glob("*.safetensors"))
    with pytest.raises(ModelLoadError, match="not a Stable Diffusion checkpoint"):
        resolve_model(str(unet_weights))

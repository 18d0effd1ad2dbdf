"""Resolving what a user names into a model on disk, and every way that fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio.engine.catalog import CATALOG, Architecture, Kind
from studio.engine.errors import ModelLoadError, ModelNotFoundError, UnsafeModelError
from studio.engine.generate import generate
from studio.engine.options import EngineOptions
from studio.engine.pipelines import PipelineStore, ensure_files
from studio.engine.request import GenerationRequest
from studio.engine.resolve import Source, catalog_status, resolve_model


def _install_in_hub_cache(folder: Path, hub_id: str) -> Path:
    """Lays a model out the way `hf download` leaves it in the hub cache."""
    cache = Path(os.environ["HF_HUB_CACHE"])
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(folder, repo / "snapshots" / commit, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_a_diffusers_folder_resolves_with_its_native_size(sd_model, sdxl_model):
    sd = resolve_model(str(sd_model))
    assert (sd.source, sd.kind, sd.architecture) == (Source.FOLDER, Kind.PIPELINE, Architecture.SD)
    assert (sd.defaults.width, sd.defaults.height) == (64, 64)
    assert sd.label == "tiny-sd"
    assert resolve_model(str(sdxl_model)).architecture is Architecture.SDXL


def test_a_controlnet_folder_resolves_as_a_controlnet(sd_controlnet, sdxl_controlnet):
    assert resolve_model(str(sd_controlnet)).kind is Kind.CONTROLNET
    assert resolve_model(str(sdxl_controlnet)).architecture is Architecture.SDXL


def test_a_name_inside_a_model_folder_setting_resolves(sd_model):
    model = resolve_model("tiny-sd", model_dirs=(sd_model.parent,))
    assert model.path == sd_model


def test_a_catalog_model_not_downloaded_says_how_to_get_it():
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model("sdxl")
    message = str(caught.value)
    assert "'sdxl' (Stable Diffusion XL 1.0) is not on this machine" in message
    assert "studio download sdxl" in message
    assert catalog_status(CATALOG["sdxl"]) == "not downloaded"


def test_a_catalog_model_in_the_hub_cache_loads_and_generates(sd_model, store):
    snapshot = _install_in_hub_cache(sd_model, CATALOG["sd-turbo"].hub_id)
    model = resolve_model("sd-turbo")
    assert model.source is Source.HUB_CACHE and model.path == snapshot
    # the catalog's defaults win: SD-Turbo is one step without guidance
    assert (model.defaults.steps, model.defaults.guidance_scale) == (1, 0.0)
    assert catalog_status(CATALOG["sd-turbo"]) == "ready"
    result = generate(
        GenerationRequest("a fox", model="sd-turbo", seed=3, width=64, height=64), store
    )
    assert result.request.steps == 1 and result.request.guidance_scale == 0.0
    assert "Model: sd-turbo" in result.infotexts[0]


def test_a_hub_id_in_the_cache_resolves_and_one_not_there_is_explained(sd_model):
    _install_in_hub_cache(sd_model, "someone/tiny-model")
    assert resolve_model("someone/tiny-model").source is Source.HUB_CACHE
    with pytest.raises(ModelNotFoundError, match="`studio download someone/other`"):
        resolve_model("someone/other")


def test_an_unknown_name_lists_the_catalog():
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model("my-favourite-model")
    assert "not a catalog name (demo, sd15, sd15-inpainting, sd21, sdxl" in str(caught.value)


def test_tiny_random_is_named_by_resolving_and_built_once_by_the_loader(tmp_path):
    model = resolve_model("tiny-random", models_root=tmp_path)
    assert model.path == tmp_path / "tiny-random" and model.builds_locally
    assert not model.path.exists()  # resolving never builds a model
    assert model.controlnet == "tiny-random-controlnet"
    ensure_files(model)
    assert (model.path / "model_index.json").is_file()
    stamp = (model.path / "unet").stat().st_mtime_ns
    ensure_files(resolve_model("tiny-random", models_root=tmp_path))
    assert (model.path / "unet").stat().st_mtime_ns == stamp
    controlnet = resolve_model("tiny-random-controlnet", models_root=tmp_path)
    ensure_files(controlnet)
    assert (controlnet.path / "config.json").is_file() and controlnet.kind is Kind.CONTROLNET


def test_tiny_random_generates_from_an_empty_data_folder(tmp_path):
    store = PipelineStore(EngineOptions(device="cpu", models_root=tmp_path))
    request = GenerationRequest("noise", model="tiny-random", seed=1, steps=2)
    result = generate(request, store)
    assert result.images[0].size == (64, 64)
    assert (tmp_path / "tiny-random" / ".complete").exists()


def test_the_catalog_and_resolving_never_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from studio.engine.catalog import CATALOG\n"
        "from studio.engine.resolve import catalog_status, resolve_model\n"
        "from pathlib import Path\n"
        "resolve_model('tiny-random', models_root=Path(sys.argv[1]))\n"
        "resolve_model('demo')\n"
        "[catalog_status(entry) for entry in CATALOG.values()]\n"
        "print('torch' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.strip() == "False"


def test_pickle_checkpoints_are_refused_unless_allowed(tmp_path):
    ckpt = tmp_path / "dreamy.ckpt"
    ckpt.write_bytes(b"\x80\x04not really")
    with pytest.raises(UnsafeModelError, match="can run code when loaded"):
        resolve_model(str(ckpt))
    assert resolve_model(str(ckpt), allow_pickle=True).source is Source.SINGLE_FILE


def test_a_damaged_safetensors_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelLoadError, match=r"not a readable \.safetensors file"):
        resolve_model(str(broken))


def test_a_folder_without_model_index_is_explained(tmp_path):
    with pytest.raises(ModelLoadError, match=r"has no model_index\.json"):
        resolve_model(str(tmp_path))


def test_a_folder_with_broken_config_is_explained(sd_model, tmp_path):
    damaged = shutil.copytree(sd_model, tmp_path / "damaged")
    (damaged / "unet" / "config.json").write_text("{ half a file")
    with pytest.raises(ModelLoadError, match=r"is damaged: config\.json could not be read"):
        resolve_model(str(damaged))


def test_a_folder_with_missing_weights_fails_to_load_with_a_sentence(sd_model, tmp_path, store):
    damaged = shutil.copytree(sd_model, tmp_path / "no-weights")
    for weights in (damaged / "unet").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelLoadError) as caught:
        generate(GenerationRequest("x", model=str(damaged)), store)
    assert "Model 'no-weights' could not be loaded" in str(caught.value)
    assert "download it again or choose another folder" in str(caught.value)


def test_truncated_weights_fail_to_load_with_a_sentence(sd_model, tmp_path, store):
    damaged = shutil.copytree(sd_model, tmp_path / "truncated")
    weights = next((damaged / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="Model 'truncated' could not be loaded"):
        generate(GenerationRequest("x", model=str(damaged)), store)


def test_a_controlnet_for_another_architecture_is_refused(sd_model, sdxl_controlnet, store, photo):
    request = GenerationRequest(
        "x",
        model=str(sd_model),
        mode="controlnet-canny",
        control_image=photo,
        controlnet=str(sdxl_controlnet),
    )
    with pytest.raises(ModelLoadError, match="is made for SDXL models but 'tiny-sd' is SD"):
        generate(request, store)


def test_a_pipeline_named_as_controlnet_is_refused(sd_model, store, photo):
    request = GenerationRequest(
        "x",
        model=str(sd_model),
        mode="controlnet-canny",
        control_image=photo,
        controlnet=str(sd_model),
    )
    with pytest.raises(Exception, match="is not a ControlNet model"):
        generate(request, store)


def test_a_missing_catalog_controlnet_says_how_to_get_it(sd_model, store, photo):
    request = GenerationRequest(
        "x", model=str(sd_model), mode="controlnet-canny", control_image=photo
    )
    with pytest.raises(ModelNotFoundError, match="studio download controlnet-canny-sd15"):
        generate(request, store)

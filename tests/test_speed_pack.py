"""The speed pack (issue 25): the TAESD decoder of a model's family, offered with
the model where the CPU runs it and used on the CPU once it is in the hub cache,
unless switched off; named in the notices, the image's parameters and the cache key."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from studio.app import main
from studio.engine import pipelines
from studio.engine.cache import job_key
from studio.engine.catalog import Architecture, Kind
from studio.engine.fastpath import choose_decoder, decoder_notice
from studio.engine.generate import generate
from studio.engine.hub_cache import repo_dir, select_files
from studio.engine.infotext import parse_infotext, request_from_infotext
from studio.engine.options import EngineOptions
from studio.engine.pipelines import PipelineStore
from studio.engine.request import GenerationRequest
from studio.engine.resolve import catalog_status, resolve_model
from tests.test_fast_path import _save_tiny_autoencoder

TAESD = "madebyollin/taesd"
SD_TURBO = "stabilityai/sd-turbo"
# The files of madebyollin/taesd on the hub (as other apps list them too)
TAESD_REPO_FILES = [
    ".gitattributes",
    "README.md",
    "config.json",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.safetensors",
    "images/screenshot.png",
    "images/screenshot_2.png",
    "taesd_decoder.pth",
    "taesd_decoder.safetensors",  # ComfyUI's copies, which diffusers never loads
    "taesd_encoder.pth",
    "taesd_encoder.safetensors",
]


@pytest.fixture(scope="module")
def taesd(tmp_path_factory) -> Path:
    return _save_tiny_autoencoder(tmp_path_factory.mktemp("speed") / "taesd")


@pytest.fixture
def hub_cache(monkeypatch, tmp_path):
    """An empty hub cache of this test's own, offline."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def _put(repo_id: str, folder: Path) -> Path:
    """`folder` as the downloaded main revision of `repo_id` in the hub cache."""
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo_dir(repo_id) / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (repo_dir(repo_id) / "refs").mkdir(parents=True)
    (repo_dir(repo_id) / "refs" / "main").write_text(commit)
    return snapshot


def _request(**kw) -> GenerationRequest:
    kw = {"model": "sd-turbo", "seed": 3, **kw}
    return GenerationRequest("a kite", steps=1, width=64, height=64, **kw)


def test_only_the_diffusers_weights_of_the_taesd_repo_are_fetched():
    assert select_files(TAESD_REPO_FILES) == [
        "config.json",
        "diffusion_pytorch_model.safetensors",
    ]


def test_a_downloaded_speed_pack_resolves_as_a_decoder(hub_cache, taesd, sd_model):
    assert catalog_status_of("taesd") == "not downloaded"
    snapshot = _put(TAESD, taesd)
    decoder = resolve_model("taesd")
    assert (decoder.kind, decoder.path) == (Kind.DECODER, snapshot)
    assert resolve_model(TAESD).kind is Kind.DECODER  # by hub id, and by folder
    assert resolve_model(str(snapshot)).kind is Kind.DECODER
    assert catalog_status_of("taesd") == "ready"
    _put("madebyollin/taesdxl", taesd)  # one config for both: the catalog knows the family
    assert resolve_model("taesdxl").architecture is Architecture.SDXL


def catalog_status_of(name: str) -> str:
    from studio.engine.catalog import CATALOG

    return catalog_status(CATALOG[name])


def _sd_sized_folder(root: Path, vae_blocks: list[int]) -> Path:
    """A pipeline folder's configs (no weights: nothing here loads them)."""
    vae = {"_class_name": "AutoencoderKL", "latent_channels": 4, "block_out_channels": vae_blocks}
    for part, config in (("unet", {"sample_size": 64, "in_channels": 4}), ("vae", vae)):
        (root / part).mkdir(parents=True)
        (root / part / "config.json").write_text(json.dumps(config))
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return root


def test_which_models_have_a_speed_pack(hub_cache, sd_model, tmp_path):
    """Catalog entries say; a folder has one only with an SD-sized VAE; the demo
    (64×64, its own small VAE) and the tiny test models have none."""
    _put(SD_TURBO, sd_model)
    assert resolve_model("sd-turbo").decoder == "taesd"
    assert resolve_model("demo").decoder is None
    assert resolve_model("tiny-random", models_root=tmp_path).decoder is None
    assert resolve_model(str(sd_model)).decoder is None  # a 2-block test VAE
    real = _sd_sized_folder(tmp_path / "real", [128, 256, 512, 512])
    assert resolve_model(str(real)).decoder == "taesd"
    small = _sd_sized_folder(tmp_path / "small", [32, 64, 64, 64])
    assert resolve_model(str(small)).decoder is None
    assert resolve_model(SD_TURBO).decoder is None  # by hub id: judged by its (tiny) VAE


def test_the_speed_pack_is_for_the_cpu_and_can_be_switched_off(hub_cache, taesd, sd_model):
    _put(SD_TURBO, sd_model)
    model = resolve_model("sd-turbo")
    on = EngineOptions(device="cpu")
    assert choose_decoder(on, "cpu", model) is None  # not downloaded: never fetched here
    assert "studio download taesd" in decoder_notice(on, "cpu", model, None)
    _put(TAESD, taesd)
    decoder = choose_decoder(on, "cpu", model)
    assert decoder is not None and decoder.name == "taesd" and decoder.speed_pack
    assert choose_decoder(on, "cuda", model) is None
    assert decoder_notice(on, "cuda", model, None) is None  # on a GPU nothing is offered
    off = EngineOptions(device="cpu", speed_pack=False)
    assert choose_decoder(off, "cpu", model) is None
    assert decoder_notice(off, "cpu", model, None) is None
    named = EngineOptions(device="cpu", tiny_vae=str(taesd))
    assert choose_decoder(named, "cpu", model).speed_pack is False  # the user's choice wins


@pytest.mark.slow
def test_a_cpu_job_decodes_with_the_speed_pack_once_it_is_here(hub_cache, taesd, sd_model):
    from diffusers import AutoencoderKL, AutoencoderTiny

    _put(SD_TURBO, sd_model)
    store = PipelineStore(EngineOptions(device="cpu"))
    first = generate(_request(), store)
    assert isinstance(store.base_for(resolve_model("sd-turbo")).vae, AutoencoderKL)
    assert [n for n in first.notices if "speed pack" in n] == [
        "A speed pack for this model, taesd (faster decoding, slightly softer, a few MB), "
        "can be downloaded from Models… (or with: studio download taesd)."
    ]
    assert "VAE" not in parse_infotext(first.infotexts[0]).params
    again = generate(_request(seed=4), store)
    assert not any("speed pack" in n for n in again.notices)  # once per model load
    key_without = job_key(first.request, resolve_model("sd-turbo"), None, [""], store)

    _put(TAESD, taesd)  # downloaded meanwhile: the next job loads the model with it
    tiny = generate(_request(), store)
    assert store.loads == 2
    assert isinstance(store.base_for(resolve_model("sd-turbo")).vae, AutoencoderTiny)
    assert any(n.startswith("Decoding with the speed pack taesd") for n in tiny.notices)
    assert parse_infotext(tiny.infotexts[0]).params["VAE"] == "taesd"
    assert tiny.images[0].size == (64, 64)
    assert job_key(tiny.request, resolve_model("sd-turbo"), None, [""], store) != key_without

    off = PipelineStore(EngineOptions(device="cpu", speed_pack=False))
    plain = generate(_request(), off)
    assert isinstance(off.base_for(resolve_model("sd-turbo")).vae, AutoencoderKL)
    assert not any("speed pack" in n for n in plain.notices)
    assert "VAE" not in parse_infotext(plain.infotexts[0]).params
    assert job_key(plain.request, resolve_model("sd-turbo"), None, [""], off) == key_without


def test_a_cached_result_is_served_only_for_the_same_decoder(hub_cache, taesd, sd_model, tmp_path):
    from studio.engine.options import ServiceOptions

    _put(SD_TURBO, sd_model)
    _put(TAESD, taesd)
    services = ServiceOptions(cache_dir=tmp_path / "cache")
    on = PipelineStore(EngineOptions(device="cpu"))
    off = PipelineStore(EngineOptions(device="cpu", speed_pack=False))
    assert not generate(_request(), on, services=services).cached
    assert not generate(_request(), off, services=services).cached
    hit = generate(_request(), on, services=services)
    assert hit.cached and parse_infotext(hit.infotexts[0]).params["VAE"] == "taesd"
    # the load's notice was not stored with the result
    assert not any(n.startswith("Decoding with the speed pack") for n in hit.notices)


def test_the_demo_never_uses_the_speed_pack(hub_cache, taesd):
    _put(TAESD, taesd)
    store = PipelineStore(EngineOptions(device="cpu"))
    result = generate(GenerationRequest("a red circle", seed=1, steps=1), store)
    assert store.decoder is None and not any("speed pack" in n for n in result.notices)
    assert "VAE" not in parse_infotext(result.infotexts[0]).params


def test_a_recipe_with_a_vae_restores(sd_model):
    text = "a kite\nSteps: 1, Sampler: Euler, Seed: 3, Size: 64x64, Model: sd-turbo, VAE: taesd"
    request, notices = request_from_infotext(text)
    assert (request.model, request.seed, request.steps, notices) == ("sd-turbo", 3, 1, [])


@pytest.mark.slow
def test_download_offers_the_controlnet_and_on_the_cpu_the_speed_pack(
    hub, sd_model, taesd, tmp_path, capsys, monkeypatch
):
    hub.add("stable-diffusion-v1-5/stable-diffusion-v1-5", sd_model)
    repo = shutil.copytree(taesd, tmp_path / "taesd-repo")
    for name in TAESD_REPO_FILES:
        if not (repo / name).exists():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(b"not fetched")
    hub.add(TAESD, repo)
    controlnet = (
        "Also offered: controlnet-canny-sd15 (canny ControlNet): "
        "studio download controlnet-canny-sd15"
    )

    monkeypatch.setattr(pipelines, "pick_device", lambda _: "cuda")
    assert main(["download", "sd15"]) == 0
    assert _offers(capsys) == [controlnet]  # a GPU decodes fast enough without it
    monkeypatch.setattr(pipelines, "pick_device", lambda _: "cpu")
    assert main(["download", "sd15"]) == 0
    assert _offers(capsys) == [
        controlnet,
        "Also offered: taesd (speed pack: faster decoding, slightly softer): studio download taesd",
    ]

    assert main(["download", "taesd"]) == 0
    assert sorted(k for k in hub.served if k.startswith(TAESD)) == [
        f"{TAESD}/config.json",
        f"{TAESD}/diffusion_pytorch_model.safetensors",
    ]
    assert _offers(capsys) == []  # a decoder offers nothing
    assert resolve_model("taesd").kind is Kind.DECODER
    assert main(["download", "sd15"]) == 0
    assert _offers(capsys) == [controlnet]  # the speed pack is here now


def _offers(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("Also")]


def test_an_sdxl_model_decodes_with_taesdxl(hub_cache, taesd, sdxl_model):
    from diffusers import AutoencoderTiny

    _put("stabilityai/sdxl-turbo", sdxl_model)
    _put("madebyollin/taesdxl", taesd)
    store = PipelineStore(EngineOptions(device="cpu"))
    result = generate(_request(model="sdxl-turbo"), store)
    assert isinstance(store.base_for(resolve_model("sdxl-turbo")).vae, AutoencoderTiny)
    assert parse_infotext(result.infotexts[0]).params["VAE"] == "taesdxl"
    assert result.images[0].size == (64, 64)


def test_a_tiny_decoder_named_by_hub_id_is_keyed_by_its_files(hub_cache, taesd, sd_model):
    _put(SD_TURBO, sd_model)
    snapshot = _put(TAESD, taesd)
    store = PipelineStore(EngineOptions(device="cpu", tiny_vae=TAESD))
    model = resolve_model("sd-turbo")
    before = job_key(_request(), model, None, [""], store)
    # An update of the decoder's repo: other weights under the same hub id.
    weights = snapshot / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    assert job_key(_request(), model, None, [""], store) != before


def test_a_speed_pack_or_a_controlnet_chosen_as_the_model_is_named_for_what_it_is(
    hub_cache, taesd, sd_controlnet
):
    from studio.engine.errors import EngineError
    from studio.ui.model_picker import describe

    folder = _put(TAESD, taesd)
    store = PipelineStore(EngineOptions(device="cpu"))
    # It said the files "may be damaged or incomplete: download it again".
    chosen = [("taesd", "a speed pack"), (str(folder), "a speed pack")]
    for spec, what in [*chosen, (str(sd_controlnet), "a ControlNet")]:
        with pytest.raises(EngineError, match=f"is {what} .*not an image model") as err:
            generate(_request(model=spec), store)
        assert "damaged" not in str(err.value)
        defaults, text = describe(spec)  # the picker says so before Generate
        assert defaults is None and text == str(err.value)
    assert store.loads == 0


def test_a_downloaded_speed_pack_or_controlnet_is_not_offered_as_the_model(
    hub, taesd, sd_controlnet, capsys
):
    hub.add(TAESD, taesd)
    hub.add("test/canny", sd_controlnet)
    assert main(["download", "taesd"]) == 0
    err = capsys.readouterr().err
    assert "--model taesd" not in err
    assert "taesd is ready: the CPU decodes with it from now on" in err
    assert main(["download", "test/canny"]) == 0
    err = capsys.readouterr().err
    assert "--model test/canny" not in err
    use = "studio generate --mode controlnet-canny --controlnet test/canny"
    assert f"test/canny is ready: {use}" in err

"""Which version of a model is here: updates, branches and tags, the fp16
variant a CUDA download fetches, and the token kept in the keyring — through
the real huggingface_hub client against the loopback hub."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio.engine.downloads import (
    DownloadError,
    ModelState,
    download,
    model_state,
    plan_download,
    update_available,
)
from studio.engine.hub_cache import downloaded_ref, repo_dir
from studio.engine.hub_token import TokenSource, forget_token, save_token, token_status
from studio.engine.resolve import resolve_model
from studio.keychain import KEYRING_SERVICE, KeyStoreError

UNET = "unet/diffusion_pytorch_model.safetensors"


def _version(source: Path, target: Path, changed: bool = False) -> Path:
    """A copy of a tiny model; `changed`: a later commit whose UNet config differs."""
    shutil.copytree(source, target)
    if changed:
        (target / "unet" / "config.json").write_text(
            (target / "unet" / "config.json").read_text().replace("{", '{"_note": 2,', 1)
        )
    return target


def test_an_update_is_seen_and_fetches_only_what_changed(hub, sd_model, tmp_path):
    hub.add("test/tiny", _version(sd_model, tmp_path / "v1"))
    download(plan_download("test/tiny"))
    first = downloaded_ref("test/tiny")
    assert first[0] == "main"
    assert update_available("test/tiny") is False

    hub.add("test/tiny", _version(sd_model, tmp_path / "v2", changed=True))
    assert update_available("test/tiny") is True
    hub.served.clear()
    download(plan_download("test/tiny"))
    assert set(hub.served) == {"test/tiny/unet/config.json"}  # the weights are shared
    assert downloaded_ref("test/tiny")[1] != first[1]
    assert update_available("test/tiny") is False
    # The superseded snapshot is gone; the blobs both used stay.
    snapshots = repo_dir("test/tiny") / "snapshots"
    assert [p.name for p in snapshots.iterdir()] == [downloaded_ref("test/tiny")[1]]
    assert (resolve_model("test/tiny").path / UNET).is_file()


def test_update_check_of_a_model_not_here_asks_nobody(hub):
    assert update_available("sd-turbo") is False
    assert not hub.requests


def test_update_check_offline_is_a_sentence(hub, sd_model, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    hub.add("test/tiny", _version(sd_model, tmp_path / "v1"))
    download(plan_download("test/tiny"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match=r"^Downloads are off because HF_HUB_OFFLINE is set"):
        update_available("test/tiny")


def test_a_model_downloaded_by_tag_alone_resolves(hub, sd_model, tmp_path):
    hub.add("stabilityai/sd-turbo", _version(sd_model, tmp_path / "v1"))
    folder = download(plan_download("sd-turbo", revision="v1.0"))
    assert downloaded_ref("stabilityai/sd-turbo") == ("v1.0", folder.name)
    assert resolve_model("sd-turbo").path == folder
    assert model_state("sd-turbo")[0] is ModelState.PRESENT


def _fp16_repo(sd_model: Path, target: Path) -> Path:
    """A repo as the hub has them: every component in full precision and as fp16."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(sd_model, target)
    for weights in list(target.glob("*/*.safetensors")):
        half = {k: v.to(torch.float16) for k, v in load_file(weights).items()}
        save_file(
            half, weights.with_name(weights.name.replace(".safetensors", ".fp16.safetensors"))
        )
    return target


@pytest.mark.slow
def test_a_cuda_download_fetches_the_fp16_files_and_they_load(hub, sd_model, tmp_path, store):
    from studio.engine.generate import generate
    from studio.engine.request import GenerationRequest

    hub.add("test/tiny", _fp16_repo(sd_model, tmp_path / "repo"))
    plan = plan_download("test/tiny", device="cuda")
    weights = [n for n, _ in plan.files if n.endswith(".safetensors")]
    assert weights and all(n.endswith(".fp16.safetensors") for n in weights)
    folder = download(plan)
    model = resolve_model("test/tiny")
    assert model.path == folder and model.variant == "fp16"
    # The same folder on a CPU: diffusers loads the fp16 files and upcasts them.
    result = generate(GenerationRequest("x", model="test/tiny", steps=2, seed=1), store)
    assert result.images[0].size == (64, 64)


def test_a_cpu_download_fetches_full_precision(hub, sd_model, tmp_path):
    hub.add("test/tiny", _fp16_repo(sd_model, tmp_path / "repo"))
    names = [n for n, _ in plan_download("test/tiny", device="cpu").files]
    assert UNET in names and not any(".fp16." in n for n in names)


def test_a_token_saved_in_the_keyring_opens_a_gated_repo(hub, sd_model, memory_keyring):
    hub.add("test/gated", sd_model, token="hf_secret")
    assert token_status() == (None, None)
    with pytest.raises(DownloadError, match="Settings \\(Hugging Face token\\) or set HF_TOKEN"):
        plan_download("test/gated")
    save_token("  hf_secret\n")
    assert token_status() == (TokenSource.KEYRING, None)
    download(plan_download("test/gated"))
    assert model_state("test/gated")[0] is ModelState.PRESENT
    sent = {h.get("authorization") for _, _, h in hub.requests if h.get("authorization")}
    assert sent == {"Bearer hf_secret"}
    forget_token()
    assert token_status() == (None, None)


def test_a_token_no_header_can_carry_is_refused_without_quoting_it(hub, sd_model, memory_keyring):
    # The HTTP library quotes an illegal header value whole in its exception:
    # "Illegal header value b'Bearer hf_...'" reached the user's sentence.
    hub.add("test/gated", sd_model, token="hf_secret")
    save_token("hf_secret")
    plan = plan_download("test/gated")
    memory_keyring.secrets[(KEYRING_SERVICE, "hf-token")] = "hf_sec\x00ret"  # another tool's
    for attempt in (lambda: plan_download("test/gated"), lambda: download(plan)):
        with pytest.raises(DownloadError) as err:
            attempt()
        assert "sec" not in str(err.value)
        assert "Settings (Hugging Face token)" in str(err.value)
    with pytest.raises(KeyStoreError, match="control character") as saving:
        save_token("hf_new\x1bsecret")
    assert "secret" not in str(saving.value)
    assert memory_keyring.secrets[(KEYRING_SERVICE, "hf-token")] == "hf_sec\x00ret"


def test_hf_token_in_the_environment_wins_over_the_keyring(
    hub, sd_model, memory_keyring, monkeypatch
):
    hub.add("test/gated", sd_model, token="from-env")
    save_token("from-keyring")
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert token_status() == (TokenSource.HUB, None)
    download(plan_download("test/gated"))
    assert model_state("test/gated")[0] is ModelState.PRESENT

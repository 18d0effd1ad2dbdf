"""Downloads through the real huggingface_hub client against a loopback hub."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from studio.engine.downloads import (
    DownloadCancelledError,
    DownloadError,
    ModelState,
    download,
    model_state,
    plan_download,
    remove_model,
    select_files,
)

WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


def _repo_folder(source: Path, target: Path) -> Path:
    """A copy of a tiny model, with what a real repo also holds and the app never loads."""
    shutil.copytree(source, target)
    (target / "README.md").write_text("# a model\n")
    (target / "sample.png").write_bytes(b"\x89PNG not really")
    (target / "whole-model.ckpt").write_bytes(b"pickle" * 100)
    (target / "safety_checker").mkdir()
    (target / "safety_checker" / "model.safetensors").write_bytes(b"x" * 1000)
    return target


def _big_repo(tmp_path: Path, size: int = 2**20) -> Path:
    folder = tmp_path / "big"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (folder / "unet" / "config.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(os.urandom(size))
    return folder


def test_select_files_takes_one_set_of_weights_per_folder():
    names = [
        "model_index.json",
        "README.md",
        "sd_turbo.safetensors",
        "sd_turbo.ckpt",
        "images/sample.png",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "text_encoder/model.fp16.safetensors",
        "text_encoder/model.safetensors",
        "text_encoder/flax_model.msgpack",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "vae/diffusion_pytorch_model.bin",
        "safety_checker/model.safetensors",
    ]
    common = [
        "model_index.json",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "unet/config.json",
    ]
    assert select_files(names) == sorted(
        [
            *common,
            "text_encoder/model.safetensors",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.bin",
        ]
    )
    assert select_files(names, fp16=True) == sorted(
        [
            *common,
            "text_encoder/model.fp16.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "vae/diffusion_pytorch_model.bin",
        ]
    )


@pytest.mark.slow
def test_download_then_the_model_resolves_and_generates(hub, sd_model, tmp_path, store):
    from studio.engine.generate import generate
    from studio.engine.request import GenerationRequest
    from studio.engine.resolve import resolve_model

    hub.add("test/tiny-sd", _repo_folder(sd_model, tmp_path / "repo"))
    plan = plan_download("test/tiny-sd")
    names = [name for name, _ in plan.files]
    assert "model_index.json" in names and "unet/config.json" in names
    assert not any(n.endswith((".png", ".ckpt", ".md")) or "safety" in n for n in names)
    assert plan.total == sum((tmp_path / "repo" / n).stat().st_size for n in names)
    seen = []
    folder = download(plan, progress=seen.append)
    assert seen[-1].done == seen[-1].total == plan.total
    assert model_state("test/tiny-sd") == (ModelState.PRESENT, plan.total)
    resolved = resolve_model("test/tiny-sd")
    assert resolved.path == folder
    result = generate(GenerationRequest("x", model="test/tiny-sd", steps=2, seed=1), store)
    assert result.images[0].size == (64, 64)


def test_cancel_mid_file_then_resume_transfers_only_the_rest(hub, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    size = 2**20
    hub.add("test/big", _big_repo(tmp_path, size))
    plan = plan_download("test/big")
    stop = threading.Event()

    def cancel_halfway(progress) -> None:
        if progress.file == WEIGHTS and progress.done > plan.total - size // 2:
            stop.set()

    with pytest.raises(DownloadCancelledError):
        download(plan, progress=cancel_halfway, cancel=stop)
    assert model_state("test/big")[0] is ModelState.PARTIAL
    blobs = Path(constants.HF_HUB_CACHE) / "models--test--big" / "blobs"
    (partial,) = blobs.glob("*.incomplete")
    kept = partial.stat().st_size
    assert 0 < kept < size
    hub.served.clear()
    download(plan)
    assert hub.served[f"test/big/{WEIGHTS}"] == size - kept
    assert model_state("test/big")[0] is ModelState.PRESENT


def test_gated_repo_needs_a_token(hub, sd_model, tmp_path, monkeypatch):
    hub.add("test/gated", _repo_folder(sd_model, tmp_path / "repo"), token="secret")
    with pytest.raises(DownloadError, match="test/gated is gated: accept its licence at") as err:
        plan_download("test/gated")
    assert f"{hub.url}/test/gated" in str(err.value) and "HF_TOKEN" in str(err.value)
    monkeypatch.setenv("HF_TOKEN", "secret")
    download(plan_download("test/gated"))
    assert model_state("test/gated")[0] is ModelState.PRESENT
    assert all(h.get("authorization") == "Bearer secret" for _, _, h in hub.requests[-3:])


@pytest.mark.slow
def test_a_connection_cut_mid_file_is_resumed(hub, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    chunk = 64 * 1024
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    size = 2**20
    hub.add("test/big", _big_repo(tmp_path, size))
    hub.cut_after[f"test/big/{WEIGHTS}"] = 300_000
    folder = download(plan_download("test/big"))
    assert (folder / WEIGHTS).read_bytes() == (tmp_path / "big" / WEIGHTS).read_bytes()
    # The client resumes from its last whole chunk: the file is not sent twice.
    assert size < hub.served[f"test/big/{WEIGHTS}"] < size + chunk


def test_a_file_of_the_wrong_size_is_refused_then_fetched_anew(hub, tmp_path):
    hub.add("test/big", _big_repo(tmp_path, 4096))
    data = (tmp_path / "big" / WEIGHTS).read_bytes()
    hub.wrong_content[f"test/big/{WEIGHTS}"] = data[:-100]
    plan = plan_download("test/big")
    with pytest.raises(DownloadError, match="arrived with the wrong size"):
        download(plan)
    assert model_state("test/big")[0] is not ModelState.PRESENT
    del hub.wrong_content[f"test/big/{WEIGHTS}"]
    folder = download(plan)
    assert (folder / WEIGHTS).read_bytes() == data


def test_too_little_disk_space_refuses_before_fetching(hub, tmp_path):
    hub.add("test/big", _big_repo(tmp_path, 4096))
    plan = plan_download("test/big")
    with pytest.raises(DownloadError, match=r"needs 4 KB but only 1 KB is free on .*free some"):
        download(plan, free_space=lambda _folder: 1024)
    assert not hub.served


def test_a_damaged_file_of_the_right_size_is_thrown_away(hub, tmp_path):
    import huggingface_hub.constants as constants

    from studio.engine.errors import ModelNotFoundError
    from studio.engine.resolve import resolve_model

    hub.add("test/big", _big_repo(tmp_path, 4096))
    hub.wrong_content[f"test/big/{WEIGHTS}"] = b"\0" * 4096
    with pytest.raises(DownloadError, match=r"arrived damaged .* run the same download again"):
        download(plan_download("test/big"))
    blobs = Path(constants.HF_HUB_CACHE) / "models--test--big" / "blobs"
    assert not list(blobs.glob("*.incomplete"))
    with pytest.raises(ModelNotFoundError):  # the marker comes last: nothing looks complete
        resolve_model("test/big")


@pytest.mark.slow
def test_remove_leaves_other_models(hub, sd_model, tmp_path):
    hub.add("test/one", _repo_folder(sd_model, tmp_path / "one"))
    hub.add("test/two", _repo_folder(sd_model, tmp_path / "two"))
    download(plan_download("test/one"))
    two = download(plan_download("test/two"))
    freed = remove_model("test/one")
    assert freed > 0
    assert model_state("test/one") == (ModelState.NOT_DOWNLOADED, 0)
    assert model_state("test/two")[0] is ModelState.PRESENT
    assert all(p.resolve().is_file() for p in two.rglob("*") if p.is_symlink())
    with pytest.raises(DownloadError, match="not on this machine"):
        remove_model("test/one")


def test_offline_says_so(hub, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE is set") as err:
        plan_download("sd-turbo")
    assert len(str(err.value).split(". ")) <= 2
    assert not hub.requests


def test_names_that_cannot_be_downloaded():
    with pytest.raises(DownloadError, match="bundled with the app"):
        plan_download("demo")
    with pytest.raises(DownloadError, match="neither a catalog model"):
        plan_download("no-such-model")


def test_unknown_repo_is_a_sentence(hub):
    with pytest.raises(DownloadError, match="test/missing was not found on"):
        plan_download("test/missing")


def test_a_cache_folder_that_cannot_be_written_is_a_sentence(hub, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    hub.add("test/big", _big_repo(tmp_path, 4096))
    plan = plan_download("test/big")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(blocker))
    with pytest.raises(DownloadError, match=r"^Could not write .*not-a-folder.* set HF_HUB_CACHE"):
        download(plan)


def test_two_downloads_of_one_file_at_once_do_not_mix(hub, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    size = 2**19
    hub.add("test/big", _big_repo(tmp_path, size))
    hub.chunk_delay = 0.02  # the first is still transferring when the second starts
    plan = plan_download("test/big")
    started = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            download(plan, progress=lambda p: started.set() if p.file == WEIGHTS else None)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    folder = download(plan)
    thread.join(10)
    assert not errors
    assert (folder / WEIGHTS).read_bytes() == (tmp_path / "big" / WEIGHTS).read_bytes()
    assert hub.served[f"test/big/{WEIGHTS}"] == size  # the second waited, then found it


def test_progress_comes_every_megabyte_not_every_ten(hub, tmp_path):
    """The client reads 10 MB at a time by default: a cancel or a progress bar
    would wait that long on a slow line."""
    hub.add("test/big", _big_repo(tmp_path, 3 * 2**20))
    seen = []
    download(plan_download("test/big"), progress=seen.append)
    assert len([p for p in seen if p.file == WEIGHTS]) >= 3


def test_a_hub_cache_that_is_a_file_is_a_sentence_in_the_picker_too(qtbot, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    from studio.ui.download_jobs import DownloadJobs
    from studio.ui.model_picker import ModelPicker

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(blocker))
    with pytest.raises(DownloadError, match=r"^The hub cache .*not-a-folder cannot be read"):
        model_state("sd-turbo")
    picker = ModelPicker()
    qtbot.addWidget(picker)
    jobs = DownloadJobs()
    picker.set_downloads(jobs)
    picker.set_spec("sd-turbo")
    assert "set HF_HUB_CACHE to a folder this user can read and write" in picker.status.text()
    assert jobs.shutdown()

"""The fast CPU path (docs/PERFORMANCE.md): bf16 only where the CPU has it,
channels_last and SDPA on the loaded modules, the tiny autoencoder option wired
through the real loader, and determinism kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.engine import fastpath
from studio.engine.errors import ModelLoadError
from studio.engine.generate import generate
from studio.engine.options import EngineOptions
from studio.engine.pipelines import PipelineStore, pick_dtype
from studio.engine.request import GenerationRequest, Mode


def _request(model: Path, **kw) -> GenerationRequest:
    kw.setdefault("steps", 2)
    return GenerationRequest("a red circle", model=str(model), seed=7, width=64, height=64, **kw)


def test_fast_cpu_picks_bf16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: True)
    assert pick_dtype("auto", "cpu", fast_cpu=True) is torch.bfloat16
    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: False)
    assert pick_dtype("auto", "cpu", fast_cpu=True) is torch.float32
    # GPUs keep float16; an explicit choice always wins
    assert pick_dtype("auto", "cuda", fast_cpu=True) is torch.float16
    assert pick_dtype("float32", "cpu", fast_cpu=True) is torch.float32
    assert pick_dtype("auto", "cpu") is torch.float32  # off: unchanged


def test_native_bf16_detection_reads_the_cpu_flags():
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fastpath.cpu_has_native_bf16.cache_clear()
    if flags and not any(f in flags for f in ("avx512_bf16", "amx_bf16")):
        assert fastpath.cpu_has_native_bf16() is False
    elif flags and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert fastpath.cpu_has_native_bf16() is True


def test_thread_option_is_validated():
    with pytest.raises(ValueError, match="thread"):
        EngineOptions(threads=0)


def test_fast_path_places_channels_last_sdpa_and_stays_deterministic(sd_model, monkeypatch):
    from diffusers.models.attention_processor import AttnProcessor2_0

    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: True)
    store = PipelineStore(EngineOptions(device="cpu", fast_cpu=True))
    assert store.dtype is torch.bfloat16
    first = generate(_request(sd_model), store)
    pipe = store.base_for(store._loaded.model)
    assert pipe.unet.dtype is torch.bfloat16
    weight = pipe.unet.conv_in.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    assert all(isinstance(p, AttnProcessor2_0) for p in pipe.unet.attn_processors.values())
    second = generate(_request(sd_model), store)
    assert np.array_equal(np.asarray(first.images[0]), np.asarray(second.images[0]))
    # mode switches reuse the same weights, still channels_last
    generate(_request(sd_model, mode=Mode.IMG2IMG, init_image=first.images[0]), store)
    assert store.loads == 1


@pytest.mark.slow
def test_mode_switches_keep_the_fast_precision(sd_model, sd_controlnet, monkeypatch):
    """diffusers' from_pipe casts the shared modules to float32 unless told the
    dtype: one img2img made every later image, txt2img too, run in float32."""
    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: True)
    store = PipelineStore(EngineOptions(device="cpu", fast_cpu=True))
    first = generate(_request(sd_model), store).images[0]
    mask = Image.new("L", first.size, 255)
    for mode, extra in (
        (Mode.IMG2IMG, {"init_image": first}),
        (Mode.INPAINT, {"init_image": first, "mask_image": mask}),
        (Mode.CONTROLNET_CANNY, {"control_image": first, "controlnet": str(sd_controlnet)}),
    ):
        generate(_request(sd_model, mode=mode, **extra), store)
        pipes = [store.base_for(store._loaded.model), *store._loaded.derived.values()]
        for pipe in pipes:
            modules = [pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "controlnet", None)]
            dtypes = {p.dtype for m in modules if m is not None for p in m.parameters()}
            assert dtypes == {torch.bfloat16}, (mode, type(pipe).__name__, dtypes)
    again = generate(_request(sd_model), store).images[0]
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_unet_parameters_are_read_from_the_headers(sd_model):
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(sd_model / "unet"))
    expected = sum(p.numel() for p in unet.parameters())
    assert fastpath.unet_parameters(sd_model, single_file=False) == expected
    weights = next((sd_model / "unet").glob("*.safetensors"))
    # a single file counts whole; an unreadable model counts nothing (the loader says why)
    assert fastpath.unet_parameters(weights, single_file=True) == expected
    assert fastpath.unet_parameters(sd_model / "missing", single_file=False) == 0


def test_automatic_fast_path_is_for_large_models_only(sd_model, monkeypatch):
    """fast_cpu=None (the default): bf16 + channels_last for a UNet of at least
    FAST_CPU_MIN_PARAMETERS on a CPU with native bf16; float32 for small ones,
    which bf16 slows down, and everywhere without native bf16."""
    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: True)
    small = PipelineStore(EngineOptions(device="cpu"))
    generate(_request(sd_model), small)
    assert (small.dtype, small.channels_last) == (torch.float32, False)
    assert small.base_for(small._loaded.model).unet.dtype is torch.float32

    size = fastpath.unet_parameters(sd_model, single_file=False)
    monkeypatch.setattr(fastpath, "FAST_CPU_MIN_PARAMETERS", size)  # now it counts as large
    large = PipelineStore(EngineOptions(device="cpu"))
    generate(_request(sd_model), large)
    pipe = large.base_for(large._loaded.model)
    assert pipe.unet.dtype is torch.bfloat16
    assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert large.precision_for(large._loaded.model).fast_cpu
    # an explicit choice wins over the size, both ways
    assert PipelineStore(EngineOptions(device="cpu", fast_cpu=False)).precision_for(
        large._loaded.model
    ).dtype is torch.float32  # fmt: skip
    assert PipelineStore(EngineOptions(device="cpu", dtype="float32")).precision_for(
        large._loaded.model
    ).dtype is torch.float32  # fmt: skip
    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: False)
    fastpath_less = PipelineStore(EngineOptions(device="cpu"))
    assert fastpath_less.precision_for(large._loaded.model).dtype is torch.float32


def test_result_cache_key_names_the_automatic_precision(sd_model, monkeypatch):
    from studio.engine.cache import job_key
    from studio.engine.plan import model_for, resolve_defaults

    monkeypatch.setattr(fastpath, "cpu_has_native_bf16", lambda: True)
    store = PipelineStore(EngineOptions(device="cpu"))
    model = model_for(str(sd_model), store)
    request = resolve_defaults(_request(sd_model), model)
    small = job_key(request, model, None, [""], store)
    monkeypatch.setattr(fastpath, "FAST_CPU_MIN_PARAMETERS", 1)
    assert job_key(request, model, None, [""], PipelineStore(EngineOptions(device="cpu"))) != small


def test_channels_last_follows_the_fast_path_unless_chosen(sd_model):
    store = PipelineStore(EngineOptions(device="cpu"))
    generate(_request(sd_model), store)
    pipe = store.base_for(store._loaded.model)
    assert pipe.unet.conv_in.weight.is_contiguous()  # plain CPU float32: unchanged
    assert PipelineStore(EngineOptions(device="cpu", fast_cpu=True)).channels_last
    assert not PipelineStore(
        EngineOptions(device="cpu", fast_cpu=True, channels_last=False)
    ).channels_last
    assert PipelineStore(EngineOptions(device="cpu", channels_last=True)).channels_last


def _save_tiny_autoencoder(folder: Path) -> Path:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).save_pretrained(str(folder))
    return folder


def test_tiny_vae_option_replaces_the_autoencoder(sd_model, tmp_path):
    from diffusers import AutoencoderTiny

    taesd = _save_tiny_autoencoder(tmp_path / "taesd")
    store = PipelineStore(EngineOptions(device="cpu", tiny_vae=str(taesd)))
    result = generate(_request(sd_model), store)
    pipe = store.base_for(store._loaded.model)
    assert isinstance(pipe.vae, AutoencoderTiny)
    assert result.images[0].size == (64, 64)
    # img2img encodes with it too, on the same weights
    out = generate(_request(sd_model, mode=Mode.IMG2IMG, init_image=result.images[0]), store)
    assert out.images[0].size == (64, 64)
    assert store.loads == 1


def test_missing_tiny_vae_is_a_sentence(sd_model, tmp_path):
    store = PipelineStore(EngineOptions(device="cpu", tiny_vae=str(tmp_path / "nothing")))
    with pytest.raises(ModelLoadError, match="TAESD"):
        generate(_request(sd_model), store)


def test_speed_settings_round_trip_through_the_dialog_into_engine_options(tmp_path, qtbot):
    from studio.engine.options import EngineOptions
    from studio.ui.preferences import Preferences
    from studio.ui.settings_dialog import SettingsDialog
    from studio.ui.settings_store import load_preferences, open_store, save_preferences

    engine = EngineOptions(fast_cpu=True, tiny_vae="/models/taesd", compile=True, threads=3)
    prefs = Preferences(engine=engine)
    save_preferences(prefs, open_store(tmp_path / "settings.ini"))
    loaded = load_preferences(open_store(tmp_path / "settings.ini"))
    assert loaded == prefs
    dialog = SettingsDialog(loaded)
    qtbot.addWidget(dialog)
    assert dialog.preferences() == prefs
    dialog.editor("engine.threads").setValue(0)
    dialog.editor("engine.tiny_vae").setText("  ")
    fast_cpu = dialog.editor("engine.fast_cpu")
    fast_cpu.setCurrentIndex(fast_cpu.findData("off"))
    options = dialog.preferences().engine
    assert options == EngineOptions(compile=True, fast_cpu=False)  # own decoder, fp32
    fast_cpu.setCurrentIndex(fast_cpu.findData("auto"))
    assert dialog.preferences().engine == EngineOptions(compile=True)


def test_fast_cpu_setting_is_automatic_unless_it_was_ticked(tmp_path):
    """The old checkbox was saved unticked by every settings dialog: only a ticked
    one was a choice; the new setting says automatic, on or off."""
    from studio.ui.settings_store import load_preferences, open_store

    for old, expected in ((True, True), (False, None), (None, None)):
        store = open_store(tmp_path / f"old-{old}.ini")
        if old is not None:
            store.setValue("engine/fast_cpu", old)
        assert load_preferences(store).engine.fast_cpu is expected
    store = open_store(tmp_path / "new.ini")
    store.setValue("engine/fast_cpu", True)
    store.setValue("engine/fast_cpu_mode", "off")
    assert load_preferences(store).engine.fast_cpu is False


def test_speed_flags_reach_the_engine_options():
    from studio.app import build_parser
    from studio.cli import engine_options

    plain = engine_options(build_parser().parse_args(["generate", "-p", "x"]))
    assert (plain.fast_cpu, plain.tiny_vae, plain.compile, plain.threads) == (
        None, None, False, None,
    )  # fmt: skip
    off = engine_options(build_parser().parse_args(["generate", "-p", "x", "--no-fast-cpu"]))
    assert off.fast_cpu is False
    args = build_parser().parse_args(
        ["generate", "-p", "x", "--fast-cpu", "--tiny-vae", "madebyollin/taesd", "--compile",
         "--threads", "2"]
    )  # fmt: skip
    fast = engine_options(args)
    assert (fast.fast_cpu, fast.tiny_vae, fast.compile, fast.threads) == (
        True, "madebyollin/taesd", True, 2,
    )  # fmt: skip
    serve = engine_options(build_parser().parse_args(["serve", "--fast-cpu", "--threads", "1"]))
    assert serve.fast_cpu and serve.threads == 1

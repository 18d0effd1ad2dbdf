"""diffusers' real single-file loading path, offline, on tiny random models.

A tiny diffusers folder is written out as one original-layout (LDM / A1111)
checkpoint, loaded back with `from_single_file(config=<configs only>,
local_files_only=True)`, and every weight must come back bit-identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ldm_checkpoint import (
    SDXL_OPEN_CLIP_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    copy_pipeline_configs,
    unet_to_ldm,
    vae_to_ldm,
    write_single_file_checkpoint,
)

from studio.engine.tiny import save_tiny_model


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch):
    """With a local config folder diffusers must never reach for the Hub."""
    import diffusers.loaders.single_file as single_file

    def refuse(*args, **kwargs):
        raise AssertionError(f"from_single_file tried the Hub: {args} {kwargs}")

    monkeypatch.setattr(single_file, "_download_diffusers_model_config_from_hub", refuse)


def _folder_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    weights = {}
    for path in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(str(path)))
    assert weights, f"no weights in {folder}"
    return weights


def _assert_same_weights(pipe, folder: Path, names: list[str]) -> None:
    for name in names:
        expected = _folder_weights(folder / name)
        loaded = getattr(pipe, name).state_dict()
        assert set(loaded) == set(expected), name
        for key, tensor in expected.items():
            got = loaded[key]
            assert got.device.type != "meta", f"{name}.{key} was never loaded"
            assert got.dtype == tensor.dtype, f"{name}.{key}"
            assert torch.equal(got, tensor), f"{name}.{key} differs"


def _roundtrip(tmp_path: Path, folder: Path, pipeline_class, names: list[str]):
    checkpoint = write_single_file_checkpoint(folder, tmp_path / "model.safetensors")
    configs = copy_pipeline_configs(folder, tmp_path / "configs")
    assert not list(configs.rglob("*.safetensors"))
    pipe = pipeline_class.from_single_file(
        str(checkpoint), config=str(configs), local_files_only=True
    )
    _assert_same_weights(pipe, folder, names)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(0)
    images = pipe(
        "a red square",
        num_inference_steps=2,
        height=64,
        width=64,
        output_type="np",
        generator=generator,
    ).images
    assert images.shape == (1, 64, 64, 3)
    assert bool((images >= 0).all() and (images <= 1).all())
    return checkpoint


def test_sd1_single_file_roundtrip(tmp_path):
    from diffusers import StableDiffusionPipeline
    from safetensors import safe_open

    folder = save_tiny_model(tmp_path / "sd1")
    checkpoint = _roundtrip(
        tmp_path, folder, StableDiffusionPipeline, ["unet", "vae", "text_encoder"]
    )
    with safe_open(str(checkpoint), "pt") as f:
        prefixes = {k.split(".", 1)[0] for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    assert prefixes == {"model", "first_stage_model", "cond_stage_model"}


@pytest.mark.slow
def test_sdxl_single_file_roundtrip(tmp_path):
    from diffusers import StableDiffusionXLPipeline
    from safetensors import safe_open

    folder = save_tiny_model(tmp_path / "sdxl", sdxl=True)
    checkpoint = _roundtrip(
        tmp_path,
        folder,
        StableDiffusionXLPipeline,
        ["unet", "vae", "text_encoder", "text_encoder_2"],
    )
    with safe_open(str(checkpoint), "pt") as f:
        keys = set(f.keys())
    assert f"{SDXL_OPEN_CLIP_PREFIX}positional_embedding" in keys
    assert f"{SDXL_OPEN_CLIP_PREFIX}transformer.resblocks.0.attn.in_proj_weight" in keys
    assert f"{UNET_PREFIX}label_emb.0.0.weight" in keys


@pytest.mark.parametrize("layers_per_block", [1, 2])
def test_mapping_follows_config_depth(tmp_path, layers_per_block):
    """SD 1.5's topology (4 levels, attention in the first three down and last
    three up blocks) at toy width: diffusers' reader gets every weight back."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 32, 64, 64),
        layers_per_block=layers_per_block,
        sample_size=16,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 16, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=layers_per_block,
        norm_num_groups=8,
    )
    unet.save_pretrained(tmp_path / "unet")
    vae.save_pretrained(tmp_path / "vae")
    checkpoint = {
        UNET_PREFIX + k: v for k, v in unet_to_ldm(unet.state_dict(), dict(unet.config)).items()
    }
    checkpoint |= {
        VAE_PREFIX + k: v for k, v in vae_to_ldm(vae.state_dict(), dict(vae.config)).items()
    }
    if layers_per_block == 2:  # the real SD 1.5 numbering
        for key in (
            "input_blocks.9.0.op.weight",
            "output_blocks.2.1.conv.weight",
            "output_blocks.8.2.conv.weight",
            "middle_block.1.proj_in.weight",
        ):
            assert UNET_PREFIX + key in checkpoint
    for model in (unet, vae):
        loaded = type(model).from_single_file(
            checkpoint,
            config=str(tmp_path),
            subfolder="unet" if model is unet else "vae",
            local_files_only=True,
        )
        expected, got = model.state_dict(), loaded.state_dict()
        assert set(got) == set(expected)
        assert all(torch.equal(got[k], expected[k]) for k in expected)

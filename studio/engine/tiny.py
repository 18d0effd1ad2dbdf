"""Tiny random-weight Stable Diffusion models, built offline in a fraction of a second.

They have the real architectures (SD 1.x and SDXL, with ControlNet) at toy
sizes, the shapes diffusers' own tests use. Their pictures are noise: they
prove the whole path — resolving, loading, every mode, previews, metadata —
on a machine with no download and no GPU. The tests build them, and the
`tiny-random` catalog entries are built into the data folder by `build_once`
when the loader first needs them.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

TOKENIZER_MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    # The byte -> printable-unicode table of GPT-2 / CLIP byte-level BPE.
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, codes), strict=True))


def write_clip_tokenizer(folder: Path, merges: list[tuple[str, str]] = ()) -> Path:
    """A valid CLIP BPE tokenizer: 256 byte symbols, the same with `</w>`, the
    merges, then the two special tokens. With no merges, 514 tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": TOKENIZER_MAX_LENGTH,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=TOKENIZER_MAX_LENGTH)


# SDXL's two encoders must differ in width: diffusers' single-file loader tells
# them apart by width, as in the real model (768 and 1280).
TEXT_WIDTH, TEXT_WIDTH_2 = 32, 48


def _text_encoder_config(vocab_size: int, with_projection: bool, width: int = TEXT_WIDTH):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        hidden_size=width,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=vocab_size,
        hidden_act="gelu",
        projection_dim=32 if with_projection else 512,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
    )


def _scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=64,
    )


def _sdxl_unet_kwargs() -> dict:
    return {
        "attention_head_dim": (2, 4),
        "use_linear_projection": True,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 8,
        "transformer_layers_per_block": (1, 2),
        # 6 size-conditioning numbers × 8 + the pooled text embedding (32)
        "projection_class_embeddings_input_dim": 80,
        # both encoders' hidden states, concatenated
        "cross_attention_dim": TEXT_WIDTH + TEXT_WIDTH_2,
    }


def build_components(work_dir: Path, sdxl: bool = False, inpaint_unet: bool = False, seed: int = 0):
    """The components of a tiny pipeline (a dict for the pipeline constructor)."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = _load_tokenizer(write_clip_tokenizer(work_dir / "tokenizer-src"))
    vocab_size = len(tokenizer)
    torch.manual_seed(seed)
    unet_kwargs = {
        "block_out_channels": (32, 64),
        "layers_per_block": 2,
        "sample_size": 32,
        "in_channels": 9 if inpaint_unet else 4,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "cross_attention_dim": 32,
    }
    if sdxl:
        unet_kwargs.update(_sdxl_unet_kwargs())
    unet = UNet2DConditionModel(**unet_kwargs)
    torch.manual_seed(seed + 1)
    vae = _vae()
    torch.manual_seed(seed + 2)
    components = {
        "unet": unet,
        "vae": vae,
        "scheduler": _scheduler(),
        "tokenizer": tokenizer,
    }
    if sdxl:
        components["text_encoder"] = CLIPTextModel(_text_encoder_config(vocab_size, False))
        torch.manual_seed(seed + 3)
        components["text_encoder_2"] = CLIPTextModelWithProjection(
            _text_encoder_config(vocab_size, True, TEXT_WIDTH_2)
        )
        components["tokenizer_2"] = tokenizer
        components["image_encoder"] = None
        components["feature_extractor"] = None
    else:
        components["text_encoder"] = CLIPTextModel(_text_encoder_config(vocab_size, False))
        components["safety_checker"] = None
        components["feature_extractor"] = None
        components["image_encoder"] = None
    return components


def build_controlnet(sdxl: bool = False, seed: int = 0):
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(seed + 10)
    kwargs = {
        "block_out_channels": (32, 64),
        "layers_per_block": 2,
        "in_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "cross_attention_dim": 32,
        # Two stages: the condition is downsampled by 2, like this VAE.
        "conditioning_embedding_out_channels": (16, 32),
    }
    if sdxl:
        kwargs.update(_sdxl_unet_kwargs())
    net = ControlNetModel(**kwargs)
    # A fresh ControlNet's output convolutions are zero (they are trained up
    # from nothing), so it would have no effect at all; random ones make the
    # control image visibly steer the result.
    with torch.no_grad():
        for param in net.parameters():
            if not param.any():
                param.normal_(0.0, 0.05)
    return net


def save_tiny_model(folder: Path, sdxl: bool = False, inpaint_unet: bool = False, seed: int = 0):
    """Writes a tiny pipeline in the diffusers folder layout and returns the folder."""
    import tempfile

    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        components = build_components(Path(work), sdxl, inpaint_unet, seed)
    if sdxl:
        pipe = StableDiffusionXLPipeline(**components)
    else:
        pipe = StableDiffusionPipeline(**components, requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def save_tiny_controlnet(folder: Path, sdxl: bool = False, seed: int = 0) -> Path:
    folder = Path(folder)
    build_controlnet(sdxl, seed).save_pretrained(str(folder), safe_serialization=True)
    return folder


_build_lock = threading.Lock()


def build_once(folder: Path, controlnet: bool = False) -> Path:
    """Builds a tiny model (or ControlNet) into `folder` unless a complete one is
    there. Built beside it and moved in, so a folder marked complete is whole."""
    folder = Path(folder)
    with _build_lock:
        if not (folder / ".complete").exists():
            tmp = folder.parent / f".{folder.name}.building"
            if controlnet:
                save_tiny_controlnet(tmp)
            else:
                save_tiny_model(tmp)
            (tmp / ".complete").touch()
            if folder.exists():
                shutil.rmtree(folder)
            tmp.replace(folder)
    return folder

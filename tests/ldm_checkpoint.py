"""Turn a diffusers pipeline folder into one original-layout checkpoint file.

The single `.safetensors` files people download (A1111 / ComfyUI / CivitAI
style) use the original Stable Diffusion ("LDM", "CompVis") key names:

    model.diffusion_model.*                   the UNet
    first_stage_model.*                       the VAE
    cond_stage_model.transformer.*            SD 1.x: the CLIP text encoder
    conditioner.embedders.0.transformer.*     SDXL: the first (CLIP-L style) encoder
    conditioner.embedders.1.model.*           SDXL: the second encoder, OpenCLIP layout

This module writes such a file from a (tiny) diffusers folder so the tests can
drive diffusers' real `from_single_file` path offline. Every mapping here is
the inverse of diffusers' own reader (`diffusers.loaders.single_file_utils`:
`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`,
`convert_ldm_clip_checkpoint`, `convert_open_clip_checkpoint`), and the block
numbering comes from each component's `config.json`, so any depth works. A
weight that no rule knows is an error, never silently dropped.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_CLIP_PREFIX = "cond_stage_model.transformer."
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

# diffusers ResnetBlock2D names -> LDM ResBlock names (UNet)
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    # SDXL's size/pooled-text embedding and a class embedding both live at label_emb
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
}
# diffusers VAE Attention names -> LDM AttnBlock names
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_VAE_TOP = {
    "encoder.conv_in": "encoder.conv_in",
    "encoder.conv_out": "encoder.conv_out",
    "encoder.conv_norm_out": "encoder.norm_out",
    "decoder.conv_in": "decoder.conv_in",
    "decoder.conv_out": "decoder.conv_out",
    "decoder.conv_norm_out": "decoder.norm_out",
    "quant_conv": "quant_conv",
    "post_quant_conv": "post_quant_conv",
}
# diffusers CLIP encoder-layer names -> OpenCLIP resblock names
_OPEN_CLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}


def _split_param(key: str) -> tuple[str, str]:
    """'a.b.weight' -> ('a.b', 'weight')."""
    module, _, param = key.rpartition(".")
    return module, param


def _rename_first(module: str, table: dict[str, str], where: str) -> str:
    for old, new in table.items():
        if module == old or module.startswith(old + "."):
            return new + module[len(old) :]
    raise ValueError(f"no LDM name for {where} module {module!r}")


def _layers_per_block(config: dict, component: str) -> int:
    layers = config["layers_per_block"]
    if not isinstance(layers, int):
        # diffusers' reader indexes blocks with one `layers_per_block + 1` stride.
        raise ValueError(f"{component}: per-block layers_per_block {layers!r} has no LDM layout")
    return layers


def unet_to_ldm(state_dict: dict, config: dict) -> dict:
    """diffusers UNet2DConditionModel keys -> LDM `openaimodel.UNetModel` keys (no prefix).

    LDM numbers the UNet's children flat: input_blocks.0 is conv_in, then each
    down block contributes `layers_per_block` (resnet[, attention]) entries and,
    except the last, one downsampler entry; output_blocks hold
    `layers_per_block + 1` entries per up block, the upsampler sitting after the
    attention when there is one (index 2) and after the resnet when not (index 1).
    """
    layers = _layers_per_block(config, "unet")
    stride = layers + 1
    up_with_attention = {
        int(m.group(1)) for k in state_dict if (m := re.match(r"up_blocks\.(\d+)\.attentions\.", k))
    }
    out = {}
    for key, tensor in state_dict.items():
        if m := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f"input_blocks.{i * stride + j + 1}.0." + _rename_first(rest, _UNET_RESNET, key)
        elif m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$", key):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f"input_blocks.{i * stride + j + 1}.1.{rest}"
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(\w+)$", key):
            new = f"input_blocks.{(int(m[1]) + 1) * stride}.0.op.{m[2]}"
        elif m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f"output_blocks.{i * stride + j}.0." + _rename_first(rest, _UNET_RESNET, key)
        elif m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$", key):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f"output_blocks.{i * stride + j}.1.{rest}"
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(\w+)$", key):
            i = int(m[1])
            slot = 2 if i in up_with_attention else 1
            new = f"output_blocks.{i * stride + layers}.{slot}.conv.{m[2]}"
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)$", key):
            new = f"middle_block.{2 * int(m[1])}." + _rename_first(m[2], _UNET_RESNET, key)
        elif m := re.match(r"mid_block\.attentions\.(\d+)\.(.+)$", key):
            new = f"middle_block.{2 * int(m[1]) + 1}.{m[2]}"
        elif key == "class_embedding.weight":
            new = "label_emb.weight"
        else:
            module, param = _split_param(key)
            new = _rename_first(module, _UNET_TOP, "unet") + "." + param
        if new in out:
            raise ValueError(f"unet: two weights map to {new!r}")
        out[new] = tensor
    return out


def vae_to_ldm(state_dict: dict, config: dict) -> dict:
    """diffusers AutoencoderKL keys -> LDM `AutoencoderKL` keys (no prefix).

    The LDM decoder numbers its up levels from the bottom (up.0 is the last to
    run, at full resolution); diffusers numbers them in running order.
    """
    num_up = len(config["up_block_types"])
    out = {}
    for key, tensor in state_dict.items():
        if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key):
            new = f"encoder.down.{m[1]}.block.{m[2]}." + m[3].replace(
                "conv_shortcut", "nin_shortcut"
            )
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(\w+)$", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key):
            level = num_up - 1 - int(m[1])
            new = f"decoder.up.{level}.block.{m[2]}." + m[3].replace(
                "conv_shortcut", "nin_shortcut"
            )
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(\w+)$", key):
            new = f"decoder.up.{num_up - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)$", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}." + m[3].replace(
                "conv_shortcut", "nin_shortcut"
            )
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)$", key):
            module, param = _split_param(m[2])
            new = f"{m[1]}.mid.attn_1.{_rename_first(module, _VAE_ATTENTION, key)}.{param}"
            if param == "weight" and tensor.ndim == 2:
                # LDM's AttnBlock uses 1x1 convolutions; diffusers squeezes them back.
                tensor = tensor[:, :, None, None]
        else:
            module, param = _split_param(key)
            new = _rename_first(module, _VAE_TOP, "vae") + "." + param
        if new in out:
            raise ValueError(f"vae: two weights map to {new!r}")
        out[new] = tensor
    return out


def clip_to_ldm(state_dict: dict) -> dict:
    """transformers CLIPTextModel keys -> the HF-CLIP keys the originals store.

    The originals keep transformers' own names under `text_model.`; since
    transformers 5.6 CLIPTextModel saves them without that level, so add it back.
    """
    return {
        k if k.startswith("text_model.") else "text_model." + k: v for k, v in state_dict.items()
    }


def clip_to_open_clip(state_dict: dict) -> dict:
    """transformers CLIPTextModelWithProjection keys -> OpenCLIP text-tower keys.

    OpenCLIP fuses q, k, v into `attn.in_proj_*` (rows in that order), keeps the
    position embedding as a bare tensor, and stores `text_projection` as the
    matrix to right-multiply with, i.e. the transpose of the nn.Linear weight.
    """
    import torch

    sd = {k.removeprefix("text_model."): v for k, v in state_dict.items()}
    out = {}
    fused: dict[str, dict[str, object]] = {}
    for key, tensor in sd.items():
        if key == "embeddings.token_embedding.weight":
            out["token_embedding.weight"] = tensor
        elif key == "embeddings.position_embedding.weight":
            out["positional_embedding"] = tensor
        elif key.startswith("final_layer_norm."):
            out["ln_final." + key.removeprefix("final_layer_norm.")] = tensor
        elif key == "text_projection.weight":
            out["text_projection"] = tensor.T.contiguous()
        elif m := re.match(r"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$", key):
            fused.setdefault(f"transformer.resblocks.{m[1]}.attn.in_proj_{m[3]}", {})[m[2]] = tensor
        elif m := re.match(r"encoder\.layers\.(\d+)\.(.+)$", key):
            module, param = _split_param(m[2])
            module = _rename_first(module, _OPEN_CLIP_LAYER, key)
            out[f"transformer.resblocks.{m[1]}.{module}.{param}"] = tensor
        else:
            raise ValueError(f"no OpenCLIP name for text encoder weight {key!r}")
    for key, parts in fused.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{key}: q/k/v incomplete ({sorted(parts)})")
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def _read_config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def _load_component_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    names = ("diffusion_pytorch_model", "model")
    for name in names:
        single = folder / f"{name}.safetensors"
        if single.is_file():
            return load_file(str(single))
        index = folder / f"{name}.safetensors.index.json"
        if index.is_file():
            shards = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
            merged = {}
            for shard in shards:
                merged.update(load_file(str(folder / shard)))
            return merged
    raise FileNotFoundError(f"no safetensors weights in {folder}")


def _prefixed(prefix: str, state_dict: dict) -> dict:
    return {prefix + k: v for k, v in state_dict.items()}


def ldm_state_dict(pipeline_folder: Path) -> dict:
    """The whole pipeline's weights under original key names (tensors, not yet saved)."""
    folder = Path(pipeline_folder)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    sdxl = (index.get("text_encoder_2") or [None])[0] is not None
    ckpt = {}
    ckpt.update(
        _prefixed(
            UNET_PREFIX,
            unet_to_ldm(_load_component_weights(folder / "unet"), _read_config(folder / "unet")),
        )
    )
    ckpt.update(
        _prefixed(
            VAE_PREFIX,
            vae_to_ldm(_load_component_weights(folder / "vae"), _read_config(folder / "vae")),
        )
    )
    text = clip_to_ldm(_load_component_weights(folder / "text_encoder"))
    if sdxl:
        widths = [
            _read_config(folder / n)["hidden_size"] for n in ("text_encoder", "text_encoder_2")
        ]
        if widths[0] == widths[1]:
            warnings.warn(
                f"both SDXL text encoders are {widths[0]} wide: diffusers' from_single_file tells "
                "them apart only by width and will load text_encoder's weights into "
                "text_encoder_2 (studio.engine.tiny makes them 32 and 48 wide)",
                stacklevel=3,
            )
        ckpt.update(_prefixed(SDXL_CLIP_PREFIX, text))
        text_2 = clip_to_open_clip(_load_component_weights(folder / "text_encoder_2"))
        ckpt.update(_prefixed(SDXL_OPEN_CLIP_PREFIX, text_2))
    else:
        ckpt.update(_prefixed(SD1_CLIP_PREFIX, text))
    return ckpt


def write_single_file_checkpoint(pipeline_folder: Path, out_path: Path) -> Path:
    """Writes the diffusers folder (SD 1.x or SDXL layout) as one original-layout
    `.safetensors` checkpoint and returns its path."""
    from safetensors.torch import save_file

    ckpt = {k: v.contiguous() for k, v in ldm_state_dict(pipeline_folder).items()}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file(ckpt, str(out_path), metadata={"format": "pt"})
    return out_path


def copy_pipeline_configs(pipeline_folder: Path, dest: Path) -> Path:
    """Copies only the config, tokenizer and scheduler files of a diffusers folder
    (what diffusers itself fetches from the Hub for `from_single_file`: *.json,
    *.txt, *.model), so a load from it must take every weight from the checkpoint."""
    src, dest = Path(pipeline_folder), Path(dest)
    for path in src.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".txt", ".model"}:
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest

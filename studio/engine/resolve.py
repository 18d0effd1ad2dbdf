"""Resolving what a user names into a model on this machine.

A model is named by a catalog name (`sd15`), a diffusers folder, a single
`.safetensors` checkpoint, or a hub id already in the local hub cache. Nothing
here downloads or builds: a model that is not present is a clear error saying
how to get it, and one this machine makes (`tiny-random`) is only named, for
the loader to build. Only configs and file headers are read; nothing here
imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from .catalog import CATALOG, Architecture, CatalogEntry, Kind, ModelDefaults
from .errors import ModelLoadError, ModelNotFoundError, UnsafeModelError
from .hub_cache import only_variants, snapshot_folder

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


class Source(StrEnum):
    FOLDER = "folder"
    SINGLE_FILE = "single-file"
    HUB_CACHE = "hub-cache"


@dataclass(frozen=True)
class ResolvedModel:
    spec: str  # what the user named
    label: str  # the short name written into metadata
    path: Path
    source: Source
    kind: Kind
    architecture: Architecture
    defaults: ModelDefaults
    inpaint_unet: bool = False  # a 9-channel UNet made for inpainting only
    controlnet: str | None = None  # spec of the matching canny ControlNet
    config: str | None = None  # diffusers config folder for a single file
    # Made on this machine: `path` may not hold it yet; the loader builds it
    # there (pipelines.ensure_files) before reading it.
    builds_locally: bool = False
    # The weights' variant when some folder has no full-precision set (a CUDA
    # download fetches only the fp16 files); the loader must name it.
    variant: str | None = None

    @property
    def identity(self) -> tuple:
        """Changes when the files change, so a cache never serves stale weights."""
        stamp = self.path.stat().st_mtime_ns if self.path.exists() else 0
        return (str(self.path.resolve()), stamp, self.config)

    @cached_property
    def decoder(self) -> str | None:
        """Catalog name of the family's tiny decoder (the speed pack), or None when
        the model's own VAE is not the one TAESD imitates. A catalog model says
        (the demo and tiny-random name none); a checkpoint in SD's layout carries
        SD's VAE; a folder or hub id has one only if its VAE is SD-sized."""
        if self.kind is not Kind.PIPELINE:
            return None
        entry = CATALOG.get(self.spec)
        if entry is not None:
            return entry.decoder
        if self.source is Source.SINGLE_FILE or _sd_sized_vae(self.path / "vae" / "config.json"):
            return CATALOG["sdxl" if self.architecture is Architecture.SDXL else "sd15"].decoder
        return None


_NOT_AN_IMAGE_MODEL = {
    Kind.CONTROLNET: "a ControlNet (it guides an image model in ControlNet mode), not an image "
    "model; choose it as the ControlNet (--controlnet) and an image model as the model.",
    Kind.DECODER: "a speed pack (a tiny decoder the CPU uses by itself with the image models of "
    "its family), not an image model; choose an image model in its place.",
}


def image_model_problem(model: ResolvedModel) -> str | None:
    """Why `model` cannot be a job's model (a ControlNet or a speed pack chosen
    as one), or None: said before anything loads, not as damaged files later."""
    what = _NOT_AN_IMAGE_MODEL.get(model.kind)
    return f"{model.label!r} is {what}" if what else None


def _read_json(path: Path, spec: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Model {spec!r} is damaged: {path.name} could not be read ({exc}). "
            "Download it again or choose another folder."
        ) from exc


def _sd_sized_vae(config: Path) -> bool:
    """Whether a VAE config is SD 1.x/2.x/XL's: the 8x, 4-channel KL autoencoder
    whose last block is 512 wide. The demo's (3 blocks, 32 wide) and the
    tiny-random models' (2 blocks) decode latents no tiny decoder was trained on."""
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
        blocks = cfg.get("block_out_channels") or []
        return (
            cfg.get("_class_name") == "AutoencoderKL"
            and cfg.get("latent_channels") == 4
            and len(blocks) == 4
            and blocks[-1] >= 512
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return False  # unreadable: the loader says so, not this guess


def _sample_defaults(folder: Path, spec: str, base: ModelDefaults) -> tuple[ModelDefaults, bool]:
    """Native size and inpaint flag read from the folder's UNet and VAE configs."""
    unet_cfg = folder / "unet" / "config.json"
    vae_cfg = folder / "vae" / "config.json"
    if not unet_cfg.is_file():
        raise ModelLoadError(
            f"Model {spec!r} is incomplete: {folder} has no unet/config.json. "
            "Download it again or choose another folder."
        )
    unet = _read_json(unet_cfg, spec)
    scale = 8
    if vae_cfg.is_file():
        scale = 2 ** (len(_read_json(vae_cfg, spec).get("block_out_channels", [0] * 4)) - 1)
    sample = unet.get("sample_size", 64)
    side = sample * scale if isinstance(sample, int) else base.width
    return replace(base, width=side, height=side), unet.get("in_channels") == 9


def _class_of(config: Path, spec: str) -> str:
    return str(_read_json(config, spec).get("_class_name", "")) if config.is_file() else ""


def _inspect_pipeline_folder(
    folder: Path, spec: str, label: str, source: Source, entry: CatalogEntry | None
) -> ResolvedModel:
    index_path = folder / "model_index.json"
    config_path = folder / "config.json"
    if not index_path.is_file() and _class_of(config_path, spec) == "AutoencoderTiny":
        # a TAESD decoder (speed pack); taesd and taesdxl share one config, so only
        # the catalog entry knows the family
        arch = entry.architecture if entry is not None else Architecture.SD
        return ResolvedModel(spec, label, folder, source, Kind.DECODER, arch, ModelDefaults())
    if not index_path.is_file():
        if config_path.is_file() and "ControlNet" in _read_json(config_path, spec).get(
            "_class_name", ""
        ):
            cfg = _read_json(config_path, spec)
            arch = Architecture.SDXL if cfg.get("addition_embed_type") else Architecture.SD
            variant = (
                "fp16" if "fp16" in only_variants([p.name for p in folder.iterdir()]) else None
            )
            return ResolvedModel(
                spec, label, folder, source, Kind.CONTROLNET, arch, ModelDefaults(), variant=variant
            )
        raise ModelLoadError(
            f"{folder} is not a diffusers model: it has no model_index.json. "
            "Choose the folder that holds model_index.json, or a single .safetensors file."
        )
    index = _read_json(index_path, spec)
    class_name = index.get("_class_name", "")
    arch = Architecture.SDXL if "XL" in class_name else Architecture.SD
    if entry is not None:
        base, controlnet = entry.defaults, entry.controlnet
    else:
        base = ModelDefaults(30, 6.0) if arch is Architecture.SDXL else ModelDefaults()
        controlnet = None
    defaults, inpaint = _sample_defaults(folder, spec, base)
    if entry is not None and entry.defaults.width != defaults.width:
        # Turbo models are trained at a size other than their UNet's sample size.
        defaults = entry.defaults
    if controlnet is None:
        controlnet = (
            "controlnet-canny-sdxl" if arch is Architecture.SDXL else "controlnet-canny-sd15"
        )
    return ResolvedModel(
        spec,
        label,
        folder,
        source,
        Kind.PIPELINE,
        arch,
        defaults,
        inpaint,
        controlnet,
        variant=_variant(folder),
    )


def _variant(folder: Path) -> str | None:
    """The fp16 variant's name when a component's weights are there only in it."""
    for part in folder.iterdir():
        if part.is_dir() and "fp16" in only_variants([p.name for p in part.iterdir()]):
            return "fp16"
    return None


_UNET_INPUT = "model.diffusion_model.input_blocks.0.0.weight"


def _inspect_single_file(path: Path, spec: str) -> tuple[Architecture, bool]:
    """Architecture and inpaint flag, from the checkpoint's header alone."""
    from safetensors import safe_open

    try:
        # Opening checks the header covers the file: a truncated download fails here,
        # with a clearer message than diffusers' loader gives.
        with safe_open(str(path), framework="numpy") as f:
            keys = set(f.keys())
            in_channels = f.get_slice(_UNET_INPUT).get_shape()[1] if _UNET_INPUT in keys else 4
    except Exception as exc:  # safetensors raises its own error types
        raise ModelLoadError(
            f"Model {spec!r} is not a readable .safetensors file ({exc}). "
            "It may be damaged or incomplete: download it again."
        ) from exc
    inpaint = in_channels == 9
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return Architecture.SDXL, inpaint
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return Architecture.SD, inpaint
    raise ModelLoadError(
        f"{path.name} is not a Stable Diffusion checkpoint this app can load "
        "(no UNet weights in the original layout were found)."
    )


def _resolve_single_file(path: Path, spec: str, allow_pickle: bool) -> ResolvedModel:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise UnsafeModelError(
                f"{path.name} is a pickle checkpoint ({suffix}), which can run code when "
                "loaded. Convert it to .safetensors, or allow pickle checkpoints in the "
                "settings if you trust where it came from."
            )
        arch, inpaint = Architecture.SD, False
    elif suffix == ".safetensors":
        arch, inpaint = _inspect_single_file(path, spec)
    else:
        raise ModelLoadError(
            f"{path.name} is not a model file: choose a .safetensors checkpoint or a "
            "diffusers folder."
        )
    # The single-file loader needs the diffusers configuration of the base
    # architecture; offline it can only come from a base model in the cache.
    base = CATALOG["sdxl" if arch is Architecture.SDXL else "sd15"]
    defaults = base.defaults
    config = _sibling_config(path)
    if config is None:
        snapshot = snapshot_folder(base.hub_id)
        config = str(snapshot) if snapshot is not None else None
    return ResolvedModel(
        spec,
        path.stem,
        path,
        Source.SINGLE_FILE,
        Kind.PIPELINE,
        arch,
        defaults,
        inpaint_unet=inpaint,
        controlnet=base.controlnet,
        config=config,
    )


def _sibling_config(path: Path) -> str | None:
    """A diffusers config folder shipped next to a checkpoint (`name.safetensors`
    beside `name/model_index.json`) takes precedence over the base model's."""
    folder = path.with_suffix("")
    return str(folder) if (folder / "model_index.json").is_file() else None


def _bundled_folder(entry: CatalogEntry) -> Path:
    from ..paths import bundled_models_dir

    folder = bundled_models_dir() / entry.name
    marker = "config.json" if entry.kind is Kind.CONTROLNET else "model_index.json"
    if not (folder / marker).is_file():
        raise ModelNotFoundError(
            f"The bundled model {entry.name!r} is missing from this installation "
            f"(looked in {folder}). Reinstall the app, or in a checkout run "
            "`scripts/train-demo` to rebuild it."
        )
    return folder


def _built_locally(entry: CatalogEntry, models_root: Path | None) -> ResolvedModel:
    """A model this machine makes (tiny.py), described from its catalog entry:
    it is only named here, whether or not its folder exists yet."""
    from ..paths import models_dir

    folder = (models_root or models_dir()) / entry.name
    controlnet = entry.controlnet if entry.kind is Kind.PIPELINE else None
    return ResolvedModel(
        entry.name,
        entry.name,
        folder,
        Source.FOLDER,
        entry.kind,
        entry.architecture,
        entry.defaults,
        controlnet=controlnet,
        builds_locally=True,
    )


def resolve_model(
    spec: str,
    *,
    allow_pickle: bool = False,
    model_dirs: tuple[Path, ...] = (),
    models_root: Path | None = None,
) -> ResolvedModel:
    """Turns what a user named into a model on disk, or raises a clear error."""
    spec = spec.strip()
    entry = CATALOG.get(spec)
    if entry is not None:
        return _resolve_entry(entry, models_root)
    path = _find_path(spec, model_dirs)
    if path.is_dir():
        return _inspect_pipeline_folder(path, spec, path.name, Source.FOLDER, None)
    if path.is_file():
        return _resolve_single_file(path, spec, allow_pickle)
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return _resolve_hub_id(spec)
    names = ", ".join(n for n, e in CATALOG.items() if e.kind is Kind.PIPELINE)
    raise ModelNotFoundError(
        f"Model {spec!r} was not found: it is not a catalog name ({names}), "
        "an existing folder or file, or a hub id in the local cache."
    )


def _resolve_entry(entry: CatalogEntry, models_root: Path | None) -> ResolvedModel:
    if entry.bundled:
        folder = _bundled_folder(entry)
        return _inspect_pipeline_folder(folder, entry.name, entry.name, Source.FOLDER, entry)
    if entry.builds_locally:
        return _built_locally(entry, models_root)
    snapshot = snapshot_folder(entry.hub_id)
    if snapshot is None:
        raise ModelNotFoundError(
            f"Model {entry.name!r} ({entry.title}) is not on this machine. Download it with "
            f"`studio download {entry.name}` (needs internet), or choose a local folder or "
            ".safetensors file."
        )
    return _inspect_pipeline_folder(snapshot, entry.name, entry.name, Source.HUB_CACHE, entry)


def _find_path(spec: str, model_dirs: tuple[Path, ...]) -> Path:
    """The file or folder `spec` names, as given or inside a model folder setting."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    for folder in model_dirs:
        candidate = Path(folder) / spec
        if candidate.exists():
            return candidate
    return path


def _resolve_hub_id(spec: str) -> ResolvedModel:
    snapshot = snapshot_folder(spec)
    if snapshot is None:
        raise ModelNotFoundError(
            f"Model {spec!r} is not in the local hub cache. Download it with "
            f"`studio download {spec}` (needs internet), or choose a local folder or file."
        )
    return _inspect_pipeline_folder(snapshot, spec, spec, Source.HUB_CACHE, None)


def catalog_status(entry: CatalogEntry) -> str:
    """'bundled', 'ready', 'builds locally' or 'not downloaded' — for model pickers."""
    if entry.bundled:
        return "bundled"
    if entry.builds_locally:
        return "builds locally"
    return "ready" if snapshot_folder(entry.hub_id) is not None else "not downloaded"

"""The fast CPU path: bfloat16 where the CPU computes it natively, channels_last
memory layout, PyTorch's SDPA attention, thread count, a tiny autoencoder (TAESD
architecture) as the decoder, and opt-in `torch.compile`.

The tiny decoder is either named by the user (`tiny_vae`), or the "speed pack":
the TAESD decoder of the model's family (catalog entries `taesd`, `taesdxl`),
used on the CPU automatically once it is in the hub cache (`speed_pack`).

Measured in benchmarks/perf_real_cpu.py and written up in docs/PERFORMANCE.md.
On GPUs the same options keep float16, SDPA and channels_last; compile stays opt-in.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import SPEED_PACK_EFFECT
from .errors import EngineError, ModelLoadError

if TYPE_CHECKING:
    from .options import EngineOptions
    from .resolve import ResolvedModel

log = logging.getLogger(__name__)

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX).
    Elsewhere bf16 is emulated and slower than float32, so it is never chosen."""
    import torch

    try:
        if not torch.backends.mkldnn.is_available():
            return False
        supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        if supported is not None and not supported():
            return False
    except Exception:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        # not Linux: trust oneDNN's check (it looks at the same CPUID bits)
        return True
    return any(flag in flags for flag in _BF16_FLAGS)


def fast_dtype(device: str):
    """The precision the fast path picks for `dtype="auto"`."""
    import torch

    if device in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


# bf16 + NHWC pay off where a UNet's large convolutions and matmuls dominate. On a
# small one the conversions cost more than they save: the bundled demo model (4 M
# UNet parameters) ran 1.03× slower with them, SD 2.1's UNet (866 M) 2× faster
# (docs/PERFORMANCE.md). Between the two nothing was measured; 100 M sits far from both.
FAST_CPU_MIN_PARAMETERS = 100_000_000
_BYTES_PER_PARAMETER_GUESS = 2  # fp16, how most checkpoints are distributed


def unet_parameters(model_path: Path, single_file: bool) -> int:
    """The UNet's parameter count, read from the safetensors headers without
    loading anything. A single-file checkpoint counts whole (UNet, VAE and text
    encoder: it is at least as large); other formats are estimated from their size."""
    files = [model_path] if single_file else _weight_files(model_path / "unet")
    return sum(_parameters_in(f) for f in files)


def _weight_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    safetensors = sorted(folder.glob("*.safetensors"))
    return safetensors or sorted(folder.glob("*.bin"))


def _parameters_in(path: Path) -> int:
    try:
        if path.suffix == ".safetensors":
            with path.open("rb") as file:
                length = int.from_bytes(file.read(8), "little")
                header = json.loads(file.read(length))
            return sum(
                math.prod(entry["shape"])
                for name, entry in header.items()
                if name != "__metadata__"
            )
        return path.stat().st_size // _BYTES_PER_PARAMETER_GUESS
    except (OSError, ValueError, KeyError, TypeError):
        return 0  # unreadable: the loader reports it properly


def fast_cpu_helps(model_path: Path, single_file: bool) -> bool:
    """The automatic choice: the fast path for models large enough to gain from it,
    on CPUs with native bf16."""
    return cpu_has_native_bf16() and (
        unet_parameters(model_path, single_file) >= FAST_CPU_MIN_PARAMETERS
    )


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


_DECODER_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


@dataclass(frozen=True)
class Decoder:
    """The tiny decoder a model decodes (and encodes) with instead of its own VAE."""

    name: str  # written into the image's parameters as its "VAE"
    source: str  # a folder, or a hub id in the local cache
    speed_pack: bool  # chosen automatically, not named by the user


def speed_pack_folder(name: str) -> Path | None:
    """The folder of a speed pack (a DECODER catalog entry, e.g. "taesd") when its
    config and weights are in the hub cache, else None. Never downloads."""
    from .resolve import resolve_model

    try:
        folder = resolve_model(name).path
    except EngineError:
        return None
    return folder if any((folder / w).is_file() for w in _DECODER_WEIGHTS) else None


def _offers_speed_pack(options: EngineOptions, device: str, model: ResolvedModel) -> bool:
    # On GPUs the full VAE costs little; an explicit tiny_vae overrides the choice.
    return bool(options.speed_pack and device == "cpu" and not options.tiny_vae and model.decoder)


def choose_decoder(options: EngineOptions, device: str, model: ResolvedModel) -> Decoder | None:
    """The tiny decoder `model` runs with on `device`: the one the user named, else
    its family's speed pack on the CPU when present and not switched off, else None."""
    if options.tiny_vae:
        source = options.tiny_vae.strip()
        return Decoder(Path(source).name or source, source, speed_pack=False)
    if not _offers_speed_pack(options, device, model):
        return None
    assert model.decoder is not None
    folder = speed_pack_folder(model.decoder)
    return Decoder(model.decoder, str(folder), speed_pack=True) if folder else None


def decoder_notice(
    options: EngineOptions, device: str, model: ResolvedModel, decoder: Decoder | None
) -> str | None:
    """One sentence for the job that loads `model`: that the speed pack decodes it,
    or that one could; None where the speed pack does not apply."""
    if decoder is not None and decoder.speed_pack:
        return (
            f"Decoding with the speed pack {decoder.name} ({SPEED_PACK_EFFECT}); for the "
            "model's own decoder, turn off 'Speed pack on the CPU' in Settings (or pass "
            "--no-speed-pack)."
        )
    if decoder is None and _offers_speed_pack(options, device, model):
        return (
            f"A speed pack for this model, {model.decoder} ({SPEED_PACK_EFFECT}, a few MB), "
            f"can be downloaded from Models… (or with: studio download {model.decoder})."
        )
    return None


def load_tiny_vae(decoder: Decoder, dtype: Any) -> Any:
    """An AutoencoderTiny (TAESD weights, e.g. madebyollin/taesd) from a local
    folder or the hub cache; never downloads."""
    from diffusers import AutoencoderTiny

    try:
        return AutoencoderTiny.from_pretrained(decoder.source, dtype=dtype, local_files_only=True)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        if decoder.speed_pack:
            raise ModelLoadError(
                f"The speed pack {decoder.name} could not be loaded ({reason}). Download it "
                f"again (`studio download {decoder.name}`), or turn off 'Speed pack on the CPU' in "
                "the settings."
            ) from exc
        raise ModelLoadError(
            f"The fast decoder {decoder.source!r} could not be loaded ({reason}). "
            "Download the TAESD weights (madebyollin/taesd, or taesdxl for SDXL) into a folder "
            "and choose it, or switch the fast decoder off."
        ) from exc


def apply_fast_path(pipe: Any, *, channels_last: bool, compile_unet: bool) -> None:
    """Applies the layout, attention and compile choices to a placed pipeline."""
    import torch

    for name in ("unet", "vae", "controlnet"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if hasattr(module, "set_default_attn_processor") and hasattr(module, "attn_processors"):
            _use_sdpa(module)
        if channels_last:
            module.to(memory_format=torch.channels_last)
    unet = getattr(pipe, "unet", None)
    if compile_unet and unet is not None and not getattr(unet, "_studio_compiled", False):
        unet.compile()  # in place: the module keeps its type for from_pipe and LoRA
        unet._studio_compiled = True


def _use_sdpa(module: Any) -> None:
    """PyTorch's fused scaled-dot-product attention (diffusers' AttnProcessor2_0)
    unless a model already uses something else on purpose (LoRA, IP adapters)."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    processors = module.attn_processors
    if processors and all(isinstance(p, AttnProcessor) for p in processors.values()):
        module.set_attn_processor(AttnProcessor2_0())

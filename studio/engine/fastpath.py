"""The fast CPU path: bfloat16 where the CPU computes it natively, channels_last
memory layout, PyTorch's SDPA attention, thread count, an optional tiny
autoencoder (TAESD architecture) as the decoder, and opt-in `torch.compile`.

Measured in benchmarks/perf_real_cpu.py and written up in docs/PERFORMANCE.md.
On GPUs the same options keep float16, SDPA and channels_last; compile stays opt-in.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

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


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def load_tiny_vae(spec: str, dtype: Any) -> Any:
    """An AutoencoderTiny (TAESD weights, e.g. madebyollin/taesd) from a local
    folder or the hub cache; never downloads."""
    from diffusers import AutoencoderTiny

    try:
        return AutoencoderTiny.from_pretrained(spec, dtype=dtype, local_files_only=True)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise ModelLoadError(
            f"The fast decoder {spec!r} could not be loaded ({reason}). "
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

"""Engine settings that outlive a single request (device, memory, safety of loading)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"  # auto: CUDA, then Apple MPS, then the CPU
    dtype: str = "auto"  # auto: float16 on GPUs, float32 on the CPU
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False  # CUDA only: keeps idle sub-models in RAM
    allow_pickle: bool = False  # .ckpt / .pt files can run code when loaded
    model_dirs: tuple[Path, ...] = ()
    models_root: Path | None = None  # where locally built models go (tests)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"Unknown device {self.device!r}; choose one of {', '.join(DEVICES)}.")
        if self.dtype not in DTYPES:
            raise ValueError(
                f"Unknown precision {self.dtype!r}; choose one of {', '.join(DTYPES)}."
            )

"""Engine settings that outlive a single request: device, memory and safety of
loading (EngineOptions), and the services around each job (ServiceOptions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .watermark import Watermark

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"  # auto: CUDA, then Apple MPS, then the CPU
    dtype: str = "auto"  # auto: float16 on GPUs; float32 on the CPU, bf16 with fast_cpu
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False  # CUDA only: keeps idle sub-models in RAM
    allow_pickle: bool = False  # .ckpt / .pt files can run code when loaded
    model_dirs: tuple[Path, ...] = ()
    models_root: Path | None = None  # where locally built models go (tests)
    # The fast CPU path (docs/PERFORMANCE.md). fast_cpu: with dtype "auto", bfloat16
    # and channels_last on CPUs that compute bf16 natively (AVX512-BF16 / AMX),
    # float32 elsewhere. None: automatic, for models whose UNet has at least
    # fastpath.FAST_CPU_MIN_PARAMETERS (real SD models, not the bundled demo).
    fast_cpu: bool | None = None
    # UNet/VAE/ControlNet NHWC layout; None: on GPUs and with fast_cpu, off otherwise
    channels_last: bool | None = None
    tiny_vae: str | None = None  # TAESD weights (folder or hub id in the cache) as the VAE
    compile: bool = False  # torch.compile the UNet (slow first run; opt-in)
    threads: int | None = None  # torch CPU threads; None: torch's default (all cores)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"Unknown device {self.device!r}; choose one of {', '.join(DEVICES)}.")
        if self.dtype not in DTYPES:
            raise ValueError(
                f"Unknown precision {self.dtype!r}; choose one of {', '.join(DTYPES)}."
            )
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"The thread count must be at least 1; got {self.threads!r}.")


DEFAULT_CACHE_MB = 1024
DEFAULT_BATCH_MEGAPIXELS = 1.0  # e.g. four 512² images per pipeline call


@dataclass(frozen=True)
class ServiceOptions:
    """The seed-003 features around each job: result cache, safety filter and the
    engine's default watermark. Unlike EngineOptions they change without
    reloading a model: `JobQueue.set_services()` applies them from the next job.

    Engine-wide on purpose: a client of the HTTP API cannot switch the safety
    filter off, and the watermark set in the preferences (or by `studio serve
    --watermark`) marks every image whose request does not name its own."""

    cache: bool = True
    cache_dir: Path | None = None  # None: <data folder>/cache
    cache_max_mb: int = DEFAULT_CACHE_MB
    safety_mode: str = "normal"  # off | normal | strict
    safety_keywords: tuple[str, ...] | None = None  # None: the built-in list
    image_checker: bool = False  # run the image safety checker when its model is here
    image_checker_model: str | None = None  # a folder or hub id; None: CompVis' checker
    watermark: Watermark | None = None
    batch_megapixels: float = DEFAULT_BATCH_MEGAPIXELS  # per pipeline call, for batches

    def __post_init__(self) -> None:
        from .safety import SAFETY_MODES

        if self.safety_mode not in SAFETY_MODES:
            raise ValueError(
                f"Unknown safety filter mode {self.safety_mode!r}; "
                f"choose one of {', '.join(SAFETY_MODES)}."
            )
        if not isinstance(self.cache_max_mb, int) or self.cache_max_mb < 1:
            raise ValueError(f"The cache size must be at least 1 MB; got {self.cache_max_mb!r}.")
        if not self.batch_megapixels > 0:
            raise ValueError(
                "The batch memory budget must be above 0 megapixels; "
                f"got {self.batch_megapixels!r}."
            )

    def cache_folder(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        from ..paths import data_dir

        return data_dir() / "cache"


# What `generate()` uses when called directly (tests, benchmarks, scripts): the
# safety filter at its default, no cache on disk, no default watermark.
DIRECT_SERVICES = ServiceOptions(cache=False)

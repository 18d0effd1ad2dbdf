"""Engine settings that outlive a single request: device, memory and safety of
loading (EngineOptions), and the services around each job (ServiceOptions).

Each field that a user sets is declared once here (`option(...)`: default,
label, help, choices or range, dialog box); the settings file, the settings
dialog and the command line are derived from these declarations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..option_spec import Choice, option
from .catalog import SPEED_PACK_EFFECT
from .safety import DEFAULT_KEYWORDS, SAFETY_MODES, parse_keywords
from .watermark import Watermark

# The dialog's boxes (and the command line's option groups) for these options.
DEVICE_GROUP = "Device and memory"
SPEED_GROUP = "Speed"
FOLDERS_GROUP = "Model folders (a model's folder name can then be typed as its name)"
CACHE_GROUP = "Result cache"
SAFETY_GROUP = "Safety filter"
BATCH_GROUP = "Batches and the local API"

DEVICE_CHOICES = (
    Choice(
        "auto", "Automatic", "CUDA when there is an NVIDIA GPU, else an Apple GPU, else the CPU"
    ),
    Choice("cuda", "NVIDIA GPU (CUDA)", "Run on the first CUDA device"),
    Choice("mps", "Apple GPU (MPS)", "Run on the Apple-silicon GPU"),
    Choice("cpu", "CPU", "Run on the processor"),
)
DTYPE_CHOICES = (
    Choice(
        "auto", "Automatic", "float16 on GPUs; on the CPU float32, or bfloat16 on the fast CPU path"
    ),
    Choice("float16", "float16 (GPUs only)", "Half precision: fast on GPUs, very slow on CPUs"),
    Choice("bfloat16", "bfloat16", "Brain float: fast where the hardware has it natively"),
    Choice("float32", "float32", "Full precision: everywhere, slowest"),
)
DEVICES = tuple(c.value for c in DEVICE_CHOICES)
DTYPES = tuple(c.value for c in DTYPE_CHOICES)
FAST_CPU_CHOICES = (
    Choice(
        None,
        "Automatic (large models)",
        "bfloat16 on CPUs with native bf16, for models with a UNet of 100 M parameters or more",
        token="auto",
    ),
    Choice(True, "On", "bfloat16 for every model, on CPUs with native bf16", token="on"),
    Choice(False, "Off (float32)", "Always float32", token="off"),
)
_SAFETY_MEANINGS = {
    "off": ("Off", "Prompts are not checked"),
    "normal": ("Normal", "Flagged prompts get a protective negative prompt"),
    "strict": ("Strict", "Flagged prompts are refused"),
}
SAFETY_CHOICES = tuple(Choice(mode, *_SAFETY_MEANINGS[mode]) for mode in SAFETY_MODES)


@dataclass(frozen=True)
class EngineOptions:
    device: str = option(
        "auto", label="Device", help="where models run", choices=DEVICE_CHOICES, group=DEVICE_GROUP
    )
    dtype: str = option(
        "auto",
        label="Precision",
        help="the number format models compute in",
        choices=DTYPE_CHOICES,
        group=DEVICE_GROUP,
    )
    attention_slicing: bool = option(
        False,
        label="Attention slicing (less memory, a little slower)",
        help="lower memory use, a little slower",
        group=DEVICE_GROUP,
    )
    vae_tiling: bool = option(
        False,
        label="VAE tiling (decode large images in tiles)",
        help="decode large images in tiles",
        group=DEVICE_GROUP,
    )
    cpu_offload: bool = option(
        False,
        label="Model CPU offload (CUDA: keep idle parts in RAM)",
        help="CUDA: keep idle parts in RAM",
        group=DEVICE_GROUP,
    )
    allow_pickle: bool = option(
        False,
        label="Allow .ckpt/.pt checkpoints (they can run code: trusted files only)",
        help="allow .ckpt/.pt checkpoints (they can run code: only from trusted sources)",
        group=DEVICE_GROUP,
    )
    model_dirs: tuple[Path, ...] = option(
        (),
        label="Model folders",
        help="folders whose models can be named by their folder name",
        kind="folders",
        group=FOLDERS_GROUP,
        flag=None,
    )
    models_root: Path | None = None  # where locally built models go (tests)
    fast_cpu: bool | None = option(
        None,
        label="Fast CPU path",
        help="bfloat16 and channels-last, with Precision on Automatic, on CPUs with native "
        "bf16 (float32 stays elsewhere: there bf16 would be slower). Automatic uses it for "
        "models with a UNet of 100 M parameters or more — SD 1.5/2.1, SD-Turbo, SDXL: about "
        "2× faster per step — and not for small ones such as the demo, which it slows.",
        flag_help="the fast CPU path: bfloat16 and channels_last where the CPU multiplies bf16 "
        "natively (float32 elsewhere). Default: automatic, on for models with a UNet of "
        "100 M parameters or more (real SD models), off for small ones such as the demo; "
        "see docs/PERFORMANCE.md",
        choices=FAST_CPU_CHOICES,
        key="fast_cpu_mode",  # "engine/fast_cpu" was a checkbox (settings_store migrates it)
        group=SPEED_GROUP,
    )
    # UNet/VAE/ControlNet NHWC layout; None: on GPUs and with fast_cpu, off otherwise
    channels_last: bool | None = None
    tiny_vae: str | None = option(
        None,
        label="Tiny decoder",
        help="A TAESD AutoencoderTiny folder, or its hub id if it is in the local cache: "
        "decodes many times faster, slightly softer, on every device (it overrides the "
        "speed pack).",
        flag_help="decode with a TAESD AutoencoderTiny (folder, or hub id in the local cache, "
        "e.g. madebyollin/taesd) on any device, in place of the speed pack: much faster, "
        "slightly softer",
        hint="off (e.g. madebyollin/taesd)",
        kind="folder",
        metavar="FOLDER_OR_HUB_ID",
        group=SPEED_GROUP,
    )
    speed_pack: bool = option(
        True,
        label=f"Speed pack on the CPU ({SPEED_PACK_EFFECT})",
        help="on the CPU, decode with the model family's tiny decoder (taesd, taesdxl) once "
        f"it is downloaded: {SPEED_PACK_EFFECT}",
        flag="--no-speed-pack",
        flag_help="decode with the model's own VAE even where its speed pack (the family's "
        "tiny decoder, taesd or taesdxl) is downloaded; by default the CPU uses the pack: "
        f"{SPEED_PACK_EFFECT}",
        group=SPEED_GROUP,
    )
    compile: bool = option(
        False,
        label="Compile the UNet with torch.compile (the first image is slow)",
        help="torch.compile the UNet (the first image is slow)",
        group=SPEED_GROUP,
    )
    threads: int | None = option(
        None,
        label="CPU threads",
        help="CPU threads for torch (default: one per core)",
        low=1,
        high=256,
        auto="Automatic (one per core)",
        metavar="N",
        group=SPEED_GROUP,
    )

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

    cache: bool = option(
        True,
        label="Answer a repeated job (same settings and seed) from the cache",
        help="answer a repeated job (same settings and seed) from the cache",
        flag="--no-cache",
        flag_help="neither read nor fill the cache",
        group=CACHE_GROUP,
    )
    cache_dir: Path | None = option(
        None,
        label="Cache folder",
        help="cache folder (default: <data folder>/cache)",
        stored=False,
        group=CACHE_GROUP,
    )
    cache_max_mb: int = option(
        DEFAULT_CACHE_MB,
        label="Size limit (least recently used go first)",
        help="cache size cap; least recently used results go first",
        low=1,
        high=1_000_000,
        unit=" MB",
        group=CACHE_GROUP,
    )
    safety_mode: str = option(
        "normal",
        label="Prompt filter",
        help="what the filter does with a prompt that names a keyword",
        choices=SAFETY_CHOICES,
        flag="--safety",
        group=SAFETY_GROUP,
    )
    safety_keywords: tuple[str, ...] = option(
        DEFAULT_KEYWORDS,
        label="Keywords",
        help="One word or phrase per line; matched as whole words, ignoring case and plurals.",
        kind="lines",
        parse=parse_keywords,
        flag=None,  # the command line names a file: see app.py
        group=SAFETY_GROUP,
    )
    image_checker: bool = option(
        False,
        label="Check images with the Stable Diffusion safety checker",
        help="flagged images are replaced by black ones",
        flag=None,  # the command line's --image-checker [MODEL] also names the model
        group=SAFETY_GROUP,
    )
    image_checker_model: str | None = None  # a folder or hub id; None: CompVis' checker
    watermark: Watermark | None = None  # the preferences keep theirs in WatermarkPreference
    batch_megapixels: float = option(
        DEFAULT_BATCH_MEGAPIXELS,
        label="Batch prompts together up to",
        help="batches: pixels per pipeline call before prompts are split into more calls",
        low=0.1,
        high=64.0,
        unit=" MP per pipeline call",
        group=BATCH_GROUP,
    )

    def __post_init__(self) -> None:
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

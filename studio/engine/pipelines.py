"""Loads diffusers pipelines once and serves every mode from one set of weights.

The txt2img, img2img, inpaint and ControlNet pipelines of a model are derived
with `from_pipe`, which shares the UNet, VAE and text encoders: switching mode
never reloads or copies weights. One model is held at a time; loading another
frees the previous one.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from .catalog import Architecture, Kind
from .errors import EngineError, ModelLoadError
from .fastpath import Decoder
from .lora import LoraState
from .options import EngineOptions
from .request import Mode
from .resolve import ResolvedModel, Source

log = logging.getLogger(__name__)

_PIPELINE_CLASSES = {
    Architecture.SD: {
        Mode.TXT2IMG: "StableDiffusionPipeline",
        Mode.IMG2IMG: "StableDiffusionImg2ImgPipeline",
        Mode.INPAINT: "StableDiffusionInpaintPipeline",
        Mode.CONTROLNET_CANNY: "StableDiffusionControlNetPipeline",
    },
    Architecture.SDXL: {
        Mode.TXT2IMG: "StableDiffusionXLPipeline",
        Mode.IMG2IMG: "StableDiffusionXLImg2ImgPipeline",
        Mode.INPAINT: "StableDiffusionXLInpaintPipeline",
        Mode.CONTROLNET_CANNY: "StableDiffusionXLControlNetPipeline",
    },
}


def quiet_libraries() -> None:
    """diffusers and transformers log warnings meant for library authors
    (deprecations, a torchvision fallback); users see our sentences instead."""
    # Some warnings fire while transformers is first imported: too early for
    # set_verbosity, but the environment variable is read then.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def pick_device(requested: str) -> str:
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise EngineError(
            "The NVIDIA GPU (CUDA) was chosen but none is usable here (or this torch build has "
            "no CUDA); choose Automatic or CPU in the settings."
        )
    mps = getattr(torch.backends, "mps", None)
    if requested == "mps" and not (mps is not None and mps.is_available()):
        raise EngineError(
            "The Apple GPU (MPS) was chosen but it is not available here; choose Automatic or CPU."
        )
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str, fast_cpu: bool = False):
    import torch

    if requested == "auto" and fast_cpu:
        from .fastpath import fast_dtype

        return fast_dtype(device)  # bfloat16 only on CPUs with native bf16
    if requested == "auto":
        # fp16 on a CPU is hundreds of times slower than fp32: never pick it there.
        return torch.float16 if device in ("cuda", "mps") else torch.float32
    dtype = getattr(torch, requested)
    if device == "cpu" and dtype is torch.float16:
        raise EngineError("float16 is not usable on the CPU; choose float32 or bfloat16.")
    return dtype


def ensure_files(model: ResolvedModel) -> None:
    """Builds a model this machine makes (the tiny-random entries) into its folder
    on first use, before anything reads its files: resolving only names it."""
    if model.builds_locally:
        from . import tiny

        tiny.build_once(model.path, controlnet=model.kind is Kind.CONTROLNET)


@dataclass(frozen=True)
class Precision:
    dtype: Any  # torch.dtype
    channels_last: bool
    fast_cpu: bool  # the fast CPU path is in use


@dataclass
class _Loaded:
    model: ResolvedModel
    identity: tuple
    base: Any
    original_scheduler: Any
    decoder: Decoder | None  # the tiny decoder in place of the model's VAE
    derived: dict[tuple, Any] = field(default_factory=dict)


class PipelineStore:
    """The one owner of loaded weights. Not thread-safe: one worker uses it."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        quiet_libraries()
        self.options = options or EngineOptions()
        self.device = pick_device(self.options.device)
        if self.device == "cpu":
            from .fastpath import set_threads

            set_threads(self.options.threads)
        # the loaded model's precision and layout; until one is loaded, as if it were small
        first = self._precision(self.options.fast_cpu is True)
        self.dtype, self.channels_last = first.dtype, first.channels_last
        self._precisions: dict[tuple, Precision] = {}
        self.loads = 0  # how many times weights were read from disk (tests, benchmarks)
        self._loaded: _Loaded | None = None
        self._controlnets: dict[tuple, Any] = {}
        self.loras = LoraState()

    # -- precision ---------------------------------------------------------------

    def _precision(self, fast_cpu: bool) -> Precision:
        cl = self.options.channels_last
        # NHWC is the native conv layout of oneDNN bf16 / cuDNN; in CPU float32 it measured
        # slower on small models (docs/PERFORMANCE.md), so it comes with fast_cpu there
        channels_last = cl if cl is not None else (self.device != "cpu" or fast_cpu)
        dtype = pick_dtype(self.options.dtype, self.device, fast_cpu)
        return Precision(dtype, channels_last, fast_cpu and self.device == "cpu")

    def precision_for(self, model: ResolvedModel) -> Precision:
        """The precision and layout `model` runs in: with fast_cpu automatic (None), the
        fast CPU path only for models large enough to gain from it."""
        fast = self.options.fast_cpu
        if fast is not None or self.device != "cpu" or self.options.dtype != "auto":
            return self._precision(bool(fast))
        key = model.identity
        if key not in self._precisions:
            from .fastpath import fast_cpu_helps

            single = model.source is Source.SINGLE_FILE
            self._precisions[key] = self._precision(fast_cpu_helps(model.path, single))
        return self._precisions[key]

    # -- loading -----------------------------------------------------------------

    def _pipeline_class(self, architecture: Architecture, mode: Mode):
        import diffusers

        return getattr(diffusers, _PIPELINE_CLASSES[architecture][mode])

    def _load_base(self, model: ResolvedModel, decoder: Decoder | None) -> Any:
        first_mode = Mode.INPAINT if model.inpaint_unet else Mode.TXT2IMG
        cls = self._pipeline_class(model.architecture, first_mode)
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if model.architecture is Architecture.SD:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        if decoder is not None:
            from .fastpath import load_tiny_vae

            kwargs["vae"] = load_tiny_vae(decoder, self.dtype)
        try:
            if model.source is Source.SINGLE_FILE:
                if model.config is None:
                    raise ModelLoadError(
                        f"{model.path.name} is a single-file checkpoint; loading it offline needs "
                        "the base model's configuration. Download the matching base model "
                        "(sd15 or sdxl) once, or put its diffusers folder next to the file "
                        f"as '{model.path.with_suffix('').name}/'."
                    )
                if model.inpaint_unet:
                    # lets one base-model config serve an inpainting checkpoint too
                    kwargs["num_in_channels"] = 9
                pipe = cls.from_single_file(
                    str(model.path), config=model.config, local_files_only=True, **kwargs
                )
            else:
                pipe = cls.from_pretrained(
                    str(model.path), local_files_only=True, variant=model.variant, **kwargs
                )
        except EngineError:
            raise
        except Exception as exc:  # diffusers, safetensors and OS errors alike
            raise ModelLoadError(
                f"Model {model.label!r} could not be loaded: {_first_line(exc)}. Its files may "
                "be damaged or incomplete: download it again or choose another folder."
            ) from exc
        self.loads += 1
        self._place(pipe)
        return pipe

    def _place(self, pipe: Any) -> None:
        opts = self.options
        if opts.cpu_offload and self.device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(self.device)
        if opts.attention_slicing:
            pipe.enable_attention_slicing()
        if opts.vae_tiling:
            pipe.vae.enable_tiling()
        from .fastpath import apply_fast_path

        apply_fast_path(pipe, channels_last=self.channels_last, compile_unet=opts.compile)
        pipe.set_progress_bar_config(disable=True)

    def decoder_for(self, model: ResolvedModel) -> Decoder | None:
        """The tiny decoder `model` runs with here (looked up afresh: a speed pack
        downloaded meanwhile is used from the model's next load), or None."""
        from .fastpath import choose_decoder

        return choose_decoder(self.options, self.device, model)

    def decoder_notice(self, model: ResolvedModel) -> str | None:
        """What the job that loaded `model` says about its speed pack, if anything."""
        from .fastpath import decoder_notice

        loaded = self._loaded is not None and self._loaded.model.identity == model.identity
        decoder = self.decoder if loaded else self.decoder_for(model)
        return decoder_notice(self.options, self.device, model, decoder)

    def _identity(self, model: ResolvedModel) -> tuple:
        # another decoder (a speed pack downloaded or switched off) is another load
        return (model.identity, self.decoder_for(model))

    @property
    def decoder(self) -> Decoder | None:
        """The tiny decoder of the loaded model, or None (its own VAE, or none loaded)."""
        return self._loaded.decoder if self._loaded is not None else None

    def base_for(self, model: ResolvedModel) -> Any:
        ensure_files(model)  # before its identity, which stamps its files
        identity = self._identity(model)
        if self._loaded is not None and self._loaded.identity == identity:
            return self._loaded.base
        self.release()
        precision = self.precision_for(model)
        self.dtype, self.channels_last = precision.dtype, precision.channels_last
        decoder = identity[1]
        base = self._load_base(model, decoder)
        self._loaded = _Loaded(model, identity, base, base.scheduler, decoder)
        return base

    def will_load(self, model: ResolvedModel, controlnet: ResolvedModel | None = None) -> bool:
        """Whether serving `model` (and `controlnet`) reads weights from disk, not the memory."""
        if self._loaded is None or self._loaded.identity != self._identity(model):
            return True
        if controlnet is None:
            return False
        return self._controlnet_key(controlnet) not in self._controlnets

    def _controlnet_key(self, controlnet: ResolvedModel) -> tuple:
        # a ControlNet loaded for a model in another precision is loaded again
        return (controlnet.identity, str(self.dtype), self.channels_last)

    def controlnet_for(self, controlnet: ResolvedModel, model: ResolvedModel) -> Any:
        if controlnet.kind is not Kind.CONTROLNET:
            raise ModelLoadError(f"{controlnet.label!r} is not a ControlNet model.")
        ensure_files(controlnet)
        if controlnet.architecture is not model.architecture:
            raise ModelLoadError(
                f"ControlNet {controlnet.label!r} is made for "
                f"{controlnet.architecture.value.upper()} models but {model.label!r} is "
                f"{model.architecture.value.upper()}; choose a matching ControlNet."
            )
        identity = self._controlnet_key(controlnet)
        if identity not in self._controlnets:
            from diffusers import ControlNetModel

            try:
                net = ControlNetModel.from_pretrained(
                    str(controlnet.path),
                    dtype=self.dtype,
                    local_files_only=True,
                    variant=controlnet.variant,
                )
            except Exception as exc:
                raise ModelLoadError(
                    f"ControlNet {controlnet.label!r} could not be loaded: {_first_line(exc)}. "
                    "Download it again or choose another folder."
                ) from exc
            self.loads += 1
            net = net.to(self.device)
            if self.channels_last:
                import torch

                net.to(memory_format=torch.channels_last)
            self._controlnets = {identity: net}  # keep one: they are large
        return self._controlnets[identity]

    def pipeline_for(
        self, model: ResolvedModel, mode: Mode, controlnet: ResolvedModel | None = None
    ) -> Any:
        """The pipeline for a mode, sharing the loaded model's weights."""
        base = self.base_for(model)
        assert self._loaded is not None
        if model.inpaint_unet and mode is not Mode.INPAINT:
            raise EngineError(
                f"{model.label!r} is an inpainting model: use it in inpaint mode, or pick a "
                "regular model for other modes."
            )
        extra: dict[str, Any] = {}
        key: tuple = (mode,)
        if mode is Mode.CONTROLNET_CANNY:
            if controlnet is None:
                raise EngineError("ControlNet mode needs a ControlNet model.")
            extra["controlnet"] = self.controlnet_for(controlnet, model)
            key = (mode, controlnet.identity)
        if self._loaded.decoder is not None:
            # from_pipe drops a component whose class differs from the annotation
            extra["vae"] = base.vae
        cls = self._pipeline_class(model.architecture, mode)
        if isinstance(base, cls) and not extra.keys() - {"vae"}:
            return base
        pipe = self._loaded.derived.get(key)
        if pipe is None:
            # from_pipe casts every shared module to `dtype`, float32 unless told:
            # without it, the first img2img turned a bf16/fp16 model into float32
            # for every mode, txt2img included (2-3× slower, twice the memory)
            pipe = cls.from_pipe(base, dtype=self.dtype, **extra)
            pipe.set_progress_bar_config(disable=True)
            if self.options.cpu_offload and self.device == "cuda":
                pipe.enable_model_cpu_offload()
            self._loaded.derived = {k: v for k, v in self._loaded.derived.items() if k[0] != mode}
            self._loaded.derived[key] = pipe
        return pipe

    @property
    def original_scheduler(self) -> Any:
        assert self._loaded is not None
        return self._loaded.original_scheduler

    def release(self) -> None:
        """Frees the loaded model (and its adapters) before another is loaded."""
        if self._loaded is None:
            return
        self._loaded = None
        self.loras.reset()
        gc.collect()
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

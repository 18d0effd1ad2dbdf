"""The model catalog: the models this app knows by name, and what each one brings.

Plain data: which architecture, which defaults (steps, guidance, sampler,
size), which canny ControlNet goes with it, where it comes from (the hub, the
app's own bundle, or built on this machine). Finding a model's files is
resolve.py's job. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# What the speed pack (a DECODER entry) does, in every sentence that offers or reports it.
SPEED_PACK_EFFECT = "faster decoding, slightly softer"


class Architecture(StrEnum):
    SD = "sd"  # SD 1.x / 2.x: one CLIP text encoder
    SDXL = "sdxl"  # two text encoders and size conditioning


class Kind(StrEnum):
    PIPELINE = "pipeline"
    CONTROLNET = "controlnet"
    DECODER = "decoder"  # a TAESD tiny decoder: the CPU path's "speed pack"


@dataclass(frozen=True)
class ModelDefaults:
    steps: int = 25
    guidance_scale: float = 7.0
    scheduler: str | None = None  # None: the model's own scheduler
    width: int = 512
    height: int = 512


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    hub_id: str
    architecture: Architecture
    kind: Kind = Kind.PIPELINE
    defaults: ModelDefaults = ModelDefaults()
    controlnet: str | None = None  # catalog name of the matching canny ControlNet
    decoder: str | None = None  # catalog name of the family's tiny decoder (speed pack)
    bundled: bool = False  # shipped with the app under resources/models/<name>
    # For models that only know a small vocabulary: prompts they draw well, the
    # first shown by --help and the prompt box. The demo's are measured over 16
    # seeds (training/measure_examples.py, docs/MODEL_CARD.md); README and docs
    # quote only these (tests/test_example_prompts.py).
    example_prompts: tuple[str, ...] = ()

    @property
    def example_prompt(self) -> str | None:
        return self.example_prompts[0] if self.example_prompts else None

    @property
    def builds_locally(self) -> bool:
        """Made on this machine on first use (the tiny random-weight models): no
        hub id to download and nothing bundled."""
        return not self.hub_id and not self.bundled


DEFAULT_IMAGE_MODEL = "demo"

CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            "demo",
            "Demo shapes model (bundled, 64×64: shapes, colours, positions)",
            "",
            Architecture.SD,
            defaults=ModelDefaults(12, 4.0, None, 64, 64),
            controlnet="demo-controlnet",
            bundled=True,
            example_prompts=(
                "a large yellow star on a black background",
                "a large red circle at the top left on a blue background",
                "a green star in the center",
                "a large orange heart on a purple background",
            ),
        ),
        CatalogEntry(
            "demo-controlnet",
            "Demo canny ControlNet (bundled)",
            "",
            Architecture.SD,
            kind=Kind.CONTROLNET,
            bundled=True,
        ),
        CatalogEntry(
            "sd15",
            "Stable Diffusion 1.5",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            Architecture.SD,
            defaults=ModelDefaults(25, 7.0, "dpm++2m-karras", 512, 512),
            controlnet="controlnet-canny-sd15",
            decoder="taesd",
        ),
        CatalogEntry(
            "sd15-inpainting",
            "Stable Diffusion 1.5 Inpainting",
            "stable-diffusion-v1-5/stable-diffusion-inpainting",
            Architecture.SD,
            defaults=ModelDefaults(25, 7.0, "dpm++2m-karras", 512, 512),
            decoder="taesd",
        ),
        CatalogEntry(
            "sd21",
            "Stable Diffusion 2.1",
            "stabilityai/stable-diffusion-2-1",
            Architecture.SD,
            defaults=ModelDefaults(25, 7.0, "dpm++2m-karras", 768, 768),
            decoder="taesd",
        ),
        CatalogEntry(
            "sdxl",
            "Stable Diffusion XL 1.0",
            "stabilityai/stable-diffusion-xl-base-1.0",
            Architecture.SDXL,
            defaults=ModelDefaults(30, 6.0, "dpm++2m-karras", 1024, 1024),
            controlnet="controlnet-canny-sdxl",
            decoder="taesdxl",
        ),
        CatalogEntry(
            "sd-turbo",
            "SD-Turbo (1–4 steps)",
            "stabilityai/sd-turbo",
            Architecture.SD,
            defaults=ModelDefaults(1, 0.0, None, 512, 512),
            decoder="taesd",
        ),
        CatalogEntry(
            "sdxl-turbo",
            "SDXL-Turbo (1–4 steps)",
            "stabilityai/sdxl-turbo",
            Architecture.SDXL,
            defaults=ModelDefaults(1, 0.0, None, 512, 512),
            decoder="taesdxl",
        ),
        CatalogEntry(
            "lcm-dreamshaper",
            "LCM Dreamshaper v7 (4 steps)",
            "SimianLuo/LCM_Dreamshaper_v7",
            Architecture.SD,
            defaults=ModelDefaults(4, 8.0, "lcm", 512, 512),
            decoder="taesd",
        ),
        CatalogEntry(
            "controlnet-canny-sd15",
            "ControlNet canny for SD 1.5",
            "lllyasviel/control_v11p_sd15_canny",
            Architecture.SD,
            kind=Kind.CONTROLNET,
        ),
        CatalogEntry(
            "controlnet-canny-sdxl",
            "ControlNet canny for SDXL",
            "diffusers/controlnet-canny-sdxl-1.0",
            Architecture.SDXL,
            kind=Kind.CONTROLNET,
        ),
        CatalogEntry(
            "taesd",
            f"Tiny decoder for SD 1.x/2.x (speed pack: {SPEED_PACK_EFFECT})",
            "madebyollin/taesd",
            Architecture.SD,
            kind=Kind.DECODER,
        ),
        CatalogEntry(
            "taesdxl",
            f"Tiny decoder for SDXL (speed pack: {SPEED_PACK_EFFECT})",
            "madebyollin/taesdxl",
            Architecture.SDXL,
            kind=Kind.DECODER,
        ),
        CatalogEntry(
            "tiny-random",
            "Tiny random-weight test model (makes noise; built locally)",
            "",
            Architecture.SD,
            defaults=ModelDefaults(4, 5.0, None, 64, 64),
            controlnet="tiny-random-controlnet",
        ),
        CatalogEntry(
            "tiny-random-controlnet",
            "Tiny random-weight ControlNet (built locally)",
            "",
            Architecture.SD,
            kind=Kind.CONTROLNET,
        ),
    )
}


def companions(entry: CatalogEntry) -> tuple[CatalogEntry, ...]:
    """What is offered with a pipeline: its canny ControlNet and its speed pack."""
    names = (entry.controlnet, entry.decoder) if entry.kind is Kind.PIPELINE else ()
    return tuple(CATALOG[n] for n in names if n and CATALOG[n].hub_id)

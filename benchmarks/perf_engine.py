"""Engine overhead vs bare diffusers, and the cost of switching modes.

    .venv/bin/python benchmarks/perf_engine.py [--repeat 5]

1. Engine overhead: `studio`'s engine (generate() through a PipelineStore) vs a
   bare `StableDiffusionPipeline.from_pretrained` of the same saved folder, with
   identical settings (prompt, seed, steps, guidance, size, scheduler), for the
   tiny test model and a mid-size one (UNet 128/256/512, 6-layer text encoder
   of width 512, 4-stage VAE). All paths live in one process and alternate run
   by run; the table gives the median seconds per image, the time ratio
   engine/bare, and how much each path's loading and first run raised the
   process's peak RSS (in load order, so later paths can reuse freed memory).
   The engine row is the engine's CPU default (channels_last off, as bare
   diffusers); "engine NHWC" adds channels_last (the fast path's layout).
2. Mode switch: on the engine, txt2img → inpaint → ControlNet canny → txt2img on
   one model: seconds of the first call in each mode vs a repeat call, and
   how many times weights were read from disk (must stay 1, plus the ControlNet).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {"tiny": (64, 4), "mid": (256, 4)}  # image size, steps


def save_mid_model(folder: Path) -> Path:
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.engine.tiny import _load_tokenizer, _scheduler, write_clip_tokenizer

    tokenizer = _load_tokenizer(write_clip_tokenizer(folder.parent / "mid-tok"))
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(128, 256, 512),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        attention_head_dim=(2, 4, 8),
        cross_attention_dim=512,
        use_linear_projection=True,
    )
    vae = AutoencoderKL(
        block_out_channels=(64, 128, 256, 256),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
    )
    n = len(tokenizer)
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=n,
            bos_token_id=n - 2,
            eos_token_id=n - 1,
            pad_token_id=n - 1,
            hidden_size=512,
            intermediate_size=2048,
            num_hidden_layers=6,
            num_attention_heads=8,
            max_position_embeddings=77,
        )
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def runner(path: str, folder: str, size: int, steps: int):
    """A zero-argument function that makes one image along `path`."""
    import torch

    prompt, seed = "a red circle on blue", 1
    if path == "bare":
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline.from_pretrained(
            folder, local_files_only=True, safety_checker=None, requires_safety_checker=False
        )
        pipe.set_progress_bar_config(disable=True)

        def run():
            pipe(
                prompt,
                num_inference_steps=steps,
                guidance_scale=1.0,
                width=size,
                height=size,
                generator=[torch.Generator("cpu").manual_seed(seed)],
                output_type="pil",
            )

        return run
    from studio.engine.generate import generate
    from studio.engine.options import EngineOptions
    from studio.engine.pipelines import PipelineStore
    from studio.engine.request import GenerationRequest

    # float32 as bare diffusers, whatever the automatic fast path would pick
    options = EngineOptions(device="cpu", channels_last=path != "engine", fast_cpu=False)
    store = PipelineStore(options)
    assert store.channels_last is (path != "engine")
    request = GenerationRequest(
        prompt, model=folder, seed=seed, steps=steps, guidance_scale=1.0, width=size, height=size
    )

    def run():
        generate(request, store, on_step=lambda _s: None)

    return run


def mode_switch(folder: Path, controlnet: Path, size: int) -> list[str]:
    from PIL import Image, ImageDraw

    from studio.engine.generate import generate
    from studio.engine.options import EngineOptions
    from studio.engine.pipelines import PipelineStore
    from studio.engine.request import GenerationRequest, Mode

    photo = Image.new("RGB", (size, size), (30, 60, 200))
    ImageDraw.Draw(photo).ellipse((size // 8, size // 8, size // 2, size // 2), fill=(220, 30, 30))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255)
    store = PipelineStore(EngineOptions(device="cpu"))
    extra = {
        Mode.TXT2IMG: {},
        Mode.INPAINT: {"init_image": photo, "mask_image": mask, "strength": 1.0},
        Mode.CONTROLNET_CANNY: {"control_image": photo, "controlnet": str(controlnet)},
    }
    rows = []
    for mode in (Mode.TXT2IMG, Mode.INPAINT, Mode.CONTROLNET_CANNY, Mode.TXT2IMG):
        request = GenerationRequest(
            "a red circle",
            model=str(folder),
            mode=mode,
            seed=1,
            steps=2,
            width=size,
            height=size,
            **extra[mode],
        )
        loads = store.loads
        t = time.perf_counter()
        generate(request, store)
        first = time.perf_counter() - t
        t = time.perf_counter()
        generate(request, store)
        again = time.perf_counter() - t
        rows.append(
            f"  → {mode.value:17} first {first:6.2f} s  repeat {again:6.2f} s  "
            f"weights read: {store.loads - loads}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from studio.engine.pipelines import quiet_libraries
    from studio.engine.tiny import save_tiny_controlnet, save_tiny_model

    quiet_libraries()
    with tempfile.TemporaryDirectory() as work:
        folders = {
            "tiny": save_tiny_model(Path(work) / "tiny"),
            "mid": save_mid_model(Path(work) / "mid"),
        }
        paths = ("bare", "engine", "engine NHWC")
        print(f"Engine overhead: median s/image of {args.repeat} runs, paths alternating")
        print(
            f"{'model':6} {'size, steps':12} "
            + " ".join(f"{p + ' s':>17}" for p in paths)
            + f" {'engine/bare':>11} {'NHWC/bare':>12}  RSS growth MB (bare/engine/NHWC)"
        )
        for model, folder in folders.items():
            size, steps = SIZES[model]
            runs, grow = {}, {}
            for p in paths:
                before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                runs[p] = runner(p, str(folder), size, steps)
                runs[p]()  # warm: load, first-call costs
                grow[p] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            samples: dict[str, list[float]] = {p: [] for p in paths}
            for _ in range(args.repeat):
                for p in paths:
                    t = time.perf_counter()
                    runs[p]()
                    samples[p].append(time.perf_counter() - t)
            med = {p: statistics.median(samples[p]) for p in paths}
            print(
                f"{model:6} {f'{size}², {steps}':12} "
                + " ".join(f"{med[p]:17.3f}" for p in paths)
                + f" {med['engine'] / med['bare']:11.3f}"
                + f" {med['engine NHWC'] / med['bare']:12.3f}"
                + "  "
                + " / ".join(f"{grow[p]:.0f}" for p in paths)
            )
            del runs
        print()
        print("Mode switch on one model (engine, 2 steps):")
        controlnet = save_tiny_controlnet(Path(work) / "tiny-cn")
        for line in mode_switch(folders["tiny"], controlnet, 64):
            print(line)


if __name__ == "__main__":
    main()

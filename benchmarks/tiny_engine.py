"""Load time and time per step of the tiny random-weight models, through the engine.

    .venv/bin/python benchmarks/tiny_engine.py [--size 64] [--steps 8] [--repeat 3]

Prints one table: for SD and SDXL tiny models, the cold load (from_pretrained
of a saved folder) and the median seconds per denoising step of each mode,
from one run (ratios within a run are what to compare; these machines are noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from PIL import Image, ImageDraw

    from studio.engine.generate import generate
    from studio.engine.pipelines import PipelineStore, quiet_libraries
    from studio.engine.request import GenerationRequest, Mode
    from studio.engine.resolve import resolve_model
    from studio.engine.tiny import save_tiny_controlnet, save_tiny_model

    quiet_libraries()
    size = args.size
    photo = Image.new("RGB", (size, size), (30, 60, 200))
    ImageDraw.Draw(photo).ellipse((size // 8, size // 8, size // 2, size // 2), fill=(220, 30, 30))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255)
    modes = {
        Mode.TXT2IMG: {},
        Mode.IMG2IMG: {"init_image": photo, "strength": 1.0},
        Mode.INPAINT: {"init_image": photo, "mask_image": mask, "strength": 1.0},
        Mode.CONTROLNET_CANNY: {"control_image": photo},
    }
    print(f"tiny models, {size}×{size}, {args.steps} steps, median of {args.repeat}")
    print(f"{'model':6} {'load s':>7} " + " ".join(f"{m.value + ' s/step':>22}" for m in modes))
    with tempfile.TemporaryDirectory() as work:
        for sdxl in (False, True):
            name = "sdxl" if sdxl else "sd"
            folder = save_tiny_model(Path(work) / name, sdxl=sdxl)
            controlnet = save_tiny_controlnet(Path(work) / f"{name}-cn", sdxl=sdxl)
            store = PipelineStore()
            started = time.perf_counter()
            store.base_for(resolve_model(str(folder)))
            load = time.perf_counter() - started
            cells = []
            for mode, images in modes.items():
                request = GenerationRequest(
                    "a red circle",
                    model=str(folder),
                    mode=mode,
                    steps=args.steps,
                    seed=1,
                    width=size,
                    height=size,
                    controlnet=str(controlnet),
                    **images,
                )
                generate(request, store)  # warm: derive the pipeline, load the ControlNet
                per_step = []
                for _ in range(args.repeat):
                    stamps: list[float] = []
                    generate(
                        request, store, on_step=lambda _i, s=stamps: s.append(time.perf_counter())
                    )
                    per_step.append((stamps[-1] - stamps[0]) / (len(stamps) - 1))
                cells.append(f"{statistics.median(per_step) * 1000:19.1f} ms")
            print(f"{name:6} {load:7.2f} " + " ".join(cells))


if __name__ == "__main__":
    main()

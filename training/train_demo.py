"""Regenerates the procedural data set and retrains the demo model from scratch.

    scripts/train-demo                  # the shipped recipe: studio/resources/models/demo*
    scripts/train-demo --quick --out /tmp/demo-smoke   # a 1-minute smoke run
    scripts/train-demo --resume /tmp/demo --out /tmp/again
                                        # only the ControlNet, on a model this wrote
    scripts/train-demo --resume /tmp/demo --finish --out /tmp/again
                                        # the UNet's later stages on it too, then the ControlNet

Stages, each with a fixed seed: render the scenes; train the VAE (its latent
space is fixed, see stages.py); train the UNet and the text encoder together,
then finish them with the noisiest timesteps weighted fully, teach them the
position words on layout samples and finish them again; train the canny
ControlNet with the UNet frozen. Loss curves are printed as it goes and drawn
into a PNG. Runs on the CPU with 2 threads.
"""

from __future__ import annotations

import os

# OpenMP's threads spin between the many small operations of a training step
# instead of sleeping. On 2 cores of its own (2026-11-27) the batch-32 stages
# ran faster than with "PASSIVE": VAE 0.18 vs 0.23 s a step, ControlNet 0.65 vs
# 0.77 s, a batch-32 UNet step 0.53–0.60 vs 0.67–0.71 s; a batch-64 UNet step is
# the same either way (within 2 %). On a machine whose cores are busy with
# other work, OMP_WAIT_POLICY=PASSIVE in the environment wins instead. Must be
# set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from . import architecture as arch
from .curves import plot
from .data import CaptionEncoder, build_scene_set
from .stages import (
    NoiseSchedule,
    StageConfig,
    target_latents,
    train_controlnet,
    train_unet,
    train_vae,
)
from .tokenizer import load_tokenizer, write_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
THREADS = 2


@dataclass(frozen=True)
class Recipe:
    images: int
    vae: StageConfig
    unet: StageConfig
    controlnet: StageConfig
    # continues the UNet from its EMA with other weights and timesteps; None: no finish
    unet_finish: StageConfig | None = None
    # after the finish, teaches the position words (StageConfig.layout_share); the
    # finish then runs again to win back the shapes it costs. Needs a finish.
    unet_layout: StageConfig | None = None
    data_seed: int = 1

    def __post_init__(self) -> None:
        if self.unet_layout is not None and self.unet_finish is None:
            raise ValueError("a layout stage needs a finish to run before and after it")

    def unet_passes(self) -> list[tuple[str, StageConfig]]:
        """The UNet's stages after the main one, named as their loss curves are."""
        if self.unet_finish is None:
            return []
        passes = [("unet-finish", self.unet_finish)]
        if self.unet_layout is not None:
            passes += [("unet-layout", self.unet_layout), ("unet-refinish", self.unet_finish)]
        return passes


# The UNet's finish: the main stage learns shapes and colours with min-SNR
# weights, which give the noisiest timesteps, where the background colour is
# decided, almost no weight; the finish weights them fully. Measured on
# 2026-11-27 (docs/MODEL_CARD.md): held-out backgrounds 63 % -> 100 %. A first
# try also drew the timesteps towards high noise ("cubic"): that starved the
# low-noise steps and softened the shapes; with uniform timesteps they stay.
FINISH = StageConfig(
    steps=300, batch=64, lr=3e-4, warmup=20, log_every=50, seed=7, weighting="noisy",
)  # fmt: skip
# Teaches the position words: half of every batch drawn from t >= 950 with the
# full caption (StageConfig.layout_share), at the main stage's lr. On the finished
# model (docs/MODEL_CARD.md, 2026-11-28) 300 steps learnt all five positions with
# one seed and only left, right and centre with another; 500 learnt all five.
# Without the finish before it they learnt only the centre (position 34 %), so
# that finish stays. It costs shapes, which the finish run again after it wins back.
LAYOUT = replace(FINISH, steps=500, lr=1e-3, seed=8, layout_share=0.5)
FULL = Recipe(
    images=40_000,
    vae=StageConfig(steps=1200, batch=32, lr=5e-3, warmup=20, log_every=100, seed=2),
    # batch 64 and uniform timesteps: batch 32, and batch 40 with "weighted"
    # timesteps, both tried on 2026-11-27, lost the shapes or the backgrounds
    unet=StageConfig(steps=2400, batch=64, lr=1e-3, warmup=100, log_every=100, seed=3),
    unet_finish=FINISH,
    unet_layout=LAYOUT,
    # "noisy" too: the finished UNet settles the layout in the first, noisiest
    # steps, so that is where the control must act (with min-SNR weights the
    # ControlNet's triangles landed wherever the seed put them)
    controlnet=StageConfig(
        steps=800, batch=32, lr=5e-4, warmup=50, log_every=100, seed=4, weighting="noisy"
    ),
)
QUICK = Recipe(
    images=2_000,
    vae=StageConfig(steps=40, batch=16, lr=5e-3, warmup=5, log_every=10, seed=2),
    unet=StageConfig(steps=40, batch=16, lr=1e-3, warmup=5, log_every=10, seed=3),
    unet_finish=replace(FINISH, steps=10, batch=16, warmup=2, log_every=5),
    unet_layout=replace(LAYOUT, steps=10, batch=16, warmup=2, log_every=5),
    controlnet=replace(FULL.controlnet, steps=20, batch=8, warmup=5, log_every=10),
)


def _save_pipeline(folder: Path, vae, text_encoder, tokenizer, unet) -> None:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=vae.to(memory_format=torch.contiguous_format),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet.to(memory_format=torch.contiguous_format).half(),  # stored as fp16
        scheduler=arch.build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)
    unet.float()
    for path in folder.glob("*/config.json"):  # a resumed part names where it came from
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.pop("_name_or_path", None) is not None:  # diffusers' own format:
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")


def _replace(folder: Path, built: Path) -> None:
    """Moves a finished folder into place (the old one goes only once the new is whole)."""
    if folder.exists():
        shutil.rmtree(folder)
    built.replace(folder)


def _trained_parts(folder: Path):
    """The VAE, tokenizer, text encoder and UNet of a model this script wrote."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    return pipe.vae.eval(), pipe.tokenizer, pipe.text_encoder, pipe.unet.float()


def train(recipe: Recipe, out: Path, plot_path: Path | None, resume: Path | None = None) -> dict:
    """Trains every stage; with `resume` (a demo folder this script wrote) it starts
    from that folder's VAE, text encoder and UNet and trains only the stages after
    them: the UNet's later stages (finish, layout, finish again, if the recipe
    has them) and the ControlNet."""
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    staging = Path(tempfile.mkdtemp(prefix=".demo-", dir=out))
    try:
        if resume is not None:
            vae, tokenizer, text_encoder, unet = _trained_parts(resume)
        else:
            tokenizer = load_tokenizer(write_tokenizer(staging / "tokenizer-src"))
        t = time.perf_counter()  # the data's own time, not the resumed model's loading
        data = build_scene_set(recipe.images, recipe.data_seed)
        latents = torch.cat(
            [target_latents(data.pixels(torch.arange(i, min(i + 1000, recipe.images))))
             for i in range(0, recipe.images, 1000)]
        )  # fmt: skip
        timings["data"] = time.perf_counter() - t
        print(f"data: {recipe.images} scenes in {timings['data']:.0f} s", flush=True)

        schedule = NoiseSchedule.of(arch.build_scheduler())
        captions = CaptionEncoder(tokenizer)
        logs = []
        if resume is None:
            torch.manual_seed(recipe.vae.seed)
            vae, vae_log = train_vae(arch.build_vae(), data, recipe.vae)

            torch.manual_seed(recipe.unet.seed)
            unet, text_encoder = arch.build_unet(), arch.build_text_encoder(len(tokenizer))
            unet, text_encoder, unet_log = train_unet(
                unet, text_encoder, latents, data, captions, schedule, recipe.unet
            )
            logs += [vae_log, unet_log]
        for name, config in recipe.unet_passes():
            torch.manual_seed(config.seed)
            unet, text_encoder, pass_log = train_unet(
                unet, text_encoder, latents, data, captions, schedule, config, name=name
            )
            logs.append(pass_log)
        _save_pipeline(staging / "demo", vae, text_encoder, tokenizer, unet)

        torch.manual_seed(recipe.controlnet.seed)
        controlnet, cn_log = train_controlnet(
            arch.build_controlnet(unet), unet, text_encoder, latents, data, captions,
            schedule, recipe.controlnet,
        )  # fmt: skip
        logs.append(cn_log)
        controlnet.to(memory_format=torch.contiguous_format).half().save_pretrained(
            str(staging / "demo-controlnet"), safe_serialization=True
        )
        _replace(out / "demo", staging / "demo")
        _replace(out / "demo-controlnet", staging / "demo-controlnet")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # each stage's clocks stopped at its last step (curves.LossLog)
    timings |= {log.name.replace("-", "_"): log.elapsed for log in logs}
    timings["total"] = time.perf_counter() - started
    cpu = {log.name: round(log.cpu, 1) for log in logs}
    cpu["total"] = round(time.process_time() - cpu_started, 1)
    if plot_path is not None:
        plot(logs, plot_path)
    return {
        "recipe": asdict(recipe),
        "resumed_from": None if resume is None else str(resume),
        "threads": THREADS,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "cpu_seconds": cpu,
        "loss_curves": {log.name: log.points for log in logs},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "studio" / "resources" / "models",
                        help="where demo/ and demo-controlnet/ are written")  # fmt: skip
    parser.add_argument("--plot", type=Path, default=None,
                        help="the loss curves' PNG (default: docs/demo-model-loss.png "
                        "for the shipped folder, else OUT/loss.png)")  # fmt: skip
    parser.add_argument("--report", type=Path, default=None,
                        help="timings and loss curves as JSON "
                        "(default: beside the plot)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a tiny recipe, for a smoke test")
    parser.add_argument("--resume", type=Path, default=None, metavar="DEMO_FOLDER",
                        help="start from a demo model this script wrote (its VAE, text "
                        "encoder and UNet) and train only its ControlNet")  # fmt: skip
    parser.add_argument("--finish", action="store_true",
                        help="with --resume: run the UNet's stages after the main one "
                        "(finish, layout, finish again) on that model first (a run from "
                        "scratch always has them)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.finish and args.resume is None:
        parser.error("--finish goes with --resume: a run from scratch always has the finish")

    from studio.engine.pipelines import quiet_libraries

    quiet_libraries()
    shipped = args.out.resolve() == (ROOT / "studio" / "resources" / "models").resolve()
    plot_path = args.plot or (DOCS / "demo-model-loss.png" if shipped else args.out / "loss.png")
    report_path = args.report or plot_path.with_name(
        "demo-model-training.json" if shipped else "training.json"
    )
    recipe = QUICK if args.quick else FULL
    if args.resume is not None and not args.finish:
        recipe = replace(recipe, unet_finish=None, unet_layout=None)
    report = train(recipe, args.out, plot_path, args.resume)
    seconds = report["seconds"]
    stages = ", ".join(f"{k} {v:.0f}" for k, v in seconds.items() if k != "total")
    print(f"trained in {seconds['total']:.0f} s ({stages}) -> {args.out}", file=sys.stderr)
    print(
        f"CPU time {report['cpu_seconds']['total']:.0f} s over {THREADS} threads "
        "(on a shared machine the wall clock above also counts time the cores were lent out)",
        file=sys.stderr,
    )
    report_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

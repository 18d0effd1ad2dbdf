"""The command-line commands: headless generation and model utilities."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .engine.errors import EngineError, JobCancelled
from .engine.request import GenerationRequest, LoraSpec


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _open_image(path: str | None, what: str) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError:
        raise EngineError(f"The {what} {path!r} does not exist.") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise EngineError(
            f"The {what} {path!r} is not an image this app can read ({exc})."
        ) from None


def output_paths(out: str, count: int) -> list[Path]:
    """`out.png` for one image; `out-1.png`, `out-2.png`, ... for a batch."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


def _request_from_args(args: argparse.Namespace) -> GenerationRequest:
    return GenerationRequest(
        prompt=args.prompt,
        mode=args.mode,
        negative_prompt=args.negative,
        model=args.model,
        controlnet=args.controlnet,
        scheduler=args.scheduler,
        steps=args.steps,
        guidance_scale=args.guidance,
        strength=args.strength,
        width=args.width,
        height=args.height,
        seed=None if args.seed == -1 else args.seed,
        batch_count=args.batch,
        init_image=_open_image(args.init, "init image"),
        mask_image=_open_image(args.mask, "mask"),
        mask_blur=args.mask_blur,
        control_image=_open_image(args.control, "control image"),
        control_is_edges=args.control_is_edges,
        canny_low=args.canny_low,
        canny_high=args.canny_high,
        controlnet_scale=args.control_scale,
        inpaint_context=args.inpaint_area,
        inpaint_padding=args.padding,
        loras=tuple(LoraSpec(path, weight) for path, weight in args.lora),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    request = _request_from_args(args)
    request.validated()  # refuse bad input before torch is even imported
    from .engine.generate import StepInfo, generate
    from .engine.metadata import save_png
    from .engine.options import EngineOptions
    from .engine.pipelines import PipelineStore

    options = EngineOptions(
        device=args.device,
        dtype=args.dtype,
        attention_slicing=args.attention_slicing,
        vae_tiling=args.vae_tiling,
        cpu_offload=args.cpu_offload,
        allow_pickle=args.allow_pickle,
    )
    store = PipelineStore(options)

    def progress(info: StepInfo) -> None:
        if not args.quiet:
            print(f"\rstep {info.step}/{info.total}", end="", file=sys.stderr, flush=True)

    result = generate(request, store, on_step=progress)
    if not args.quiet:
        print(file=sys.stderr)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    paths = output_paths(args.out, len(result.images))
    for image, infotext, seed, path in zip(
        result.images, result.infotexts, result.seeds, paths, strict=True
    ):
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        save_png(image, path, infotext)
        print(f"{path}  (seed {seed})")
    r = result.request
    print(
        f"{len(paths)} image(s), {r.width}×{r.height}, {r.steps} steps, "
        f"model {result.model_label}, {result.elapsed_s:.2f} s on {store.device}",
        file=sys.stderr,
    )
    return 0


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from .engine import tiny
    from .engine.pipelines import quiet_libraries

    quiet_libraries()
    folder = Path(args.folder)
    if folder.exists() and any(folder.iterdir()):
        return _fail(f"{folder} exists and is not empty; choose a new folder.")
    if args.controlnet:
        tiny.save_tiny_controlnet(folder, sdxl=args.sdxl)
    else:
        tiny.save_tiny_model(folder, sdxl=args.sdxl)
    print(folder)
    return 0


def cmd_models(_args: argparse.Namespace) -> int:
    from .engine.models import CATALOG, catalog_status

    for entry in CATALOG.values():
        where = entry.hub_id or "(built locally)"
        print(f"{entry.name:24} {catalog_status(entry):15} {entry.title}  [{where}]")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from .engine.metadata import read_png_parameters

    image = _open_image(args.image, "image")
    text = read_png_parameters(image)
    if text is None:
        return _fail(f"{args.image} holds no generation parameters.")
    print(text)
    return 0


COMMANDS = {
    "generate": cmd_generate,
    "make-tiny-model": cmd_make_tiny_model,
    "models": cmd_models,
    "params": cmd_params,
}


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # we never download behind the user's back
    try:
        return COMMANDS[args.command](args)
    except (EngineError, ValueError) as exc:
        return _fail(str(exc))
    except (JobCancelled, KeyboardInterrupt):
        print("\ncancelled", file=sys.stderr)
        return 130

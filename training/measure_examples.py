"""How often the bundled demo model draws each example prompt as asked.

    python -m training.measure_examples                      # the demo's own examples
    python -m training.measure_examples -p "a large red cross" -p "a blue heart"
    python -m training.measure_examples --save /tmp/examples # and keep the pictures

For each prompt, generates seeds 1..16 through the engine's generate(), as
`studio generate -p PROMPT --seed N` does with no model named (the demo model's
12 steps, guidance 4, 64×64), and asks the judge (judge.py) to read each
picture back. A seed counts as read when every attribute the prompt names --
colour, shape, background, size, position -- is what the judge sees; an
attribute the prompt leaves out is not checked. Prints one markdown table row
per prompt: the seeds read, and how many seeds missed each attribute.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from PIL import Image

from studio.engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL

from .judge import read
from .world import COLOURS, POSITION_PHRASES, SHAPES, SIZES

ATTRIBUTES = ("colour", "shape", "background", "size", "position")
SEEDS = 16  # seeds 1..SEEDS
ENOUGH = 12  # of 16: what an example prompt must reach (issue 23)


def named_attributes(prompt: str) -> dict[str, str]:
    """The attributes a caption of the demo's world names, e.g. "a large yellow
    star on a black background" -> colour yellow, shape star, size large,
    background black. Words outside the world's vocabulary are ignored."""
    text = " ".join(prompt.lower().split())
    named: dict[str, str] = {}
    background = re.search(r"\bon an? (\w+) background\b", text)
    if background and background.group(1) in COLOURS:
        named["background"] = background.group(1)
        text = text[: background.start()] + text[background.end() :]
    for position, phrase in POSITION_PHRASES.items():
        if re.search(rf"\b{phrase}\b", text):
            named["position"] = position
    words = text.split()
    for key, vocabulary in (("shape", SHAPES), ("size", SIZES), ("colour", COLOURS)):
        found = [w for w in words if w in vocabulary]
        if found:
            named[key] = found[0]
    return named


def misses(image: Image.Image, named: dict[str, str]) -> list[str]:
    """The named attributes the judge reads differently in the picture."""
    reading = read(image)
    return [a for a in ATTRIBUTES if a in named and getattr(reading, a) != named[a]]


def example_prompts() -> list[str]:
    """The default model's examples, as README, --help and the window show them."""
    return list(CATALOG[DEFAULT_IMAGE_MODEL].example_prompts)


def make_txt2img(model: str) -> Callable[[str, int], Image.Image]:
    from studio.engine.generate import generate
    from studio.engine.pipelines import PipelineStore
    from studio.engine.request import GenerationRequest

    store = PipelineStore()

    def txt2img(prompt: str, seed: int) -> Image.Image:
        # steps, guidance, sampler and size left to the model, as the CLI leaves them
        return generate(GenerationRequest(prompt, model=model, seed=seed), store).images[0]

    return txt2img


def measure(
    prompt: str,
    txt2img: Callable[[str, int], Image.Image],
    seeds: Iterable[int],
    save: Path | None = None,
) -> tuple[int, dict[str, int]]:
    """Seeds read as asked, and per attribute how many seeds missed it."""
    named = named_attributes(prompt)
    read_right, missed = 0, {a: 0 for a in ATTRIBUTES if a in named}
    for seed in seeds:
        image = txt2img(prompt, seed)
        wrong = misses(image, named)
        read_right += not wrong
        for attribute in wrong:
            missed[attribute] += 1
        if save is not None:
            image.save(save / f"{re.sub(r'[^a-z]+', '-', prompt.lower()).strip('-')}-{seed}.png")
    return read_right, missed


def machine() -> str:
    """The CPU the numbers were measured on, and the threads torch used."""
    import torch

    name = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        name = f"{len(models)}× {models[0].strip()}" if models else name
    return f"{name}, torch {torch.__version__} on {torch.get_num_threads()} threads"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.measure_examples",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-p", "--prompt", action="append",
        help="a prompt to measure (repeatable; default: the demo model's example prompts)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"seeds 1..N (default {SEEDS})")
    parser.add_argument("--save", type=Path, help="a folder to write every picture into")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seeds < 1:
        print("--seeds must be 1 or more.", file=sys.stderr)
        return 2
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)

    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    txt2img = make_txt2img(DEFAULT_IMAGE_MODEL)
    started = time.perf_counter()
    print("| prompt | seeds read | seeds that missed, per attribute |")
    print("| --- | --- | --- |")
    for prompt in args.prompt or example_prompts():
        right, missed = measure(prompt, txt2img, range(1, args.seeds + 1), args.save)
        wrong = ", ".join(f"{a} {n}" for a, n in missed.items() if n) or "—"
        print(f"| {prompt} | {right} / {args.seeds} | {wrong} |", flush=True)
    seconds = time.perf_counter() - started
    print(f"\n{date.today()}, {machine()}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The procedural world the demo model is trained on: one flat shape on a flat
background, described by a caption such as
"a small red circle at the top left on a blue background".

Everything here is pure Python + Pillow + numpy and deterministic given a seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64  # pixels per side of every image
SUPERSAMPLE = 4  # shapes are drawn 4× larger, then downsampled: smooth edges

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 35),
    "orange": (245, 135, 20),
    "yellow": (245, 220, 40),
    "green": (40, 165, 60),
    "cyan": (40, 205, 215),
    "blue": (35, 65, 205),
    "purple": (130, 45, 175),
    "pink": (245, 135, 195),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "star", "diamond", "heart", "cross")
SIZES = {"small": 11.0, "large": 18.0}  # half the side of the shape's box, in pixels
POSITIONS = ("center", "top left", "top right", "bottom left", "bottom right")
POSITION_PHRASES = {
    "center": "in the center",
    "top left": "at the top left",
    "top right": "at the top right",
    "bottom left": "at the bottom left",
    "bottom right": "at the bottom right",
}
COLOUR_JITTER = 10  # ± per channel
SIZE_JITTER = 0.12  # ± fraction of the half side
POSITION_JITTER = 2  # ± pixels

# (colour, shape) pairs never shown in training: the evaluation asks for them.
# Two colours per shape, none of the pairs the tests and README use.
HELD_OUT: frozenset[tuple[str, str]] = frozenset(
    {
        ("blue", "circle"), ("orange", "circle"),
        ("yellow", "square"), ("pink", "square"),
        ("purple", "triangle"), ("white", "triangle"),
        ("cyan", "star"), ("gray", "star"),
        ("red", "diamond"), ("black", "diamond"),
        ("green", "heart"), ("white", "heart"),
        ("yellow", "cross"), ("blue", "cross"),
    }
)  # fmt: skip

FILLER_WORDS = ("a", "an", "at", "the", "in", "on", "background")


def vocabulary() -> list[str]:
    """Every word a caption can use, in a fixed order."""
    words = [*FILLER_WORDS, *SIZES, *COLOURS, *SHAPES]
    for phrase in POSITION_PHRASES.values():
        words += phrase.split()
    return list(dict.fromkeys(words))


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    size: str
    position: str
    # exact rendering parameters (jitter)
    cx: float
    cy: float
    half: float
    rgb: tuple[int, int, int]
    bg_rgb: tuple[int, int, int]


def _jitter(rng: random.Random, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(min(255, max(0, c + rng.randint(-COLOUR_JITTER, COLOUR_JITTER))) for c in rgb)


def anchor(position: str, half: float) -> tuple[float, float]:
    """The centre of a shape of half side `half` at a named position."""
    if position == "center":
        return SIZE / 2, SIZE / 2
    near = half + 4  # 4 px from the border
    far = SIZE - near
    y = near if position.startswith("top") else far
    x = near if position.endswith("left") else far
    return x, y


def make_scene(
    rng: random.Random, shape: str, colour: str, background: str, size: str, position: str
) -> Scene:
    half = SIZES[size] * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))
    x, y = anchor(position, half)
    j = POSITION_JITTER
    x += rng.uniform(-j, j)
    y += rng.uniform(-j, j)
    return Scene(
        shape, colour, background, size, position, x, y, half,
        _jitter(rng, COLOURS[colour]), _jitter(rng, COLOURS[background]),
    )  # fmt: skip


def random_scene(rng: random.Random, held_out: bool = False) -> Scene:
    """A random scene; with held_out=False its (colour, shape) pair is one seen in
    training, with held_out=True one of HELD_OUT."""
    while True:
        shape = rng.choice(SHAPES)
        colour = rng.choice(list(COLOURS))
        if ((colour, shape) in HELD_OUT) == held_out:
            break
    background = rng.choice([c for c in COLOURS if c != colour])
    return make_scene(
        rng, shape, colour, background, rng.choice(list(SIZES)), rng.choice(POSITIONS)
    )


def caption(scene: Scene, rng: random.Random | None = None) -> str:
    """The full caption, or (with an rng) one with some attributes left out, so
    that short prompts like "a red circle" work too."""
    keep = (lambda p: True) if rng is None else (lambda p: rng.random() < p)
    words = []
    if keep(0.6):
        words.append(scene.size)
    if keep(0.95):
        words.append(scene.colour)
    words.append(scene.shape)
    if keep(0.6):
        words.append(POSITION_PHRASES[scene.position])
    if keep(0.7):
        words.append(f"on {article(scene.background)} {scene.background} background")
    return f"{article(words[0])} " + " ".join(words)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# -- drawing -----------------------------------------------------------------------


def _star(n_points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    pts = []
    for i in range(2 * n_points):
        r = 1.0 if i % 2 == 0 else inner
        a = -math.pi / 2 + i * math.pi / n_points
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


def _heart(n: int = 48) -> list[tuple[float, float]]:
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x, -y))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    s = max(max(xs) - min(xs), max(ys) - min(ys)) / 2
    return [((x - cx) / s, (y - cy) / s) for x, y in pts]


_C = 0.34  # half width of the cross's arms
OUTLINES: dict[str, list[tuple[float, float]] | None] = {
    "circle": None,
    "square": [(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
    "triangle": [(0.0, -1.0), (1.0, 0.8), (-1.0, 0.8)],
    "star": _star(),
    "diamond": [(0.0, -1.0), (0.8, 0.0), (0.0, 1.0), (-0.8, 0.0)],
    "heart": _heart(),
    "cross": [
        (-_C, -1), (_C, -1), (_C, -_C), (1, -_C), (1, _C), (_C, _C),
        (_C, 1), (-_C, 1), (-_C, _C), (-1, _C), (-1, -_C), (-_C, -_C),
    ],
}  # fmt: skip


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, half: float, fill):
    outline = OUTLINES[shape]
    if outline is None:
        draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=fill)
    else:
        draw.polygon([(cx + x * half, cy + y * half) for x, y in outline], fill=fill)


def shape_mask(shape: str, cx: float, cy: float, half: float, size: int = SIZE) -> np.ndarray:
    """A float mask (0..1, anti-aliased) of a shape on a size×size canvas."""
    s = SUPERSAMPLE
    canvas = Image.new("L", (size * s, size * s), 0)
    draw_shape(ImageDraw.Draw(canvas), shape, cx * s, cy * s, half * s, 255)
    canvas = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def render(scene: Scene) -> Image.Image:
    mask = shape_mask(scene.shape, scene.cx, scene.cy, scene.half)[..., None]
    fg = np.array(scene.rgb, dtype=np.float32)
    bg = np.array(scene.bg_rgb, dtype=np.float32)
    pixels = mask * fg + (1 - mask) * bg
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")

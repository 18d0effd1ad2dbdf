"""An honest classifier of the procedural world: it reads a picture back into
(shape colour, background colour, shape, size, position) with plain image
analysis, no learning. On rendered ground truth it is right every time (see
`python -m training.judge`), so its errors on generated pictures are the model's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .world import COLOURS, OUTLINES, SHAPES, SIZE, random_scene, render, shape_mask

_NAMES = list(COLOURS)
_RGB = np.array([COLOURS[n] for n in _NAMES], dtype=np.float32)

CENTER_TOLERANCE = 5.0  # px: a box centre this close to the middle is "center"
LARGE_FROM = 26.0  # px: a box side from this on is "large"


@dataclass(frozen=True)
class Reading:
    colour: str | None  # None: no shape found
    background: str
    shape: str | None
    size: str | None
    position: str | None
    mask: np.ndarray  # bool, the shape's pixels


def nearest_colour(rgb: np.ndarray) -> str:
    return _NAMES[int(np.argmin(((_RGB - rgb) ** 2).sum(axis=1)))]


def _extent(shape: str) -> tuple[float, float, float, float]:
    """The template's box in unit coordinates: (x0, y0, x1, y1)."""
    outline = OUTLINES[shape]
    if outline is None:
        return -1.0, -1.0, 1.0, 1.0
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    return min(xs), min(ys), max(xs), max(ys)


BLURS = (0.0, 0.8, 1.6)  # px: templates are also compared blurred, as a decoder draws
SCALES = (0.94, 1.0, 1.06)


def _blurred(template: np.ndarray, sigma: float) -> np.ndarray:
    return template if sigma == 0 else cv2.GaussianBlur(template, (0, 0), sigma)


def classify_shape(alpha: np.ndarray, mask: np.ndarray) -> str:
    """The template that best explains the picture: each outline, fitted to the
    shape's box (a little larger or smaller too), sharp or slightly blurred, is
    compared with the shape's coverage `alpha` (0 background .. 1 shape) by
    soft IoU, around the shape only."""
    ys, xs = np.nonzero(mask)
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    pad = 4
    window = (
        slice(max(0, by0 - pad), min(alpha.shape[0], by1 + pad)),
        slice(max(0, bx0 - pad), min(alpha.shape[1], bx1 + pad)),
    )
    target = alpha[window]
    best, best_iou = SHAPES[0], -1.0
    for shape in SHAPES:
        x0, y0, x1, y1 = _extent(shape)
        half = ((bx1 - bx0) / (x1 - x0) + (by1 - by0) / (y1 - y0)) / 2
        cx = (bx0 + bx1) / 2 - half * (x0 + x1) / 2
        cy = (by0 + by1) / 2 - half * (y0 + y1) / 2
        for scale in SCALES:
            sharp = shape_mask(shape, cx, cy, half * scale, size=alpha.shape[0])
            for sigma in BLURS:
                t = _blurred(sharp, sigma)[window]
                iou = np.minimum(t, target).sum() / max(np.maximum(t, target).sum(), 1e-6)
                if iou > best_iou:
                    best, best_iou = shape, iou
    return best


def read(image: Image.Image) -> Reading:
    pixels = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.float32)
    border = np.concatenate(
        [pixels[:2].reshape(-1, 3), pixels[-2:].reshape(-1, 3),
         pixels[:, :2].reshape(-1, 3), pixels[:, -2:].reshape(-1, 3)]
    )  # fmt: skip
    bg = np.median(border, axis=0)
    distance = np.sqrt(((pixels - bg) ** 2).sum(axis=-1))
    peak = np.percentile(distance, 99.5)
    empty = Reading(None, nearest_colour(bg), None, None, None, np.zeros(distance.shape, bool))
    if peak < 40:
        return empty
    candidates = (distance > max(30.0, 0.5 * peak)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=8)
    if count < 2:
        return empty
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = labels == largest
    if mask.sum() < 12:
        return empty
    # The colour of the shape's core, away from its anti-aliased edge.
    core = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    fg = np.median(pixels[core if core.sum() >= 4 else mask], axis=0)
    colour = nearest_colour(fg)
    # coverage: where each pixel lies between the background and the shape colour
    axis = fg - bg
    alpha = np.clip(((pixels - bg) @ axis) / max(float(axis @ axis), 1e-6), 0, 1)
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    side = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
    dx, dy = cx - SIZE / 2, cy - SIZE / 2
    if max(abs(dx), abs(dy)) < CENTER_TOLERANCE:
        position = "center"
    else:
        position = ("top" if dy < 0 else "bottom") + " " + ("left" if dx < 0 else "right")
    return Reading(
        colour, nearest_colour(bg), classify_shape(alpha.astype(np.float32), mask),
        "large" if side >= LARGE_FROM else "small", position, mask,
    )  # fmt: skip


def self_check(n: int = 2000, seed: int = 1234) -> dict[str, float]:
    """Accuracy of the judge on rendered ground truth."""
    rng = random.Random(seed)
    hits = {"colour": 0, "background": 0, "shape": 0, "size": 0, "position": 0}
    for _ in range(n):
        scene = random_scene(rng, held_out=rng.random() < 0.5)
        r = read(render(scene))
        for key in hits:
            hits[key] += getattr(r, key) == getattr(scene, key)
    return {k: v / n for k, v in hits.items()}


if __name__ == "__main__":
    for key, accuracy in self_check().items():
        print(f"{key:11} {accuracy:7.2%}")

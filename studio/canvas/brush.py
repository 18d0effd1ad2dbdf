"""Brush dabs: the soft round stamp a stroke is made of, and where dabs land.

Pure numpy: positions are document pixels, a pixel's centre is at +0.5."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

# Distance between dabs as a fraction of the diameter: small enough that a
# hard edge shows no scallops, large enough that a 500 px brush stays fast.
SPACING = 0.1
MIN_PRESSURE_SCALE = 0.1


@dataclass(frozen=True)
class BrushSpec:
    """Everything a stroke needs to know about the tool that draws it."""

    size: float  # diameter in document pixels
    hardness: float = 1.0  # 1 = crisp edge, 0 = soft all the way from the centre
    opacity: float = 1.0  # the most a stroke covers, however often dabs overlap
    color: tuple[int, int, int] = (0, 0, 0)
    erase: bool = False
    pressure_size: bool = True  # tablet pressure scales the diameter

    def radius(self, pressure: float) -> float:
        scale = max(MIN_PRESSURE_SCALE, min(1.0, pressure)) if self.pressure_size else 1.0
        return max(0.5, self.size * scale / 2)

    def spacing(self, pressure: float) -> float:
        return max(1.0, SPACING * 2 * self.radius(pressure))


@dataclass(frozen=True)
class Dab:
    left: int
    top: int
    alpha: np.ndarray  # (height, width) float32 in 0..1

    @property
    def box(self) -> tuple[int, int, int, int]:
        height, width = self.alpha.shape
        return self.left, self.top, self.left + width, self.top + height


def make_dab(x: float, y: float, radius: float, hardness: float) -> Dab:
    """The stamp of a round brush centred at (x, y), anti-aliased at its edge.

    Positions and radii are rounded to 1/8 pixel (invisible), so the stamps
    of small brushes, which a stroke places by the hundred, can be reused."""
    x, y, radius = _eighth(x), _eighth(y), max(0.5, _eighth(radius))
    left, top = math.floor(x - radius), math.floor(y - radius)
    hardness = min(max(hardness, 0.0), 1.0)
    if radius <= CACHED_RADIUS:
        alpha = _cached_stamp(x - left, y - top, radius, hardness)
    else:
        alpha = _stamp(x - left, y - top, radius, hardness)
    return Dab(left, top, alpha)


CACHED_RADIUS = 48


def _eighth(value: float) -> float:
    return round(value * 8) / 8


def _stamp(centre_x: float, centre_y: float, radius: float, hardness: float) -> np.ndarray:
    width = math.ceil(centre_x + radius)
    height = math.ceil(centre_y + radius)
    xs = np.arange(width, dtype=np.float32) + np.float32(0.5 - centre_x)
    ys = np.arange(height, dtype=np.float32) + np.float32(0.5 - centre_y)
    distance = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    # One pixel of coverage falloff at the rim keeps hard edges smooth.
    alpha = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    inner = radius * hardness
    if inner < radius - 1:
        t = np.clip((distance - inner) / (radius - inner), 0.0, 1.0)
        alpha *= 1.0 - t * t * (3.0 - 2.0 * t)  # smoothstep falloff
    return alpha.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=512)
def _cached_stamp(centre_x: float, centre_y: float, radius: float, hardness: float) -> np.ndarray:
    stamp = _stamp(centre_x, centre_y, radius, hardness)
    stamp.flags.writeable = False  # shared between dabs
    return stamp


class DabPath:
    """Turns the points of a stroke into evenly spaced dab centres, carrying the
    leftover distance from one segment to the next so spacing never drifts."""

    def __init__(self, spec: BrushSpec) -> None:
        self._spec = spec
        self._last: tuple[float, float, float] | None = None
        self._to_next = 0.0  # distance along the path to the next dab

    def add(self, x: float, y: float, pressure: float) -> list[tuple[float, float, float]]:
        if self._last is None:
            self._last = (x, y, pressure)
            self._to_next = self._spec.spacing(pressure)
            return [(x, y, pressure)]
        x0, y0, p0 = self._last
        length = math.hypot(x - x0, y - y0)
        if length == 0:
            return []
        centres = []
        travelled = self._to_next
        while travelled <= length:
            t = travelled / length
            pressure_here = p0 + (pressure - p0) * t
            centres.append((x0 + (x - x0) * t, y0 + (y - y0) * t, pressure_here))
            travelled += self._spec.spacing(pressure_here)
        self._to_next = travelled - length
        self._last = (x, y, pressure)
        return centres

"""Loss curves: a running log printed as training goes, and a PNG plot drawn
with Pillow (no plotting library needed)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PIL import Image, ImageDraw


class LossLog:
    def __init__(self, name: str, total_steps: int, every: int) -> None:
        self.name, self.total, self.every = name, total_steps, every
        self.points: list[tuple[int, float]] = []  # (step, mean loss over the window)
        self._window: list[float] = []
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()
        self._ended: tuple[float, float] | None = None  # (wall, CPU) at the last step

    def add(self, step: int, loss: float) -> None:
        self._window.append(loss)
        if step % self.every == 0 or step == self.total:
            mean = sum(self._window) / len(self._window)
            self._window.clear()
            self.points.append((step, mean))
            if step == self.total:  # the stage's times stop here, not when they are read
                self._ended = (time.perf_counter(), time.process_time())
            elapsed = self.elapsed
            print(
                f"[{self.name}] step {step:5d}/{self.total}  loss {mean:.4f}  {elapsed:6.0f} s",
                flush=True,
            )

    @property
    def elapsed(self) -> float:
        now = self._ended[0] if self._ended else time.perf_counter()
        return now - self._started

    @property
    def cpu(self) -> float:
        """CPU seconds of this process (all threads): unlike the wall clock, it
        does not grow when a shared machine lends the cores to someone else."""
        now = self._ended[1] if self._ended else time.process_time()
        return now - self._cpu_started


def plot(logs: list[LossLog], path: Path, width: int = 360, height: int = 220) -> Path:
    """One panel per log, log-scale loss against step."""
    panels = Image.new("RGB", (width * len(logs), height), "white")
    for k, log in enumerate(logs):
        draw = ImageDraw.Draw(panels)
        x0, y0, x1, y1 = k * width + 40, 20, (k + 1) * width - 10, height - 25
        draw.rectangle((x0, y0, x1, y1), outline=(120, 120, 120))
        draw.text((x0, 4), f"{log.name} loss (log scale)", fill="black")
        if len(log.points) < 2:
            continue
        values = [math.log10(max(v, 1e-8)) for _, v in log.points]
        low, high = min(values), max(values)
        span = max(high - low, 1e-6)
        last = log.points[-1][0]
        xy = [
            (x0 + (x1 - x0) * s / last, y1 - (y1 - y0) * (v - low) / span)
            for (s, _), v in zip(log.points, values, strict=True)
        ]
        draw.line(xy, fill=(30, 90, 200), width=2)
        draw.text((x0 - 38, y0), f"{10**high:.3g}", fill="black")
        draw.text((x0 - 38, y1 - 10), f"{10**low:.3g}", fill="black")
        draw.text((x1 - 40, y1 + 5), f"{last} steps", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    panels.save(path)
    return path

"""How far a download is: bytes, speed over the last seconds, time left, as one
line of text. The window's progress bars and the CLI's progress line read the
same figures (nothing here imports Qt)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .byte_sizes import size_text

SPEED_WINDOW_S = 3.0  # the speed is the mean over this much recent time


@dataclass(frozen=True)
class DownloadStatus:
    done: int  # bytes of the whole download present so far
    total: int
    speed: float  # bytes a second over the last few seconds; 0 while unknown

    @property
    def percent(self) -> int:
        return 100 if self.total <= 0 else min(100, self.done * 100 // self.total)

    @property
    def seconds_left(self) -> float | None:
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / self.speed if self.speed > 0 else None

    def text(self) -> str:
        """'312 MB of 1.2 GB · 45 MB/s · 0:23 left'"""
        parts = [f"{size_text(self.done)} of {size_text(self.total)}"]
        if self.done < self.total and self.speed > 0:
            parts.append(f"{size_text(int(self.speed))}/s")
        left = self.seconds_left
        if left is not None and self.done < self.total:
            minutes, seconds = divmod(round(left), 60)
            hours, minutes = divmod(minutes, 60)
            clock = f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
            parts.append(f"{clock} left")
        return " · ".join(parts)


class SpeedMeter:
    """Bytes a second over a sliding window of recent samples: a resumed
    download's first jump (the part already on disk) and a stall both fade out."""

    def __init__(
        self, window_s: float = SPEED_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> float:
        now = self._clock()
        if not self._samples:
            self._samples.append((now, done))
            return 0.0
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        start, first = self._samples[0]
        return (done - first) / (now - start) if now > start else 0.0

    def restart(self, done: int) -> None:
        """Forgets the history: bytes found on disk are not bytes transferred."""
        self._samples.clear()
        self._samples.append((self._clock(), done))

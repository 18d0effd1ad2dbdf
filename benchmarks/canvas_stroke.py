"""How fast a long brush stroke renders on a 2048×2048 canvas.

Drives a real CanvasView with mouse events, as a user's drag would, and
after every event lets Qt repaint what changed, so each figure is the time
from a mouse event to its pixels being on screen (offscreen raster here).

    QT_QPA_PLATFORM=offscreen python benchmarks/canvas_stroke.py
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.canvas import CanvasDocument, CanvasView

SIDE = 2048


def stroke_path(events: int) -> list[QPointF]:
    """A long wave across the whole document, in document coordinates."""
    points = []
    for i in range(events):
        t = i / (events - 1)
        x = 80 + t * (SIDE - 160)
        y = SIDE / 2 + (SIDE / 2 - 200) * math.sin(t * 5 * math.pi)
        points.append(QPointF(x, y))
    return points


def send(view: CanvasView, kind: QMouseEvent.Type, point: QPointF) -> None:
    position = view.map_from_document(point)
    buttons = (
        Qt.MouseButton.NoButton
        if kind == QMouseEvent.Type.MouseButtonRelease
        else (Qt.MouseButton.LeftButton)
    )
    event = QMouseEvent(
        kind,
        position,
        view.viewport().mapToGlobal(position),
        Qt.MouseButton.LeftButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view.viewport(), event)


def settle() -> None:
    # The scene queues its update, the viewport then queues a paint: two rounds.
    QApplication.processEvents()
    QApplication.processEvents()


def measure(app: QApplication, size: int, zoom: str, events: int) -> dict[str, float]:
    view = CanvasView(CanvasDocument(SIDE, SIDE))
    view.resize(1600, 1000)
    view.show()
    settle()
    if zoom == "100%":
        view.actual_size()
    settle()
    view.settings.size = size
    view.settings.hardness = 0.6
    view.settings.opacity = 0.8
    path = stroke_path(events)
    latencies = []
    started = time.perf_counter()
    send(view, QMouseEvent.Type.MouseButtonPress, path[0])
    settle()
    for point in path[1:]:
        begin = time.perf_counter()
        send(view, QMouseEvent.Type.MouseMove, point)
        settle()
        latencies.append(time.perf_counter() - begin)
    release = time.perf_counter()
    send(view, QMouseEvent.Type.MouseButtonRelease, path[-1])
    settle()
    finished = time.perf_counter()
    view.document.undo()
    settle()
    undone = time.perf_counter()
    view.close()
    latencies.sort()
    length = sum(math.dist((a.x(), a.y()), (b.x(), b.y())) for a, b in itertools.pairwise(path))
    return {
        "length": length,
        "mean": statistics.fmean(latencies) * 1000,
        "p95": latencies[int(0.95 * len(latencies))] * 1000,
        "max": latencies[-1] * 1000,
        "total": (finished - started) * 1000,
        "release": (finished - release) * 1000,
        "undo": (undone - finished) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400, help="mouse events per stroke")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128, 500])
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    print(
        f"{SIDE}×{SIDE} canvas, {args.events} mouse events per stroke, "
        f"hardness 60 %, opacity 80 %, {os.cpu_count()} CPUs"
    )
    print(
        "brush  zoom   stroke px  per event: mean   p95    max   whole stroke  release  undo   (ms)"
    )
    for zoom in ("fit", "100%"):
        for size in args.sizes:
            r = measure(app, size, zoom, args.events)
            print(
                f"{size:5d}  {zoom:5s}  {r['length']:9.0f}  {r['mean']:15.2f} {r['p95']:6.2f} "
                f"{r['max']:6.2f}  {r['total']:12.0f} {r['release']:8.1f} {r['undo']:5.1f}"
            )


if __name__ == "__main__":
    main()

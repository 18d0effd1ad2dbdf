"""UI responsiveness: time to a visible window (cold), and the longest event-loop
stall while the engine starts and while a job runs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/ui_responsiveness.py \
        [--model tiny-random] [--size 256] [--steps 20]

A 5 ms QTimer records the gap between its ticks on the GUI thread; a gap much
longer than 5 ms is time the window could not repaint or react. Prints one
table from one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

TICK_MS = 5

_CHILD = r"""
import sys, time
start = float(sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from studio.ui.main_window import MainWindow
window = MainWindow(start_engine=False)
window.show()
def shown():
    print(f"VISIBLE {time.time() - start:.3f} TORCH {'torch' in sys.modules}", flush=True)
    window.close()
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def cold_start_seconds(env: dict) -> tuple[float, bool]:
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(started)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    for line in out.stdout.splitlines():
        if line.startswith("VISIBLE"):
            _, seconds, _, torch = line.split()
            return float(seconds), torch == "True"
    raise RuntimeError(f"the window did not appear:\n{out.stderr[-2000:]}")


class StallMeter:
    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000)
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> tuple[float, int]:
        self.timer.stop()
        return max(self.gaps, default=0.0), sum(g > 50 for g in self.gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="studio-bench-")
    env = {**os.environ, "STUDIO_DATA_DIR": data, "QT_QPA_PLATFORM": "offscreen"}
    os.environ.update(env)

    visible, torch_loaded = cold_start_seconds(env)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from studio.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    meter = StallMeter()

    def wait(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)

    # Engine start: torch and diffusers are imported on the engine thread.
    meter.start()
    wait(lambda: "diffusers" in sys.modules and window.worker.queue._store is not None, 120)
    wait(lambda: False, 0.5)
    start_max, start_over = meter.stop()

    panel = window.panel
    panel.model.set_spec(args.model)
    panel.width_box.setValue(args.size)
    panel.height_box.setValue(args.size)
    panel.steps.setValue(args.steps)
    panel.prompt.setPlainText("a lighthouse at dusk")
    window.generate()  # warm-up: the model loads
    wait(lambda: not window.jobs.busy(), 600)
    meter.start()
    window.generate()
    wait(lambda: not window.jobs.busy(), 600)
    job_max, job_over = meter.stop()
    window.document.undo_stack.setClean()  # the results are the benchmark's: quit without asking
    window.close()

    print(f"{'measure':44} {'value':>10}")
    print(f"{'cold launch to visible window':44} {visible:9.2f}s")
    print(f"{'torch imported when the window appeared':44} {torch_loaded!s:>10}")
    print(f"{'longest stall while the engine starts':44} {start_max:8.1f}ms")
    print(f"{'  gaps over 50 ms':44} {start_over:10d}")
    print(f"{f'longest stall during a {args.size}² {args.steps}-step job':44} {job_max:8.1f}ms")
    print(f"{'  gaps over 50 ms':44} {job_over:10d}")


if __name__ == "__main__":
    main()

"""The canvas survives long sessions whatever PySide6's reference-count bugs
(6.12.0 on Python 3.11 drops a reference to None on every void call and to
True on every emit; see studio/canvas/pyside_guard.py). Run in a child
process: without the guard the interpreter aborts, which would take pytest
down with it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LONG_SESSION = textwrap.dedent(
    """
    import studio.canvas  # applies the guard
    from PySide6.QtCore import QObject, QPoint, Signal

    class Probe(QObject):
        ping = Signal()

    point, probe = QPoint(), Probe()
    for _ in range(50_000):  # ten times what a fresh interpreter's None survives
        point.setX(1)
        probe.ping.emit()
    print("survived")
    """
)


def test_fifty_thousand_void_calls_and_emits_do_not_abort_the_interpreter():
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", LONG_SESSION],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived"

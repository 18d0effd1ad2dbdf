"""The window's layout: the canvas keeps room in a small window, the panel's
fields are never clipped, and a saved layout comes back only where it fits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QScrollArea

from studio.ui.main_window import MainWindow
from studio.ui.settings_store import open_store
from studio.ui.window_layout import CANVAS_MIN, fits


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    w = MainWindow(open_store(tmp_path / "settings.ini"), start_engine=False)
    qtbot.addWidget(w)
    w.show()
    return w


def _assert_usable(window, qapp) -> None:
    for _ in range(3):
        qapp.processEvents()
    view = window.view
    assert view.width() >= CANVAS_MIN.width() and view.height() >= CANVAS_MIN.height()
    scroll = window.panel.findChild(QScrollArea)
    fields = scroll.widget()
    assert fields.width() >= fields.minimumSizeHint().width()  # nothing cut off
    assert not scroll.horizontalScrollBar().isVisible()


def test_the_smallest_window_keeps_a_usable_canvas_and_whole_fields(window, qapp):
    window.resize(window.minimumSizeHint())
    _assert_usable(window, qapp)
    window.resize(1400, 900)  # and enlarged again
    _assert_usable(window, qapp)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (QSize(1200, 800), True),
        (QSize(1920, 1080), True),
        (QSize(1921, 800), False),
        (QSize(1200, 1200), False),
        (None, False),  # nothing saved (or a layout from before sizes were saved)
        ("garbage", False),
    ],
)
def test_a_saved_size_fits_only_inside_the_screen(size, expected):
    assert fits(size, QRect(0, 0, 1920, 1080)) is expected


SESSION = """
import json, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from studio.ui.main_window import MainWindow
from studio.ui.settings_store import open_store
settings_path, resize = Path(sys.argv[1]), sys.argv[2] == "resize"
window = MainWindow(open_store(settings_path), start_engine=False)
window.show(); app.processEvents()
seen = {"size": [window.width(), window.height()],
        "queue": window.docks["queue"].isVisible()}
if resize:
    window.resize(1300, 850)
    window.docks["queue"].hide()
    app.processEvents()
window.close()
print(json.dumps(seen))
"""


def _session(tmp_path, screen: tuple[int, int], resize: bool) -> dict:
    """A run of the window on an offscreen screen of this size, in its own process."""
    config = tmp_path / f"screen-{screen[0]}x{screen[1]}.json"
    config.write_text(
        json.dumps(
            {"screens": [{"name": "s", "x": 0, "y": 0, "width": screen[0], "height": screen[1]}]}
        )
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
        "INCEPTION_BASE_URL": "http://127.0.0.1:9/v1",
    }
    args = [sys.executable, "-c", SESSION, str(tmp_path / "settings.ini")]
    out = subprocess.run(
        [*args, "resize" if resize else "look"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_saved_layout_comes_back_only_on_a_screen_it_fits(tmp_path):
    _session(tmp_path, (1920, 1080), resize=True)
    same_screen = _session(tmp_path, (1920, 1080), resize=False)
    assert same_screen == {"size": [1300, 850], "queue": False}
    smaller = _session(tmp_path, (1200, 760), resize=False)
    assert smaller["size"][0] <= 1200 and smaller["size"][1] <= 760
    assert smaller["queue"]  # the default layout, not the saved one

"""Starting the window: QApplication, the qasync event loop, the main window
and what is assembled around it (the in-app HTTP API, window_api.py).

The window is shown before torch is imported: the engine imports it on its
own thread when the first job (or the warm-up) runs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

SCREENSHOT_SETTLE_MS = 1500
MISSING_LIBRARIES_EXIT = 69  # EX_UNAVAILABLE: the system lacks what the window needs


def app_icon():
    """The app's icon in every size that ships (resources/icons), for the
    title bar, task bar and Alt+Tab."""
    from PySide6.QtGui import QIcon

    from .paths import resources_dir

    icon = QIcon()
    for png in sorted((resources_dir() / "icons").glob("diffusion-studio-*.png")):
        icon.addFile(str(png))
    return icon


def run_gui(
    screenshot: str | None = None,
    open_path: str | None = None,
    on_shown: Callable[[object], None] | None = None,
) -> int:
    """Runs the window until it closes. `on_shown(window)` is called once the
    window is shown (the self-test drives the window from there)."""
    from PySide6.QtWidgets import QApplication

    from .x11_libraries import missing_libraries_message

    # Qt's own message names only libxcb-cursor0, whichever library is missing.
    problem = None if QApplication.instance() else missing_libraries_message()
    if problem:
        print(problem, file=sys.stderr)
        return MISSING_LIBRARIES_EXIT

    import qasync
    from PySide6.QtCore import QTimer

    from .ui.main_window import MainWindow
    from .ui.settings_store import load_preferences, open_store
    from .ui.theme import apply_theme
    from .window_api import WindowApiHost

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Diffusion Studio")
    app.setOrganizationName("DiffusionStudio")
    # Wayland/X11 match the window to the installed .desktop entry by this name.
    app.setDesktopFileName("diffusion-studio")
    app.setWindowIcon(app_icon())
    store = open_store()
    apply_theme(app, load_preferences(store).window.theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    window = MainWindow(store)
    WindowApiHost(window)  # the window owns it (its parent)
    if screenshot:
        # Pictures for the README and checks get one size, whatever the screen.
        window.resize(1400, 900)
    window.show()
    if open_path:
        path = Path(open_path)
        if path.suffix.lower() == ".dscanvas":
            window.open_project(str(path))
        else:
            window.open_image(str(path))
    if on_shown is not None:
        on_shown(window)
    result = {"code": 0}
    if screenshot:

        def shoot() -> None:
            if not window.grab().save(screenshot):
                print(f"error: could not write {screenshot}", file=sys.stderr)
                result["code"] = 1
            window.close()

        QTimer.singleShot(SCREENSHOT_SETTLE_MS, shoot)

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    return result["code"]

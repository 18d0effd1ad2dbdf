"""The window's menu bar, and the two small boxes only a menu opens (the result
cache, About).

Every command a user can reach by name is here, with its shortcut spelled out
in the tooltip and status tip; the window supplies the slots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QMessageBox, QWidget

from ..canvas import CanvasView
from .download_jobs import DownloadJobs
from .generation_panel import GenerationPanel
from .message_bar import MessageBar
from .models_dialog import show_models
from .preferences import Preferences
from .theme import THEMES


class MenuHost(Protocol):
    """What the menus drive and read: a MainWindow is one."""

    prefs: Preferences
    view: CanvasView
    docks: dict[str, QDockWidget]
    message_bar: MessageBar
    downloads: DownloadJobs
    panel: GenerationPanel

    def menuBar(self) -> QMenuBar: ...

    def new_canvas(self) -> None: ...

    def open_image(self, path: str | None = None) -> None: ...

    def open_project(self, path: str | None = None) -> None: ...

    def save_project(self) -> None: ...

    def save_project_as(self, path: str | None = None) -> None: ...

    def export_image(self) -> None: ...

    def close(self) -> bool: ...

    def show_settings(self) -> None: ...

    def generate(self, force: bool = False) -> list[int]: ...

    def stop(self) -> None: ...

    def stop_after_current(self) -> None: ...

    def set_theme(self, name: str) -> None: ...


def _add_action(
    parent: QWidget,
    menu: QMenu,
    text: str,
    slot: Callable,
    shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None,
    tip: str = "",
) -> QAction:
    action = QAction(text, parent)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    label = tip or text.replace("…", "").replace("&", "")
    if shortcut:
        label += f" ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(label)
    action.setStatusTip(label)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window: MenuHost) -> QActionGroup:
    """Fills the window's menu bar; returns the theme actions (exclusive: the
    active theme is checked; each one's data is its theme's name)."""
    bar = window.menuBar()
    owner = bar.window()  # the window as a QWidget: it owns the actions
    Key = QKeySequence.StandardKey

    def add(menu: QMenu, text: str, slot: Callable, shortcut=None, tip: str = "") -> QAction:
        return _add_action(owner, menu, text, slot, shortcut, tip)

    file = bar.addMenu("&File")
    add(file, "&New canvas…", window.new_canvas, Key.New)
    add(file, "&Open image…", window.open_image, Key.Open)
    add(file, "Open &project…", window.open_project, "Ctrl+Shift+O")
    add(file, "&Save project", window.save_project, Key.Save)
    add(file, "Save project &as…", window.save_project_as, "Ctrl+Shift+S")
    add(file, "&Export image…", window.export_image, "Ctrl+E")
    file.addSeparator()
    add(file, "&Quit", window.close, Key.Quit)

    edit = bar.addMenu("&Edit")
    canvas = window.view.canvas_actions
    # The canvas's own actions: their shortcuts act while the canvas has
    # focus, so Ctrl+Z in a prompt box still undoes text.
    edit.addActions([canvas.undo, canvas.redo])
    edit.addSeparator()
    edit.addActions([canvas.copy, canvas.paste])
    edit.addSeparator()
    edit.addActions(
        [canvas.clear_mask, canvas.invert_mask, canvas.clear_sketch, canvas.flatten_sketch]
    )
    edit.addSeparator()
    add(edit, "Pre&ferences…", window.show_settings, "Ctrl+,")

    generate = bar.addMenu("&Generate")
    add(generate, "&Generate", window.generate, "Ctrl+Return", "Generate from the panel")
    add(generate, "&Stop", window.stop, "Esc", "Stop the running job at its next step")
    add(
        generate,
        "Generate, &ignoring the cache",
        lambda: window.generate(force=True),
        "Ctrl+Shift+Return",
        "Generate again even if the same image is in the result cache",
    )
    add(
        generate,
        "Stop &after this image",
        window.stop_after_current,
        "Shift+Esc",
        "Let the running image finish, drop the rest of the queue",
    )
    generate.addSeparator()
    add(generate, "Result &cache…", lambda: show_cache(window))
    add(
        generate,
        "&Models…",
        lambda: show_models(window),
        tip="Download, resume and remove the catalog's models",
    )

    view = bar.addMenu("&View")
    view.addActions([canvas.zoom_fit, canvas.zoom_actual, canvas.zoom_in, canvas.zoom_out])
    view.addSeparator()
    for dock in window.docks.values():
        view.addAction(dock.toggleViewAction())
    view.addSeparator()
    themes = QActionGroup(owner)
    for name, label in THEMES.items():
        action = add(view, f"&{label} theme", lambda _=False, n=name: window.set_theme(n))
        action.setCheckable(True)
        action.setChecked(name == window.prefs.window.theme)
        action.setData(name)
        themes.addAction(action)

    help_menu = bar.addMenu("&Help")
    add(help_menu, "&About Diffusion Studio", lambda: show_about(owner))
    return themes


def show_cache(window: MenuHost) -> None:
    """What the result cache holds, with a button that empties it."""
    from ..engine.cache import ResultCache

    services = window.prefs.service_options()
    cache = ResultCache(services.cache_folder(), services.cache_max_mb * 2**20)
    box = QMessageBox(window.menuBar().window())
    box.setWindowTitle("Result cache")
    box.setText(cache.stats().describe())
    clear = box.addButton("Clear cache", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if box.clickedButton() is clear:
        removed = cache.clear()
        window.message_bar.show_message(f"Removed {removed} cached image(s).", "info")


def show_about(parent: QWidget) -> None:
    from .. import __version__

    QMessageBox.about(
        parent,
        "About Diffusion Studio",
        f"Diffusion Studio {__version__}\nPaint, then generate with diffusion models on "
        "your own machine.",
    )

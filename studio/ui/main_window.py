"""The main window: canvas in the centre, docks around it, glue between them.

It owns no logic of its own beyond wiring: the canvas paints, the engine
worker generates, the panels hold settings; this class connects them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from ..canvas import CanvasDocument, CanvasToolBar, CanvasView
from ..canvas.errors import CanvasError
from ..engine.errors import EngineError, RequestError
from ..engine.image_parameters import ParametersReadError, read_parameters
from ..engine.infotext import request_from_infotext
from ..engine.request import GenerationRequest, GenerationResult, Mode
from ..engine.worker import EngineWorker
from .canvas_request import place_on_canvas, request_from_canvas, split_into_jobs
from .edge_preview import EdgePreview
from .generation_panel import GenerationPanel
from .history import HistoryStore, HistoryStrip
from .message_bar import MessageBar
from .new_canvas_dialog import ask_canvas_size
from .queue_view import QueueView
from .settings_dialog import SettingsDialog
from .settings_store import AppPreferences, open_settings
from .theme import THEMES, apply_theme

ENGINE_START_DELAY_MS = 300
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
PROJECT_FILTER = "Diffusion Studio canvases (*.dscanvas)"
PROJECT_SUFFIX = ".dscanvas"


class MainWindow(QMainWindow):
    def __init__(self, settings=None, start_engine: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Diffusion Studio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else open_settings()
        self.prefs = AppPreferences.load(self.settings)
        self.project_path: Path | None = None
        self._jobs: dict[int, tuple[GenerationRequest, float]] = {}
        self._running: int | None = None
        self._restart_engine_when_idle = False
        self._showing_history = False  # a history image is shown over the canvas

        self.document = CanvasDocument(parent=self)
        self.view = CanvasView(self.document)
        self.message_bar = MessageBar()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 0)
        column.addWidget(self.message_bar)
        column.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.panel = GenerationPanel()
        self.tools = CanvasToolBar(self.view)
        self.history = HistoryStrip(HistoryStore(self.prefs.outputs_path()))
        self.queue_view = QueueView()
        self.edges = EdgePreview(self.document, self.panel)
        self.mercury = self._make_mercury_panel()
        self._docks = {
            "tools": self._dock("Tools", self.tools, Qt.DockWidgetArea.LeftDockWidgetArea),
            "generation": self._dock("Generate", self.panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "history": self._dock("History", self.history, Qt.DockWidgetArea.BottomDockWidgetArea),
            "queue": self._dock("Queue", self.queue_view, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        if self.mercury is not None:
            self._docks["mercury"] = self._dock(
                "Mercury", self.mercury, Qt.DockWidgetArea.RightDockWidgetArea
            )
            self.tabifyDockWidget(self._docks["generation"], self._docks["mercury"])
            self._docks["generation"].raise_()

        self.progress = QProgressBar()
        self.progress.setMinimumWidth(240)
        self.progress.setMaximumWidth(320)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_text = QLabel("Ready")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)

        self.worker: EngineWorker | None = None
        self.api = None  # the in-app HTTP API (studio.server.runner.ApiServer), when on
        self._build_menus()
        self._connect()
        self.panel.model.set_model_dirs(self.prefs.model_dirs)
        self.panel.load_state(self.settings)
        self.panel.set_canvas_size(self.document.width(), self.document.height())
        self._restore_layout()
        if start_engine:
            self.start_engine()

    # -- construction ----------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _make_mercury_panel(self) -> QWidget | None:
        from .mercury_panel import MercuryPanel
        from .mercury_settings_store import load_mercury_settings, save_mercury_settings

        panel = MercuryPanel(load_mercury_settings(self.settings), parent=self)
        panel.settings_changed.connect(lambda s: save_mercury_settings(s, self.settings))
        panel.set_prompt_source(lambda: self.panel.prompt.toPlainText())
        panel.use_as_prompt.connect(self.panel.prompt.setPlainText)
        panel.enhance_accepted.connect(self._apply_enhanced_prompt)
        return panel

    def _apply_enhanced_prompt(self, prompt: str, negative: str) -> None:
        self.panel.prompt.setPlainText(prompt)
        self.panel.negative.setPlainText(negative)
        self._docks["generation"].raise_()

    def _action(
        self, menu, text: str, slot, shortcut: str | QKeySequence | None = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
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

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New canvas…", self.new_canvas, QKeySequence.StandardKey.New)
        self._action(file, "&Open image…", self.open_image, QKeySequence.StandardKey.Open)
        self._action(file, "Open &project…", self.open_project, "Ctrl+Shift+O")
        self._action(file, "&Save project", self.save_project, QKeySequence.StandardKey.Save)
        self._action(file, "Save project &as…", self.save_project_as, "Ctrl+Shift+S")
        self._action(file, "&Export image…", self.export_image, "Ctrl+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        canvas = self.view.actions
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
        self._action(edit, "Pre&ferences…", self.show_settings, "Ctrl+,")

        generate = bar.addMenu("&Generate")
        self.generate_action = self._action(
            generate, "&Generate", self.generate, "Ctrl+Return", "Generate from the panel"
        )
        self.stop_action = self._action(
            generate, "&Stop", self.stop, "Esc", "Stop the running job at its next step"
        )
        self._action(
            generate,
            "Generate, &ignoring the cache",
            lambda: self.generate(force=True),
            "Ctrl+Shift+Return",
            "Generate again even if the same image is in the result cache",
        )
        self._action(
            generate,
            "Stop &after this image",
            self.stop_after_current,
            "Shift+Esc",
            "Let the running image finish, drop the rest of the queue",
        )
        generate.addSeparator()
        self._action(generate, "Result &cache…", self.show_cache)

        view = bar.addMenu("&View")
        view.addActions([canvas.zoom_fit, canvas.zoom_actual, canvas.zoom_in, canvas.zoom_out])
        view.addSeparator()
        for dock in self._docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self.theme_actions = QActionGroup(self)  # exclusive: the active theme is checked
        for name, label in THEMES.items():
            action = self._action(
                view, f"&{label} theme", lambda _=False, n=name: self.set_theme(n)
            )
            action.setCheckable(True)
            action.setChecked(name == self.prefs.theme)
            action.setData(name)
            self.theme_actions.addAction(action)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Diffusion Studio", self.about)

    def _connect(self) -> None:
        self.panel.generate_requested.connect(self.generate)
        self.panel.stop_requested.connect(self.stop)
        self.history.shown.connect(self.show_history_item)
        self.history.use_as_image.connect(self.use_history_item)
        self.history.restore_parameters.connect(self.restore_parameters_from)
        self.queue_view.remove_requested.connect(self._remove_job)
        self.view.error_occurred.connect(self.message_bar.show_message)
        # Any edit means the user is back at work: the shown history image goes.
        self.document.changed.connect(self._drop_history_view)
        self.document.size_changed.connect(
            lambda size: self.panel.set_canvas_size(size.width(), size.height())
        )

    # -- engine ----------------------------------------------------------------------

    def start_engine(self) -> None:
        self.worker = EngineWorker(self.prefs.engine_options(), parent=self)
        w = self.worker
        w.queue.set_services(self.prefs.service_options())
        w.job_started.connect(self._on_started)
        w.job_step.connect(self._on_step)
        w.job_finished.connect(self._on_finished)
        w.job_failed.connect(self._on_failed)
        w.job_cancelled.connect(self._on_cancelled)
        w.queue_changed.connect(self._refresh_queue)
        # Loading torch holds the interpreter lock for about half a second; start
        # after the window has painted so the freeze is not the first impression.
        QTimer.singleShot(ENGINE_START_DELAY_MS, w.start)
        self._start_api_server()

    def _start_api_server(self) -> None:
        """The local HTTP API over this window's queue, when the preference is on."""
        self._stop_api_server()
        if not self.prefs.api_server or self.worker is None:
            return
        from ..server.runner import ApiServer

        try:
            self.api = ApiServer(
                self.worker.queue,
                port=self.prefs.api_port,
                default_model=self.panel.model.current_spec(),
                token=os.environ.get("STUDIO_API_TOKEN") or None,
            )
            self.api.start()
        except EngineError as exc:
            self.api = None
            self.message_bar.show_message(str(exc))
            return
        self.status_text.setText(f"API serving at {self.api.url}")

    def _stop_api_server(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None

    def generate(self, force: bool = False) -> list[int]:
        """Queues the panel's request built from the canvas; returns the job ids.
        `force` bypasses the result cache."""
        if self.worker is None:
            return []
        self._drop_history_view()
        try:
            request = request_from_canvas(self.panel.fields(), self.document)
            if force:
                request = request.replace(force_regenerate=True)
            prompts = self.panel.batch_prompts()
            # One prompt per line: prompts that fit in memory run in one pipeline call.
            jobs = self.worker.queue.plan(request, prompts) if prompts else split_into_jobs(request)
            ids = [self.worker.submit(job) for job in jobs]
        except RequestError as exc:
            self.message_bar.show_message(str(exc))
            return []
        now = time.monotonic()
        for job_id, job in zip(ids, jobs, strict=True):
            self._jobs[job_id] = (job, now)
        self.message_bar.hide()
        self.panel.set_busy(True)
        return ids

    def stop(self) -> None:
        if self.worker is not None and self._running is not None:
            self.worker.cancel(self._running)

    def stop_after_current(self) -> None:
        if self.worker is None:
            return
        for job_id, _request in self.worker.queue.pending():
            self.worker.cancel(job_id)

    def _remove_job(self, job_id: int) -> None:
        if self.worker is not None:
            self.worker.cancel(job_id)

    def _on_started(self, job_id: int, request: GenerationRequest) -> None:
        self._running = job_id
        if job_id not in self._jobs:
            self.status_text.setText("Serving an API request…")
            return
        self.progress.setRange(0, 0)
        self.progress.setFormat("Loading…")
        self.progress.show()
        self.status_text.setText(f"Generating: {request.prompt[:60] or '(no prompt)'}")

    def _on_step(self, job_id: int, step: int, total: int, preview, region) -> None:
        if job_id not in self._jobs:
            return  # an API job: its client gets the result, the canvas stays as it is
        started = self._jobs.get(job_id, (None, time.monotonic()))[1]
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step}/{total} · {time.monotonic() - started:.1f} s")
        if not preview.isNull():
            self.view.set_preview(preview, region)
        self.view.set_busy_region(region)

    def _on_finished(self, job_id: int, result: GenerationResult) -> None:
        if self._jobs.pop(job_id, None) is None:
            self._job_ended(job_id)
            return
        self._clear_preview()
        saved = []
        for image, infotext, seed in zip(
            result.images, result.infotexts, result.seeds, strict=True
        ):
            try:
                path = self.history.store.save(image, infotext, seed)
            except OSError as exc:
                self.message_bar.show_message(
                    f"The result could not be saved to {self.history.store.root}: {exc}. "
                    "Choose another output folder in the settings."
                )
                break
            saved.append(path)
            self.history.add(path)
        self.panel.note_seed(result.seeds[0])
        if self.prefs.place_results and result.images:
            place_on_canvas(self.document, result.images[0], Mode(result.request.mode))
        if result.notices:
            self.message_bar.show_message(" ".join(result.notices), "info")
        how = "From the result cache" if result.cached else f"Done in {result.elapsed_s:.1f} s"
        self.status_text.setText(
            f"{how} · seed {result.seeds[0]}" + (f" · saved {saved[0].name}" if saved else "")
        )
        self._job_ended(job_id)

    def _on_failed(self, job_id: int, message: str) -> None:
        self._jobs.pop(job_id, None)
        self._clear_preview()
        self.message_bar.show_message(message)
        self.status_text.setText("Generation failed")
        self._job_ended(job_id)

    def _on_cancelled(self, job_id: int) -> None:
        self._jobs.pop(job_id, None)
        if job_id == self._running or self._running is None:
            self._clear_preview()
            self.status_text.setText("Cancelled")
        self._job_ended(job_id)

    def _clear_preview(self) -> None:
        self.view.clear_preview()
        self.view.set_busy_region(None)

    def _job_ended(self, job_id: int) -> None:
        if job_id == self._running:
            self._running = None
        if not self._jobs:
            self.progress.hide()
            self.panel.set_busy(False)
            if self._restart_engine_when_idle:
                self._restart_engine()
        self._refresh_queue()

    def _refresh_queue(self) -> None:
        if self.worker is None:
            return
        running_id = self.worker.queue.running_id
        running = None
        if running_id is not None and running_id in self._jobs:
            running = (running_id, self._jobs[running_id][0])
        self.queue_view.show_jobs(running, self.worker.queue.pending())

    def _restart_engine(self) -> None:
        self._restart_engine_when_idle = False
        self._stop_api_server()
        if self.worker is not None:
            self.worker.shutdown()
            self.worker.deleteLater()
        self.start_engine()

    # -- files -----------------------------------------------------------------------

    def _guard(self, action, *args) -> bool:
        try:
            action(*args)
        except (CanvasError, OSError, ValueError) as exc:
            self.message_bar.show_message(str(exc))
            return False
        return True

    def new_canvas(self) -> None:
        size = ask_canvas_size(self, self.document.width(), self.document.height())
        if size is not None:
            self._guard(self.document.new, *size)
            self.view.fit_to_window()

    def open_image(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path and self._guard(self.document.open_image, path):
            self.view.fit_to_window()

    def open_project(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        if path and self._guard(self.document.load_project, path):
            self.project_path = Path(path)
            self.view.fit_to_window()

    def save_project(self) -> None:
        if self.project_path is None:
            self.save_project_as()
        else:
            self._guard(self.document.save_project, self.project_path)

    def save_project_as(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save project", "", PROJECT_FILTER)
        if path:
            if not path.endswith(PROJECT_SUFFIX):
                path += PROJECT_SUFFIX
            if self._guard(self.document.save_project, path):
                self.project_path = Path(path)

    def export_image(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export image", "", IMAGE_FILTER)
        if path:
            self._guard(self.document.export_composed, path)

    # -- history ---------------------------------------------------------------------

    def _drop_history_view(self) -> None:
        if self._showing_history:
            self._showing_history = False
            self.view.clear_preview()

    def show_history_item(self, path: Path) -> None:
        from PySide6.QtGui import QImage

        image = QImage(str(path))
        if image.isNull():
            self.message_bar.show_message(f"{path.name} could not be read.")
            return
        self.view.set_preview(image, None)
        self._showing_history = True
        self.status_text.setText(f"Showing {path.name} · double-click or “Use as image” to keep it")

    def use_history_item(self, path: Path) -> None:
        self._drop_history_view()
        self._guard(self.document.open_image, str(path))

    def restore_parameters_from(self, path: Path) -> bool:
        try:
            text = read_parameters(path)
        except ParametersReadError as exc:  # the one error the reader raises, a sentence
            self.message_bar.show_message(str(exc))
            return False
        if text is None:
            self.message_bar.show_message(f"{Path(path).name} holds no generation parameters.")
            return False
        request, notices = request_from_infotext(text, self.panel.fields())
        self.panel.apply_request(request)
        message = f"Parameters restored from {Path(path).name}."
        self.message_bar.show_message(" ".join([message, *notices]), "info")
        return True

    # -- drag and drop ---------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = urls[0]
        try:
            recipe = read_parameters(path)
        except ParametersReadError as exc:
            self.message_bar.show_message(str(exc))
        else:
            # A picture with a recipe (PNG, JPEG, WebP) restores it; any other opens.
            if recipe is None:
                self.open_image(path)
            else:
                self.restore_parameters_from(Path(path))
        event.acceptProposedAction()

    # -- settings, look, lifetime ---------------------------------------------------------

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.prefs, self)
        if dialog.exec():
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: AppPreferences) -> None:
        engine_changed = prefs.engine_options() != self.prefs.engine_options()
        self.prefs = prefs
        prefs.save(self.settings)
        self.set_theme(prefs.theme)
        self.history.store.root = prefs.outputs_path()
        self.panel.model.set_model_dirs(prefs.model_dirs)
        if self.worker is not None:
            self.worker.queue.set_services(prefs.service_options())
        if engine_changed:
            if self._jobs:
                self._restart_engine_when_idle = True
                self.message_bar.show_message(
                    "The new device and memory settings apply once the queue is idle.", "info"
                )
            else:
                self._restart_engine()
        elif (prefs.api_server, prefs.api_port) != self._api_wanted():
            self._start_api_server()

    def _api_wanted(self) -> tuple[bool, int]:
        return (self.api is not None, self.api.port if self.api is not None else 0)

    def show_cache(self) -> None:
        from ..engine.cache import ResultCache

        services = self.prefs.service_options()
        cache = ResultCache(services.cache_folder(), services.cache_max_mb * 2**20)
        box = QMessageBox(self)
        box.setWindowTitle("Result cache")
        box.setText(cache.stats().describe())
        clear = box.addButton("Clear cache", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.exec()
        if box.clickedButton() is clear:
            removed = cache.clear()
            self.message_bar.show_message(f"Removed {removed} cached image(s).", "info")

    def set_theme(self, name: str) -> None:
        self.prefs.theme = name
        self.settings.setValue("ui/theme", name)
        for action in self.theme_actions.actions():
            action.setChecked(action.data() == name)
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, name)

    def about(self) -> None:
        from .. import __version__

        QMessageBox.about(
            self,
            "About Diffusion Studio",
            f"Diffusion Studio {__version__}\nPaint, then generate with diffusion models on "
            "your own machine.",
        )

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            available = self.screen().availableGeometry()
            self.resize(
                min(1400, int(available.width() * 0.92)), min(900, int(available.height() * 0.92))
            )
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:
            self.resizeDocks(
                [self._docks["history"], self._docks["queue"]],
                [900, 320],
                Qt.Orientation.Horizontal,
            )
            self.resizeDocks([self._docks["history"]], [150], Qt.Orientation.Vertical)
            self.resizeDocks([self._docks["generation"]], [380], Qt.Orientation.Horizontal)
        QTimer.singleShot(0, self.view.fit_to_window)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.panel.save_state(self.settings)
        self.settings.sync()
        self._stop_api_server()
        if self.worker is not None:
            self.worker.cancel_all()
            self.worker.shutdown()
        if self.mercury is not None:
            self.mercury.shutdown()
        super().closeEvent(event)

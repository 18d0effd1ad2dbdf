"""The main window: canvas in the centre, docks around it, glue between them.

It owns no logic of its own beyond wiring: the canvas paints, the engine
worker generates, the panels hold settings; this class connects them. What
is assembled around the window (the in-app HTTP API, see studio/window_api.py)
follows it through its signals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from ..canvas import CanvasDocument, CanvasToolBar, CanvasView
from ..engine.image_parameters import ParametersReadError, read_parameters
from ..engine.infotext import request_from_infotext
from ..engine.worker import EngineWorker
from ..mercury.settings import MercurySettings
from ..remote.client import RemoteError
from .document_files import DocumentFiles
from .edge_preview import EdgePreview
from .engine_port import EnginePort
from .generation_panel import GenerationPanel
from .history import HistoryStore, HistoryStrip
from .job_controller import JobController
from .message_bar import MessageBar
from .models_dialog import attach_downloads
from .preferences import Preferences
from .queue_view import QueueView
from .remote_worker import RemoteWorker
from .server_models import ServerModels
from .server_token import server_token
from .settings_dialog import SettingsDialog
from .settings_store import load_preferences, open_store, save_preferences
from .status_line import StatusLine
from .theme import apply_theme
from .window_layout import CANVAS_MIN, restore_layout, save_layout
from .window_menus import build_menus

ENGINE_START_DELAY_MS = 300


class MainWindow(QMainWindow):
    engine_started = Signal(object)  # the new engine (an EnginePort), its queue ready for jobs
    engine_stopping = Signal()  # the worker is about to shut down (restart, closing)
    preferences_applied = Signal(object)  # the Preferences now in force

    def __init__(self, store=None, start_engine: bool = True) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.store = store if store is not None else open_store()  # the settings file
        self.prefs = load_preferences(self.store)
        self._restart_engine_when_idle = False
        self._showing_history = False  # a history image is shown over the canvas
        self._connection_sentence = ""  # the lost server's, while the bar shows it

        self.document = CanvasDocument(parent=self)
        self.view = CanvasView(self.document)
        self.view.setMinimumSize(CANVAS_MIN)
        self.message_bar = MessageBar()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 0)
        column.addWidget(self.message_bar)
        column.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.panel = GenerationPanel()
        self.tool_panel = CanvasToolBar(self.view)
        self.history = HistoryStrip(HistoryStore(self.prefs.outputs_path()))
        self.queue_view = QueueView()
        self.edges = EdgePreview(self.document, self.panel)
        self.mercury = self._make_mercury_panel()
        self.docks = {
            "tools": self._dock("Tools", self.tool_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "generation": self._dock("Generate", self.panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "history": self._dock("History", self.history, Qt.DockWidgetArea.BottomDockWidgetArea),
            "queue": self._dock("Queue", self.queue_view, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        if self.mercury is not None:
            self.docks["mercury"] = self._dock(
                "Mercury", self.mercury, Qt.DockWidgetArea.RightDockWidgetArea
            )
            self.tabifyDockWidget(self.docks["generation"], self.docks["mercury"])
            self.docks["generation"].raise_()

        self.progress = QProgressBar()
        self.progress.setMinimumWidth(240)
        self.progress.setMaximumWidth(320)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_text = StatusLine("Ready")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)

        self.worker: EnginePort | None = None
        self.server_models = ServerModels(self)
        self.server_models.listed.connect(self._on_server_models)
        self.server_models.failed.connect(self._on_server_models_failed)
        self.jobs = JobController(
            panel=self.panel,
            document=self.document,
            view=self.view,
            history=self.history,
            queue_view=self.queue_view,
            message_bar=self.message_bar,
            status=self.status_text,
            progress=self.progress,
            place_results=lambda: self.prefs.window.place_results,
            parent=self,
        )
        self.files = DocumentFiles(
            self, self.document, self.status_text, self.message_bar, self._model_size
        )
        self.downloads = attach_downloads(self)  # the Models dialog's and the picker's
        self.theme_actions = build_menus(self)
        self._connect()
        self.panel.model.set_model_dirs([str(d) for d in self.prefs.engine.model_dirs])
        self.panel.load_state(self.store)
        self.files.follow_model_size()  # a first document at the model's own size
        self.panel.set_canvas_size(self.document.width(), self.document.height())
        restore_layout(self, self.store, self.docks)
        QTimer.singleShot(0, self.view.fit_to_window)
        if start_engine:
            self.start_engine()

    @property
    def project_path(self) -> Path | None:
        return self.files.project_path

    def _model_size(self) -> tuple[int, int] | None:
        defaults = self.panel.model.current_defaults()
        return None if defaults is None else (defaults.width, defaults.height)

    # -- construction ----------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _make_mercury_panel(self) -> QWidget | None:
        from .mercury_panel import MercuryPanel
        from .mercury_settings_store import save_mercury_settings

        panel = MercuryPanel(self.prefs.mercury, parent=self)

        def keep(mercury: MercurySettings) -> None:
            self.prefs = replace(self.prefs, mercury=mercury)
            save_mercury_settings(mercury, self.store)

        panel.settings_changed.connect(keep)
        panel.set_prompt_source(lambda: self.panel.prompt.toPlainText())
        panel.use_as_prompt.connect(self.panel.prompt.setPlainText)
        panel.enhance_accepted.connect(self._apply_enhanced_prompt)
        return panel

    def _apply_enhanced_prompt(self, prompt: str, negative: str) -> None:
        self.panel.prompt.setPlainText(prompt)
        self.panel.negative.setPlainText(negative)
        self.docks["generation"].raise_()

    def _connect(self) -> None:
        self.panel.generate_requested.connect(self.generate)
        self.panel.stop_requested.connect(self.stop)
        self.history.shown.connect(self.show_history_item)
        self.history.use_as_image.connect(self.use_history_item)
        self.history.restore_parameters.connect(self.restore_parameters_from)
        self.queue_view.remove_requested.connect(self.jobs.remove)
        self.jobs.idle.connect(self._on_jobs_idle)
        # A document nobody has touched yet follows the chosen model's size.
        self.panel.model_changed.connect(lambda _spec: self.files.follow_model_size())
        self.view.error_occurred.connect(self.message_bar.show_message)
        # Any edit means the user is back at work: the shown history image goes.
        self.document.changed.connect(self._drop_history_view)
        self.document.size_changed.connect(
            lambda size: self.panel.set_canvas_size(size.width(), size.height())
        )

    # -- engine ----------------------------------------------------------------------

    def start_engine(self) -> None:
        self.worker = w = self._make_engine()
        w.queue.set_services(self.prefs.service_options())
        w.connection_changed.connect(self._on_connection_changed)
        self._list_models(w)
        self.jobs.attach(w)
        # Loading torch holds the interpreter lock for about half a second; start
        # after the window has painted so the freeze is not the first impression.
        QTimer.singleShot(ENGINE_START_DELAY_MS, w.start)
        self.engine_started.emit(w)

    def _make_engine(self) -> EnginePort:
        """The engine on the server the preferences name, else on this computer.
        An address that cannot be used is said, and this computer generates:
        the window stays usable until the address is fixed in Settings."""
        url = self.prefs.remote.server()
        if url is not None:
            try:
                return RemoteWorker(url, lambda: server_token(url), parent=self)
            except RemoteError as exc:
                self.message_bar.show_message(
                    f"{exc} Generating on this computer until the engine server is fixed in "
                    "Settings."
                )
        return EngineWorker(self.prefs.engine, parent=self)

    def _list_models(self, worker: EnginePort) -> None:
        """The picker lists the server's models (read on a thread) or this computer's."""
        if not isinstance(worker, RemoteWorker):
            self.panel.model.set_server(None)
            return
        url = worker.url
        self.panel.model.set_server(url)  # "Reading the models on …" until they come
        self.server_models.fetch(url, lambda: server_token(url))

    def _on_server_models(self, url: str, models: object) -> None:
        if isinstance(self.worker, RemoteWorker) and self.worker.url == url:
            self.panel.model.set_server(url, list(models))  # type: ignore[call-overload]

    def _on_server_models_failed(self, url: str, sentence: str) -> None:
        if isinstance(self.worker, RemoteWorker) and self.worker.url == url:
            self.panel.model.set_server(url, [])
            self.message_bar.show_message(sentence)

    def _on_connection_changed(self, sentence: str) -> None:
        """A lost server is said once; the sentence goes when it is back, unless
        something else has been said since."""
        if sentence:
            self._connection_sentence = sentence
            self.message_bar.show_message(sentence, "info")
        elif self.message_bar.text() == self._connection_sentence:
            self.message_bar.hide()

    def generate(self, force: bool = False) -> list[int]:
        """Queues the panel's request built from the canvas; returns the job ids.
        `force` bypasses the result cache."""
        self._drop_history_view()
        return self.jobs.submit(force)

    def stop(self) -> None:
        self.jobs.stop()

    def stop_after_current(self) -> None:
        self.jobs.stop_after_current()

    def _on_jobs_idle(self) -> None:
        if self._restart_engine_when_idle:
            self._restart_engine()

    def _restart_engine(self) -> None:
        self._restart_engine_when_idle = False
        self.engine_stopping.emit()
        if self.worker is not None:
            self.worker.shutdown()
            self.worker.deleteLater()
        self.start_engine()

    # -- files -----------------------------------------------------------------------

    def _guard(self, action, *args) -> bool:
        """Runs a canvas action; a failure is a sentence in the message bar."""
        return self.files.guarded(action, *args)

    def new_canvas(self) -> None:
        if self.files.new_canvas():
            self.view.fit_to_window()

    def open_image(self, path: str | None = None) -> None:
        """Opens a picture as a new document, asking first about unsaved changes."""
        if self.files.open_image(path):
            self.view.fit_to_window()

    def open_project(self, path: str | None = None) -> None:
        if self.files.open_project(path):
            self.view.fit_to_window()

    def save_project(self) -> None:
        self.files.save()

    def save_project_as(self, path: str | None = None) -> None:
        self.files.save_as(path)

    def export_image(self) -> None:
        self.files.export_image()

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
        self.status_text.say(f"Showing {path.name} · double-click or “Use as image” to keep it")

    def use_history_item(self, path: Path) -> None:
        """Puts a result on the canvas's image layer (sketch and mask stay), undoably."""
        self._drop_history_view()
        if self._guard(self.document.open_image, str(path)):
            self.status_text.say(f"{path.name} is now the canvas image · Ctrl+Z takes it back")

    def restore_parameters_from(self, path: Path) -> bool:
        try:
            text = read_parameters(path)
        except ParametersReadError as exc:  # the one error the reader raises, a sentence
            self.message_bar.show_message(str(exc))
            return False
        if text is None:
            self.message_bar.show_message(f"{Path(path).name} holds no generation parameters.")
            return False
        request, notices = request_from_infotext(text, self.panel.request())
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
        event.acceptProposedAction()
        # The drag source (a file manager) waits until this returns: the
        # question about unsaved changes must come after, not inside, the drop.
        QTimer.singleShot(0, self, lambda: self.open_dropped(urls[0]))

    def open_dropped(self, path: str) -> None:
        """A picture with a recipe (PNG, JPEG, WebP) restores it; any other opens."""
        try:
            recipe = read_parameters(path)
        except ParametersReadError as exc:
            self.message_bar.show_message(str(exc))
            return
        if recipe is None:
            self.open_image(path)
        else:
            self.restore_parameters_from(Path(path))

    # -- settings, look, lifetime ---------------------------------------------------------

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.prefs, self)
        if dialog.exec():
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: Preferences) -> None:
        engine_changed = (prefs.engine, prefs.remote) != (self.prefs.engine, self.prefs.remote)
        self.prefs = prefs
        save_preferences(prefs, self.store)
        self.set_theme(prefs.window.theme)
        self.history.set_folder(prefs.outputs_path())
        self.panel.model.set_model_dirs([str(d) for d in prefs.engine.model_dirs])
        if self.worker is not None:
            self.worker.queue.set_services(prefs.service_options())
        if engine_changed:
            if self.jobs.busy():
                self._restart_engine_when_idle = True
                self.message_bar.show_message(
                    "The new engine, device and memory settings apply once the queue is idle.",
                    "info",
                )
            else:
                self._restart_engine()
        self.preferences_applied.emit(prefs)

    def set_theme(self, name: str) -> None:
        self.prefs = replace(self.prefs, window=replace(self.prefs.window, theme=name))
        save_preferences(self.prefs, self.store)
        for action in self.theme_actions.actions():
            action.setChecked(action.data() == name)
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, name)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.may_discard("closing"):
            event.ignore()  # the user cancelled, or saving failed: stay open
            return
        save_layout(self, self.store)
        self.panel.save_state(self.store)
        self.store.sync()
        self.engine_stopping.emit()
        if self.worker is not None:
            self.worker.cancel_all()
            self.worker.shutdown()
        if self.mercury is not None:
            self.mercury.shutdown()
        self.downloads.shutdown()  # cancelled: their parts stay for the next start to resume
        super().closeEvent(event)

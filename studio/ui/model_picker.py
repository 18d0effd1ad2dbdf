"""Choosing a model: a catalog entry, a diffusers folder or a .safetensors file.

Whether a model is present is checked as soon as it is chosen (reading a few
JSON files, never torch), so a missing model is a message next to the picker
with what to do, not a failed job later. With the window's downloads attached
(`set_downloads`), a catalog model that is not here is one click away: the
message offers Download, shows its progress, and the picker re-reads the model
when it arrives.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..canvas.icons import drawn_icon, round_pen
from ..engine.byte_sizes import size_text
from ..engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL, Kind, ModelDefaults
from ..engine.downloads import ModelState, model_state
from ..engine.errors import EngineError
from ..engine.hub_cache import DownloadError, has_partial
from ..engine.resolve import catalog_status, image_model_problem, resolve_model
from .download_jobs import DownloadJobs, DownloadStatus

MAX_RECENT = 8
_SIZE_SPACE = re.compile(r"(?<=\d) (?=[KMG]B\b)")  # the space in "229 KB"


def models_in(folders: list[str]) -> list[str]:
    """Diffusers folders and .safetensors checkpoints directly inside the user's model folders."""
    found = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if (child / "model_index.json").is_file() or child.suffix.lower() == ".safetensors":
                found.append(str(child))
    return found


def describe(spec: str) -> tuple[ModelDefaults | None, str]:
    """The model's defaults and a status line; defaults are None when it is unusable."""
    entry = CATALOG.get(spec)
    if entry is not None and entry.kind is Kind.PIPELINE:
        status = catalog_status(entry)
        if status == "not downloaded":
            return None, (
                f"{entry.title} is not downloaded. Get it with `studio download {entry.name}`, "
                "or choose a folder or file."
            )
        return entry.defaults, entry.title
    try:
        model = resolve_model(spec)
    except EngineError as exc:
        return None, str(exc)
    if problem := image_model_problem(model):
        return None, problem
    return model.defaults, f"{model.architecture.value.upper()} · {model.source.value}"


def download_icon() -> QIcon:
    """An arrow into a tray, in the palette's text colour (a 32-unit square)."""

    def draw(p: QPainter, ink: QColor) -> None:
        p.setPen(round_pen(ink, 2.4))
        p.drawLine(QPointF(16, 4), QPointF(16, 20))
        p.drawPolyline([QPointF(9, 13), QPointF(16, 20), QPointF(23, 13)])
        p.drawPolyline([QPointF(5, 20), QPointF(5, 27), QPointF(27, 27), QPointF(27, 20)])

    return drawn_icon(draw, 32)


class ModelPicker(QWidget):
    model_chosen = Signal(str, object)  # spec, ModelDefaults | None
    models_requested = Signal()  # the Models… button: open the Models dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setEditable(False)
        self.combo.setMinimumContentsLength(10)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self._recent: list[str] = []
        self._defaults: ModelDefaults | None = None  # the chosen model's, None: unusable
        self._library: list[str] = []
        self._server: str | None = None  # the engine server whose models are listed
        self._server_models: dict[str, dict] = {}  # name: what its GET /models says
        self._reading = False  # the server's list is on its way
        self.folder_button = QToolButton()
        self.folder_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.folder_button.setToolTip("Choose a diffusers model folder")
        self.file_button = QToolButton()
        self.file_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
        self.file_button.setToolTip("Choose a single .safetensors checkpoint")
        # An icon like its neighbours: a "Models…" label would squeeze the model's name.
        self.models_button = QToolButton()
        self.models_button.setIcon(download_icon())
        self.models_button.setToolTip("Models… (download, resume and remove catalog models)")
        self.models_button.setAccessibleName("Models…")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("hint")
        self.download_button = QPushButton("Download")
        self.download_bar = QProgressBar()
        self.download_bar.setRange(0, 100)
        self.download_bar.setTextVisible(False)
        self.download_bar.setMaximumHeight(8)
        self._downloads: DownloadJobs | None = None
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.folder_button)
        row.addWidget(self.file_button)
        row.addWidget(self.models_button)
        # Below the message, not beside it: a wrapped label beside a button gets
        # too little height and clips its last line.
        self.download_row = QWidget()
        download = QHBoxLayout(self.download_row)
        download.setContentsMargins(0, 0, 0, 0)
        download.addWidget(self.download_button)
        download.addWidget(self.download_bar, 1)
        download.addStretch()  # the button keeps its size while the bar is hidden
        self.download_row.hide()
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.status)
        column.addWidget(self.download_row)
        self._fill()
        self.combo.activated.connect(self._on_activated)
        self.folder_button.clicked.connect(self._choose_folder)
        self.file_button.clicked.connect(self._choose_file)
        self.models_button.clicked.connect(self.models_requested)
        self.download_button.clicked.connect(self._download_or_cancel)
        self._show_status(self.current_spec())

    def set_server(self, url: str | None, models: list[dict] | None = None) -> None:
        """Lists the image models of the engine server at `url` (None: this
        computer's). Model files and downloads then live on the server, so the
        folder, file and Models… buttons are off; `models` None: still being read."""
        self._server = url
        self._server_models = {str(m["name"]): m for m in models or [] if "name" in m}
        self._reading = url is not None and models is None
        local = url is None
        for button, tip in (
            (self.folder_button, "Choose a diffusers model folder"),
            (self.file_button, "Choose a single .safetensors checkpoint"),
            (self.models_button, "Models… (download, resume and remove catalog models)"),
        ):
            button.setEnabled(local)
            button.setToolTip(tip if local else f"Models live on the server at {url}.")
        self._fill()
        self._show_status(self.current_spec())

    def _fill(self) -> None:
        current = self.current_spec() if self.combo.count() else DEFAULT_IMAGE_MODEL
        self.combo.blockSignals(True)
        self.combo.clear()
        if self._server is not None:
            for name, model in self._server_models.items():
                marker = "  (not downloaded)" if model.get("status") == "not downloaded" else ""
                self.combo.addItem(f"{name}{marker}", name)
            for path in self._recent:
                self.combo.addItem(Path(path).name, path)
                self.combo.setItemData(self.combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
            self.combo.blockSignals(False)
            self._select(current)
            return
        for entry in CATALOG.values():
            if entry.kind is Kind.PIPELINE:
                marker = ""
                if catalog_status(entry) == "not downloaded":
                    partial = entry.hub_id and has_partial(entry.hub_id)
                    marker = "  (partial)" if partial else "  (not downloaded)"
                self.combo.addItem(f"{entry.name}{marker}", entry.name)
        for path in self._library + [p for p in self._recent if p not in self._library]:
            self.combo.addItem(Path(path).name, path)
            self.combo.setItemData(self.combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        self.combo.blockSignals(False)
        self._select(current)

    def _select(self, spec: str) -> None:
        index = self.combo.findData(spec)
        if index < 0:
            self._remember(spec)
            index = self.combo.findData(spec)
        self.combo.setCurrentIndex(max(index, 0))

    def _remember(self, spec: str) -> None:
        if spec in CATALOG or spec in self._library or spec in self._server_models:
            return
        self._recent = [spec, *[p for p in self._recent if p != spec][: MAX_RECENT - 1]]
        self._fill()

    def current_spec(self) -> str:
        return str(self.combo.currentData() or DEFAULT_IMAGE_MODEL)

    def current_defaults(self) -> ModelDefaults | None:
        """The chosen model's defaults (its native size among them) as the engine
        would use them; None when the model is not usable here."""
        return self._defaults

    def recent(self) -> list[str]:
        return list(self._recent)

    def set_recent(self, paths: list[str]) -> None:
        self._recent = [p for p in paths if p][:MAX_RECENT]
        self._fill()

    def set_model_dirs(self, folders: list[str]) -> None:
        """Lists the models found in the user's model folders."""
        self._library = models_in(folders)
        self._fill()

    def set_spec(self, spec: str, apply_defaults: bool = True) -> None:
        self._select(spec)
        defaults = self._show_status(spec)
        self.model_chosen.emit(spec, defaults if apply_defaults else None)

    def _on_activated(self) -> None:
        spec = self.current_spec()
        self.model_chosen.emit(spec, self._show_status(spec))

    def _show_status(self, spec: str) -> ModelDefaults | None:
        if self._server is not None:
            defaults, text, warning = self._on_server(spec, self._server)
            self._defaults = defaults
            self.download_row.hide()
            self._say(text, warning=warning)
            return defaults
        defaults, text = describe(spec)
        self._defaults = defaults
        self.download_row.hide()
        offer = self._offer(spec) if defaults is None else None
        downloading = self._downloads is not None and self._downloads.running(spec)
        self._say(text if offer is None else offer, warning=defaults is None and not downloading)
        return defaults

    def _on_server(self, spec: str, url: str) -> tuple[ModelDefaults | None, str, bool]:
        """The defaults and status line of a model on the server, as it reports it."""
        if self._reading:
            return None, f"Reading the models on {url}…", False
        model = self._server_models.get(spec)
        if model is None:  # a folder or file named there: the server resolves it
            return None, f"{Path(spec).name} on {url}", False
        title = str(model.get("title") or spec)
        if model.get("status") == "not downloaded":
            return (
                None,
                (
                    f"{title} is not downloaded on {url}; download it there "
                    f"(`studio download {spec}`) or choose another model."
                ),
                True,
            )
        entry = CATALOG.get(spec)
        base = entry.defaults if entry is not None else ModelDefaults()
        try:
            width, height = (int(v) for v in model.get("default_size") or (base.width, base.height))
            steps = int(model.get("default_steps") or base.steps)
        except (TypeError, ValueError):
            width, height, steps = base.width, base.height, base.steps
        defaults = replace(base, steps=steps, width=width, height=height)
        status = str(model.get("status") or "ready")
        return defaults, f"{title} · {status} on {url}", False

    def _say(self, text: str, warning: bool) -> None:
        # A size wraps whole: '229 KB' split over two lines read as a bare number.
        self.status.setText(_SIZE_SPACE.sub("\N{NO-BREAK SPACE}", text))
        # The theme's "#hint" grey outranks its [warning] colour (an id is the
        # more specific selector), so a warning is not a hint.
        self.status.setObjectName("" if warning else "hint")
        self.status.setProperty("warning", warning)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    # -- downloads -------------------------------------------------------------------

    def set_downloads(self, jobs: DownloadJobs) -> None:
        """Offers Download for a catalog model that is not here, through `jobs`."""
        self._downloads = jobs
        jobs.started.connect(self._on_download_event)
        jobs.planned.connect(self._on_download_event)  # the size to download is known
        jobs.cancelling.connect(self._on_download_event)
        jobs.progressed.connect(self._on_download_progress)
        jobs.cancelled.connect(self._on_download_event)
        jobs.failed.connect(self._on_download_event)
        jobs.finished.connect(self._on_download_finished)
        jobs.removed.connect(self._on_removed)
        self._show_status(self.current_spec())

    def _offer(self, spec: str) -> str | None:
        """The status line for a catalog model that is not here, when downloads are
        attached (None otherwise), and the Download button set up to match."""
        entry = CATALOG.get(spec)
        jobs = self._downloads
        self.download_bar.hide()
        if jobs is None or entry is None or not entry.hub_id:
            return None
        self.download_row.show()
        if jobs.running(spec):
            cancelling = jobs.is_cancelling(spec)
            self.download_button.setText("Cancelling…" if cancelling else "Cancel")
            self.download_button.setEnabled(not cancelling)
            status = jobs.status(spec)
            self._show_progress(status)
            return f"Downloading {entry.title}… " + (status.text() if status else "")
        try:
            state, _ = model_state(spec)
        except DownloadError as exc:  # an unreadable hub cache
            self.download_row.hide()
            return str(exc)
        self.download_button.setEnabled(True)
        self.download_button.setText("Resume" if state is ModelState.PARTIAL else "Download")
        total = jobs.planned_total(spec)
        if total is None:
            jobs.measure([spec])  # the size follows (planned)
        size = f" ({size_text(total)})" if total else ""
        error = jobs.error(spec)
        if error:
            return error
        if state is ModelState.PARTIAL:
            # The planned total is the whole model, not what is left of it.
            rest = f" of its {size_text(total)}" if total else ""
            return f"{entry.title} is partly downloaded; Resume fetches the rest{rest}."
        return (
            f"{entry.title} is not downloaded; Download fetches it{size} "
            "(or choose a folder or file)."
        )

    def _show_progress(self, status: DownloadStatus | None) -> None:
        self.download_bar.setVisible(True)
        self.download_bar.setValue(0 if status is None else status.percent)

    def _download_or_cancel(self) -> None:
        spec = self.current_spec()
        if self._downloads is None:
            return
        if self._downloads.running(spec):
            self._downloads.cancel(spec)
        else:
            self._downloads.start(spec)

    def _on_download_event(self, name: str, *_args: object) -> None:
        if name == self.current_spec():
            self._show_status(name)

    def _on_download_progress(self, name: str, status: DownloadStatus) -> None:
        entry = CATALOG.get(name)
        if entry is not None and name == self.current_spec():
            self._show_progress(status)
            self._say(f"Downloading {entry.title}… {status.text()}", warning=False)

    def _on_download_finished(self, name: str) -> None:
        self._fill()  # its "(not downloaded)" marker goes
        if name == self.current_spec():
            self.set_spec(name)  # usable now: its defaults apply, Generate works

    def _on_removed(self, name: str, _freed: int) -> None:
        self._fill()
        if name == self.current_spec():
            self.set_spec(name, apply_defaults=False)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder")
        if folder:
            self.set_spec(folder)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a checkpoint", "", "Safetensors checkpoints (*.safetensors)"
        )
        if path:
            self.set_spec(path)

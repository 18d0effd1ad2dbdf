"""Choosing a model: a catalog entry, a diffusers folder or a .safetensors file.

Whether a model is present is checked as soon as it is chosen (reading a few
JSON files, never torch), so a missing model is a message next to the picker
with what to do, not a failed job later.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL, Kind, ModelDefaults
from ..engine.errors import EngineError
from ..engine.resolve import catalog_status, resolve_model

MAX_RECENT = 8


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
    if entry is not None:
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
    return model.defaults, f"{model.architecture.value.upper()} · {model.source.value}"


class ModelPicker(QWidget):
    model_chosen = Signal(str, object)  # spec, ModelDefaults | None

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
        self.folder_button = QToolButton()
        self.folder_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.folder_button.setToolTip("Choose a diffusers model folder")
        self.file_button = QToolButton()
        self.file_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
        self.file_button.setToolTip("Choose a single .safetensors checkpoint")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("hint")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.folder_button)
        row.addWidget(self.file_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.status)
        self._fill()
        self.combo.activated.connect(self._on_activated)
        self.folder_button.clicked.connect(self._choose_folder)
        self.file_button.clicked.connect(self._choose_file)
        self._show_status(self.current_spec())

    def _fill(self) -> None:
        current = self.current_spec() if self.combo.count() else DEFAULT_IMAGE_MODEL
        self.combo.blockSignals(True)
        self.combo.clear()
        for entry in CATALOG.values():
            if entry.kind is Kind.PIPELINE:
                marker = "" if catalog_status(entry) != "not downloaded" else "  (not downloaded)"
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
        if spec in CATALOG or spec in self._library:
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
        defaults, text = describe(spec)
        self._defaults = defaults
        self.status.setText(text)
        self.status.setProperty("warning", defaults is None)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        return defaults

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

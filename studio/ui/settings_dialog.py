"""Preferences: model folders, device and memory options, output folder, look."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.options import DEVICES, DTYPES
from .settings_store import AppPreferences

_DEVICE_LABELS = {
    "auto": "Automatic (CUDA, then Apple GPU, then CPU)",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
    "cpu": "CPU",
}
_DTYPE_LABELS = {
    "auto": "Automatic (float16 on GPUs, float32 on the CPU)",
    "float16": "float16 (GPUs only)",
    "bfloat16": "bfloat16",
    "float32": "float32",
}


class SettingsDialog(QDialog):
    def __init__(self, prefs: AppPreferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._prefs = prefs

        self.folders = QListWidget()
        self.folders.addItems(prefs.model_dirs)
        self.folders.setMaximumHeight(90)
        add = QPushButton("Add folder…")
        remove = QPushButton("Remove")
        add.clicked.connect(self._add_folder)
        remove.clicked.connect(lambda: self.folders.takeItem(self.folders.currentRow()))
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(add)
        folder_buttons.addWidget(remove)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)
        models = QGroupBox("Model folders (a model's folder name can then be typed as its name)")
        models.setLayout(folder_row)

        self.device = QComboBox()
        for device in DEVICES:
            self.device.addItem(_DEVICE_LABELS[device], device)
        self.device.setCurrentIndex(self.device.findData(prefs.device))
        self.dtype = QComboBox()
        for dtype in DTYPES:
            self.dtype.addItem(_DTYPE_LABELS[dtype], dtype)
        self.dtype.setCurrentIndex(self.dtype.findData(prefs.dtype))
        self.attention_slicing = QCheckBox("Attention slicing (less memory, a little slower)")
        self.attention_slicing.setChecked(prefs.attention_slicing)
        self.vae_tiling = QCheckBox("VAE tiling (decode large images in tiles)")
        self.vae_tiling.setChecked(prefs.vae_tiling)
        self.cpu_offload = QCheckBox("Model CPU offload (CUDA: keep idle parts in RAM)")
        self.cpu_offload.setChecked(prefs.cpu_offload)
        self.allow_pickle = QCheckBox(
            "Allow .ckpt/.pt checkpoints (they can run code: trusted files only)"
        )
        self.allow_pickle.setChecked(prefs.allow_pickle)
        engine = QGroupBox("Device and memory")
        ef = QFormLayout(engine)
        ef.addRow("Device", self.device)
        ef.addRow("Precision", self.dtype)
        for box in (self.attention_slicing, self.vae_tiling, self.cpu_offload, self.allow_pickle):
            ef.addRow(box)

        self.output_dir = QLineEdit(prefs.output_dir)
        self.output_dir.setPlaceholderText(str(prefs.outputs_path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_output)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output_dir, 1)
        out_row.addWidget(browse)
        self.theme = QComboBox()
        self.theme.addItem("Dark", "dark")
        self.theme.addItem("Light", "light")
        self.theme.setCurrentIndex(max(self.theme.findData(prefs.theme), 0))
        self.place_results = QCheckBox("Put each result on the canvas (Ctrl+Z takes it back)")
        self.place_results.setChecked(prefs.place_results)
        general = QGroupBox("Output and look")
        gf = QFormLayout(general)
        gf.addRow("Output folder", out_row)
        gf.addRow("Theme", self.theme)
        gf.addRow(self.place_results)

        note = QLabel("Device and memory changes apply to the next job once the queue is idle.")
        note.setObjectName("hint")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        for widget in (models, engine, general, note, buttons):
            column.addWidget(widget)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.folders.addItem(folder)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the output folder")
        if folder:
            self.output_dir.setText(folder)

    def preferences(self) -> AppPreferences:
        return replace(
            self._prefs,
            model_dirs=[self.folders.item(i).text() for i in range(self.folders.count())],
            device=self.device.currentData(),
            dtype=self.dtype.currentData(),
            attention_slicing=self.attention_slicing.isChecked(),
            vae_tiling=self.vae_tiling.isChecked(),
            cpu_offload=self.cpu_offload.isChecked(),
            allow_pickle=self.allow_pickle.isChecked(),
            output_dir=self.output_dir.text().strip(),
            theme=self.theme.currentData(),
            place_results=self.place_results.isChecked(),
        )

"""Preferences: model folders, device and memory options, output folder, look;
and the services: result cache, watermark, safety filter, the local API."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..engine.options import DEVICES, DTYPES
from ..engine.safety import DEFAULT_KEYWORDS, image_checker_status, parse_keywords
from ..engine.watermark import MAX_FONT, MAX_TEXT, POSITIONS
from .settings_store import AppPreferences
from .theme import THEMES

# Each choice: a label short enough to read whole in the dialog, and what it
# means in full, shown as the item's and the box's tooltip.
_DEVICE_LABELS = {
    "auto": ("Automatic", "CUDA when there is an NVIDIA GPU, else an Apple GPU, else the CPU"),
    "cuda": ("NVIDIA GPU (CUDA)", "Run on the first CUDA device"),
    "mps": ("Apple GPU (MPS)", "Run on the Apple-silicon GPU"),
    "cpu": ("CPU", "Run on the processor"),
}
_SAFETY_LABELS = {
    "off": ("Off", "Prompts are not checked"),
    "normal": ("Normal", "Flagged prompts get a protective negative prompt"),
    "strict": ("Strict", "Flagged prompts are refused"),
}
_DTYPE_LABELS = {
    "auto": ("Automatic", "float16 on GPUs; on the CPU float32, or bfloat16 on the fast CPU path"),
    "float16": ("float16 (GPUs only)", "Half precision: fast on GPUs, very slow on CPUs"),
    "bfloat16": ("bfloat16", "Brain float: fast where the hardware has it natively"),
    "float32": ("float32", "Full precision: everywhere, slowest"),
}
_FAST_CPU_LABELS = {
    "auto": (
        "Automatic (large models)",
        "bfloat16 on CPUs with native bf16, for models with a UNet of 100 M parameters or more",
    ),
    "on": ("On", "bfloat16 for every model, on CPUs with native bf16"),
    "off": ("Off (float32)", "Always float32"),
}


def _choice_box(choices: dict[str, tuple[str, str]], current: str) -> QComboBox:
    """A combo box of `choices` (value -> (label, explanation)) showing `current`."""
    box = QComboBox()
    for value, (label, tip) in choices.items():
        box.addItem(label, value)
        box.setItemData(box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    box.currentIndexChanged.connect(
        lambda index: box.setToolTip(box.itemData(index, Qt.ItemDataRole.ToolTipRole))
    )
    box.setCurrentIndex(max(box.findData(current), 0))
    box.setToolTip(box.itemData(box.currentIndex(), Qt.ItemDataRole.ToolTipRole))
    return box


def _scrolling(page: QWidget) -> QScrollArea:
    """A tab page that scrolls rather than squeezing its wrapped text into
    fewer lines than it needs (a tab's height is the tallest page's controls)."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    needed = page.minimumSizeHint()
    area.setMinimumSize(
        needed.width() + area.verticalScrollBar().sizeHint().width(), needed.height()
    )
    return area


def _browse_row(edit: QLineEdit, on_browse) -> QHBoxLayout:
    """A path field with its Browse… button."""
    browse = QPushButton("Browse…")
    browse.clicked.connect(on_browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return row


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

        self.device = _choice_box({d: _DEVICE_LABELS[d] for d in DEVICES}, prefs.device)
        self.dtype = _choice_box({d: _DTYPE_LABELS[d] for d in DTYPES}, prefs.dtype)
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
        speed = self._speed_group(prefs)

        self.output_dir = QLineEdit(prefs.output_dir)
        self.output_dir.setPlaceholderText(str(prefs.outputs_path()))
        out_row = _browse_row(self.output_dir, self._choose_output)
        self.theme = QComboBox()
        for name, label in THEMES.items():
            self.theme.addItem(label, name)
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
        first = QWidget()
        first_column = QVBoxLayout(first)
        for widget in (models, engine, speed, general, note):
            first_column.addWidget(widget)
        self.tabs = QTabWidget()
        self.tabs.addTab(_scrolling(first), "General")
        self.tabs.addTab(_scrolling(self._services_page(prefs)), "Cache, watermark and safety")
        column = QVBoxLayout(self)
        column.addWidget(self.tabs)
        column.addWidget(buttons)

    def _services_page(self, prefs: AppPreferences) -> QWidget:
        self.cache = QCheckBox("Answer a repeated job (same settings and seed) from the cache")
        self.cache.setChecked(prefs.cache)
        self.cache_max_mb = QSpinBox()
        self.cache_max_mb.setRange(1, 1_000_000)
        self.cache_max_mb.setSuffix(" MB")
        self.cache_max_mb.setValue(prefs.cache_max_mb)
        cache = QGroupBox("Result cache")
        cf = QFormLayout(cache)
        cf.addRow(self.cache)
        cf.addRow("Size limit (least recently used go first)", self.cache_max_mb)

        self.watermark = QGroupBox("Visible watermark on every image")
        self.watermark.setCheckable(True)
        self.watermark.setChecked(prefs.watermark)
        self.watermark_text = QLineEdit(prefs.watermark_text)
        self.watermark_text.setMaxLength(MAX_TEXT)
        self.watermark_position = QComboBox()
        for position in POSITIONS:
            self.watermark_position.addItem(position.replace("-", " ").capitalize(), position)
        self.watermark_position.setCurrentIndex(
            max(self.watermark_position.findData(prefs.watermark_position), 0)
        )
        self.watermark_opacity = QSpinBox()
        self.watermark_opacity.setRange(0, 100)
        self.watermark_opacity.setSuffix(" %")
        self.watermark_opacity.setValue(round(prefs.watermark_opacity * 100))
        self.watermark_size = QSpinBox()
        self.watermark_size.setRange(0, MAX_FONT)
        self.watermark_size.setSpecialValueText("Automatic")
        self.watermark_size.setSuffix(" px")
        self.watermark_size.setValue(prefs.watermark_font_size)
        self.watermark_margin = QSpinBox()
        self.watermark_margin.setRange(0, 1024)
        self.watermark_margin.setSuffix(" px")
        self.watermark_margin.setValue(prefs.watermark_margin)
        self.watermark_color = QPushButton()
        self._set_color(prefs.watermark_color)
        self.watermark_color.clicked.connect(self._choose_color)
        wf = QFormLayout(self.watermark)
        wf.addRow("Text", self.watermark_text)
        wf.addRow("Position", self.watermark_position)
        wf.addRow("Opacity", self.watermark_opacity)
        wf.addRow("Font size", self.watermark_size)
        wf.addRow("Colour", self.watermark_color)
        wf.addRow("Margin", self.watermark_margin)

        self.safety_mode = _choice_box(_SAFETY_LABELS, prefs.safety_mode)
        self.safety_keywords = QPlainTextEdit("\n".join(prefs.safety_keywords))
        self.safety_keywords.setMaximumHeight(110)
        self.safety_keywords.setToolTip(
            "One word or phrase per line; matched as whole words, ignoring case and plurals."
        )
        restore = QPushButton("Restore the built-in list")
        restore.clicked.connect(
            lambda: self.safety_keywords.setPlainText("\n".join(DEFAULT_KEYWORDS))
        )
        available, status = image_checker_status()
        self.image_checker = QCheckBox("Check images with the Stable Diffusion safety checker")
        self.image_checker.setChecked(prefs.image_checker and available)
        self.image_checker.setEnabled(available)
        self.image_checker_status = QLabel(status)
        self.image_checker_status.setWordWrap(True)
        self.image_checker_status.setObjectName("hint")
        safety = QGroupBox("Safety filter")
        sf = QFormLayout(safety)
        sf.addRow("Prompt filter", self.safety_mode)
        sf.addRow("Keywords", self.safety_keywords)
        sf.addRow("", restore)
        sf.addRow(self.image_checker)
        sf.addRow(self.image_checker_status)

        self.batch_megapixels = QDoubleSpinBox()
        self.batch_megapixels.setRange(0.1, 64.0)
        self.batch_megapixels.setDecimals(1)
        self.batch_megapixels.setSuffix(" MP per pipeline call")
        self.batch_megapixels.setValue(prefs.batch_megapixels)
        self.api_server = QCheckBox("Serve the HTTP API on this machine (127.0.0.1) while open")
        self.api_server.setChecked(prefs.api_server)
        self.api_port = QSpinBox()
        self.api_port.setRange(1, 65535)
        self.api_port.setValue(prefs.api_port)
        service = QGroupBox("Batches and the local API")
        bf = QFormLayout(service)
        bf.addRow("Batch prompts together up to", self.batch_megapixels)
        bf.addRow(self.api_server)
        bf.addRow("Port", self.api_port)

        page = QWidget()
        column = QVBoxLayout(page)
        for widget in (cache, self.watermark, safety, service):
            column.addWidget(widget)
        column.addStretch(1)
        return page

    def _set_color(self, color: str) -> None:
        self._color = QColor(color).name() if QColor(color).isValid() else "#ffffff"
        self.watermark_color.setText(self._color)
        swatch = QPixmap(22, 14)  # the colour itself, outlined so white shows on white
        swatch.fill(QColor(self._color))
        outline = QPainter(swatch)
        outline.setPen(QColor("#808080"))
        outline.drawRect(swatch.rect().adjusted(0, 0, -1, -1))
        outline.end()
        self.watermark_color.setIcon(QIcon(swatch))
        self.watermark_color.setIconSize(swatch.size())

    def _choose_color(self) -> None:
        chosen = QColorDialog.getColor(QColor(self._color), self, "Watermark colour")
        if chosen.isValid():
            self._set_color(chosen.name())

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.folders.addItem(folder)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the output folder")
        if folder:
            self.output_dir.setText(folder)

    def _speed_group(self, prefs: AppPreferences) -> QGroupBox:
        self.fast_cpu = _choice_box(_FAST_CPU_LABELS, prefs.fast_cpu)
        fast_label = QLabel("Fast CPU path")
        fast_label.setToolTip(
            "bfloat16 and channels-last, with Precision on Automatic, on CPUs with native "
            "bf16 (float32 stays elsewhere: there bf16 would be slower). Automatic uses it for "
            "models with a UNet of 100 M parameters or more — SD 1.5/2.1, SD-Turbo, SDXL: about "
            "2× faster per step — and not for small ones such as the demo, which it slows."
        )
        self.tiny_vae = QLineEdit(prefs.tiny_vae)
        self.tiny_vae.setPlaceholderText("off (e.g. madebyollin/taesd)")
        self.tiny_vae.setToolTip(
            "A TAESD AutoencoderTiny folder, or its hub id if it is in the local cache: "
            "decodes many times faster, slightly softer."
        )
        tiny_row = _browse_row(self.tiny_vae, self._choose_tiny_vae)
        self.compile = QCheckBox("Compile the UNet with torch.compile (the first image is slow)")
        self.compile.setChecked(prefs.compile)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("Automatic (one per core)")
        self.threads.setValue(prefs.threads)
        group = QGroupBox("Speed")
        form = QFormLayout(group)
        form.addRow(fast_label, self.fast_cpu)
        form.addRow("Tiny decoder", tiny_row)
        form.addRow(self.compile)
        form.addRow("CPU threads", self.threads)
        return group

    def _choose_tiny_vae(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a TAESD (AutoencoderTiny) folder")
        if folder:
            self.tiny_vae.setText(folder)

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
            fast_cpu=self.fast_cpu.currentData(),
            tiny_vae=self.tiny_vae.text().strip(),
            compile=self.compile.isChecked(),
            threads=self.threads.value(),
            output_dir=self.output_dir.text().strip(),
            theme=self.theme.currentData(),
            place_results=self.place_results.isChecked(),
            cache=self.cache.isChecked(),
            cache_max_mb=self.cache_max_mb.value(),
            safety_mode=self.safety_mode.currentData(),
            safety_keywords=list(parse_keywords(self.safety_keywords.toPlainText())),
            # Kept as the user set it while the checker is absent (the box is disabled).
            image_checker=self.image_checker.isChecked()
            if self.image_checker.isEnabled()
            else self._prefs.image_checker,
            watermark=self.watermark.isChecked(),
            watermark_text=self.watermark_text.text().strip() or self._prefs.watermark_text,
            watermark_position=self.watermark_position.currentData(),
            watermark_opacity=self.watermark_opacity.value() / 100,
            watermark_font_size=self.watermark_size.value(),
            watermark_color=self._color,
            watermark_margin=self.watermark_margin.value(),
            batch_megapixels=self.batch_megapixels.value(),
            api_server=self.api_server.isChecked(),
            api_port=self.api_port.value(),
        )

"""The generation panel: prompt, mode, model and every sampling setting.

The panel owns the values; `fields()` reads them as a plain request (without
images: the window adds those from the canvas), `apply_request()` restores
them from one (history, a dropped PNG). It knows nothing of the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, QSettings, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.batch import read_prompts
from ..engine.models import CATALOG, DEFAULT_IMAGE_MODEL
from ..engine.request import (
    MAX_BATCH,
    MAX_SEED,
    MAX_STEPS,
    SCHEDULERS,
    GenerationRequest,
    InpaintContext,
    Mode,
)
from .icons import dice_icon, lock_icon
from .model_picker import ModelPicker
from .settings_store import read_bool, read_int, read_list

MODE_LABELS = {
    Mode.TXT2IMG: "Text to image",
    Mode.IMG2IMG: "Image to image",
    Mode.INPAINT: "Inpaint (masked area)",
    Mode.CONTROLNET_CANNY: "ControlNet canny (follow edges)",
}
SCHEDULER_LABELS = {
    "euler": "Euler",
    "euler-a": "Euler a",
    "dpm++2m": "DPM++ 2M",
    "dpm++2m-karras": "DPM++ 2M Karras",
    "ddim": "DDIM",
    "lcm": "LCM",
}


PROMPT_HINT = "Describe the picture…  (Ctrl+Enter generates)"
COMBO_MIN_CHARS = 10  # a combo box's share of the dock's width, in characters


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt box; Ctrl+Enter belongs to the window (Generate)."""

    def __init__(self, placeholder: str, lines: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        height = self.fontMetrics().lineSpacing() * lines + 14
        self.setFixedHeight(height)


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setAccelerated(True)
    return box


def _dspin(low: float, high: float, value: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setValue(value)
    return box


class GenerationPanel(QWidget):
    generate_requested = Signal()
    stop_requested = Signal()
    mode_changed = Signal(str)
    canny_changed = Signal(int, int)
    model_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.last_seed: int | None = None
        self._canvas_size = (512, 512)

        self.prompt = PromptEdit(PROMPT_HINT, 4)
        self.negative = PromptEdit("What to avoid (negative prompt)", 2)
        self.per_line = QCheckBox("One prompt per line (a batch)")
        self.per_line.setToolTip(
            "Each line of the prompt box becomes its own image; prompts that fit in memory "
            "run together in one pass"
        )
        self.mode = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode.addItem(label, mode.value)
        self.model = ModelPicker()
        self.scheduler = QComboBox()
        self.scheduler.addItem("Model default", None)
        for scheduler_id in SCHEDULERS:
            self.scheduler.addItem(SCHEDULER_LABELS[scheduler_id], scheduler_id)
        self.steps = _spin(1, MAX_STEPS, 25)
        self.guidance = _dspin(0.0, 30.0, 7.0, 0.5, 1)
        self.strength = _dspin(0.01, 1.0, 0.75, 0.05)
        self.width_box = _spin(64, 4096, 512, 8, " px")
        self.height_box = _spin(64, 4096, 512, 8, " px")
        self.seed = QLineEdit()
        self.seed.setPlaceholderText("random")
        # QIntValidator is 32-bit but seeds go to 2^64: allow digits, range-check on read.
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,20}")))
        self.dice = QToolButton()
        self.dice.setIcon(dice_icon())
        self.dice.setToolTip("Random seed for every image")
        self.lock = QToolButton()
        self.lock.setIcon(lock_icon())
        self.lock.setCheckable(True)
        self.lock.setToolTip("Lock the seed (fills in the last seed used)")
        self.batch = _spin(1, MAX_BATCH, 1)
        self.mask_blur = _spin(0, 256, 4, 1, " px")
        self.inpaint_context = QComboBox()
        self.inpaint_context.addItem("Whole picture", InpaintContext.WHOLE.value)
        self.inpaint_context.addItem("Only masked area (more detail)", InpaintContext.MASKED.value)
        self.padding = _spin(0, 1024, 32, 8, " px")
        self.canny_low = _spin(0, 255, 100)
        self.canny_high = _spin(0, 255, 200)
        self.control_scale = _dspin(0.0, 2.0, 1.0, 0.05)
        self.last_seed_label = QLabel("")
        self.last_seed_label.setObjectName("hint")

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Generate (Ctrl+Enter); further clicks queue more jobs")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the running job at its next step (Esc)")
        self.stop_button.setEnabled(False)

        self._build_layout()
        self._connect()
        self._update_mode_fields()
        # A first start (no saved panel) gets the default model's own steps and size.
        self.model.set_spec(self.model.current_spec())

    # -- layout --------------------------------------------------------------------

    def _build_layout(self) -> None:
        prompts = QGroupBox("Prompt")
        form = QVBoxLayout(prompts)
        form.addWidget(self.prompt)
        form.addWidget(self.negative)
        form.addWidget(self.per_line)

        main = QGroupBox("Generation")
        f = QFormLayout(main)
        f.addRow("Mode", self.mode)
        f.addRow("Model", self.model)
        f.addRow("Sampler", self.scheduler)
        f.addRow("Steps", self.steps)
        f.addRow("Guidance (CFG)", self.guidance)
        self._strength_row = QLabel("Strength")
        f.addRow(self._strength_row, self.strength)
        size = QHBoxLayout()
        size.addWidget(self.width_box)
        size.addWidget(QLabel("×"))
        size.addWidget(self.height_box)
        f.addRow("Size", size)
        seed = QHBoxLayout()
        seed.addWidget(self.seed, 1)
        seed.addWidget(self.dice)
        seed.addWidget(self.lock)
        f.addRow("Seed", seed)
        f.addRow("", self.last_seed_label)
        self.last_seed_label.hide()
        f.addRow("Batch", self.batch)

        self.inpaint_group = QGroupBox("Inpainting")
        fi = QFormLayout(self.inpaint_group)
        fi.addRow("Area", self.inpaint_context)
        fi.addRow("Padding", self.padding)
        fi.addRow("Mask feather", self.mask_blur)

        self.control_group = QGroupBox("ControlNet canny")
        fc = QFormLayout(self.control_group)
        fc.addRow("Low threshold", self.canny_low)
        fc.addRow("High threshold", self.canny_high)
        fc.addRow("Control strength", self.control_scale)
        self.edge_preview = QLabel()
        self.edge_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.edge_preview.setMinimumHeight(140)
        self.edge_preview.setObjectName("edgePreview")
        fc.addRow(self.edge_preview)

        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        for group in (prompts, main, self.inpaint_group, self.control_group):
            column.addWidget(group)
        column.addStretch(1)
        for combo in (self.mode, self.scheduler, self.inpaint_context):
            # Long entries elide instead of widening the dock past the canvas's share.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(COMBO_MIN_CHARS)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Never narrower than the fields: a narrow dock clipped them behind a
        # horizontal scroll bar. Scrolling is vertical only.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(
            body.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.stop_button, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(scroll, 1)
        outer.addLayout(buttons)

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.canny_low.valueChanged.connect(self._on_canny)
        self.canny_high.valueChanged.connect(self._on_canny)
        self.dice.clicked.connect(self._random_seed)
        self.lock.toggled.connect(self._on_lock)
        self.model.model_chosen.connect(self._on_model)

    # -- behaviour -----------------------------------------------------------------

    def current_mode(self) -> Mode:
        return Mode(self.mode.currentData())

    def _on_mode(self) -> None:
        self._update_mode_fields()
        self.mode_changed.emit(self.current_mode().value)

    def _update_mode_fields(self) -> None:
        mode = self.current_mode()
        uses_init = mode in (Mode.IMG2IMG, Mode.INPAINT)
        self.strength.setVisible(uses_init)
        self._strength_row.setVisible(uses_init)
        self.inpaint_group.setVisible(mode is Mode.INPAINT)
        self.control_group.setVisible(mode is Mode.CONTROLNET_CANNY)
        # Other modes work on the canvas, so the canvas sets the size.
        free_size = mode is Mode.TXT2IMG
        for box in (self.width_box, self.height_box):
            box.setEnabled(free_size)
            box.setToolTip("" if free_size else "This mode uses the canvas size")
        if not free_size:
            self.width_box.setValue(self._canvas_size[0])
            self.height_box.setValue(self._canvas_size[1])

    def set_canvas_size(self, width: int, height: int) -> None:
        self._canvas_size = (width, height)
        self._update_mode_fields()

    def _on_canny(self) -> None:
        self.canny_changed.emit(self.canny_low.value(), self.canny_high.value())

    def _random_seed(self) -> None:
        self.lock.setChecked(False)
        self.seed.clear()

    def _on_lock(self, locked: bool) -> None:
        if locked and not self.seed.text().strip() and self.last_seed is not None:
            self.seed.setText(str(self.last_seed))
        self.seed.setReadOnly(locked)

    def _on_model(self, spec: str, defaults: object) -> None:
        entry = CATALOG.get(spec)
        example = entry.example_prompt if entry is not None else None
        self.prompt.setPlaceholderText(
            f"e.g. {example}  (Ctrl+Enter generates)" if example else PROMPT_HINT
        )
        if defaults is not None:
            self.steps.setValue(defaults.steps)
            self.guidance.setValue(defaults.guidance_scale)
            index = self.scheduler.findData(defaults.scheduler)
            self.scheduler.setCurrentIndex(max(index, 0))
            if self.current_mode() is Mode.TXT2IMG:
                self.width_box.setValue(defaults.width)
                self.height_box.setValue(defaults.height)
        self.model_changed.emit(spec)

    def note_seed(self, seed: int) -> None:
        """The seed the last job used, so it can be locked and reused."""
        self.last_seed = seed
        self.last_seed_label.setText(f"Last seed: {seed}")
        self.last_seed_label.show()

    def set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.generate_button.setText("Queue another" if busy else "Generate")

    def set_edge_preview(self, pixmap) -> None:
        self.edge_preview.setPixmap(pixmap)

    # -- reading and restoring -------------------------------------------------------

    def batch_prompts(self) -> list[str]:
        """The prompt box's lines when "one prompt per line" is on, else []."""
        if not self.per_line.isChecked():
            return []
        return read_prompts(self.prompt.toPlainText().splitlines())

    def seed_value(self) -> int | None:
        text = self.seed.text().strip()
        if not text:
            return None
        if not text.isdigit() or int(text) > MAX_SEED:
            # validation reports it with the same sentence as every other front end
            return -1
        return int(text)

    def fields(self) -> GenerationRequest:
        """The panel's settings as a request without images."""
        return GenerationRequest(
            prompt=self.prompt.toPlainText().strip(),
            negative_prompt=self.negative.toPlainText().strip(),
            mode=self.current_mode(),
            model=self.model.current_spec(),
            scheduler=self.scheduler.currentData(),
            steps=self.steps.value(),
            guidance_scale=round(self.guidance.value(), 2),
            strength=round(self.strength.value(), 2),
            width=self.width_box.value(),
            height=self.height_box.value(),
            seed=self.seed_value(),
            batch_count=self.batch.value(),
            mask_blur=self.mask_blur.value(),
            canny_low=self.canny_low.value(),
            canny_high=self.canny_high.value(),
            controlnet_scale=round(self.control_scale.value(), 2),
            inpaint_context=InpaintContext(self.inpaint_context.currentData()),
            inpaint_padding=self.padding.value(),
        )

    def apply_request(self, r: GenerationRequest, *, with_seed: bool = True) -> None:
        self.prompt.setPlainText(r.prompt)
        self.negative.setPlainText(r.negative_prompt)
        self.mode.setCurrentIndex(max(self.mode.findData(Mode(r.mode).value), 0))
        self.model.set_spec(r.model, apply_defaults=False)
        self.scheduler.setCurrentIndex(max(self.scheduler.findData(r.scheduler), 0))
        if r.steps is not None:
            self.steps.setValue(r.steps)
        if r.guidance_scale is not None:
            self.guidance.setValue(r.guidance_scale)
        self.strength.setValue(r.strength)
        if r.width is not None and r.height is not None and self.current_mode() is Mode.TXT2IMG:
            self.width_box.setValue(r.width)
            self.height_box.setValue(r.height)
        if with_seed and r.seed is not None:
            self.lock.setChecked(False)
            self.seed.setText(str(r.seed))
            self.lock.setChecked(True)
        self.batch.setValue(r.batch_count)
        self.mask_blur.setValue(r.mask_blur)
        self.inpaint_context.setCurrentIndex(
            max(self.inpaint_context.findData(InpaintContext(r.inpaint_context).value), 0)
        )
        self.padding.setValue(r.inpaint_padding)
        self.canny_low.setValue(r.canny_low)
        self.canny_high.setValue(r.canny_high)
        self.control_scale.setValue(r.controlnet_scale)

    # -- persistence ------------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        r = self.fields()
        settings.beginGroup("generation")
        for key, value in (
            ("prompt", r.prompt),
            ("negative", r.negative_prompt),
            ("mode", r.mode.value),
            ("model", r.model),
            ("scheduler", r.scheduler or ""),
            ("steps", r.steps),
            ("guidance", r.guidance_scale),
            ("strength", r.strength),
            ("width", r.width),
            ("height", r.height),
            ("seed", self.seed.text()),
            ("seed_locked", self.lock.isChecked()),
            ("batch", r.batch_count),
            ("mask_blur", r.mask_blur),
            ("inpaint_context", r.inpaint_context.value),
            ("padding", r.inpaint_padding),
            ("canny_low", r.canny_low),
            ("canny_high", r.canny_high),
            ("control_scale", r.controlnet_scale),
            ("recent_models", self.model.recent()),
            ("per_line", self.per_line.isChecked()),
        ):
            settings.setValue(key, value)
        settings.endGroup()

    def load_state(self, settings: QSettings) -> None:
        s = settings
        s.beginGroup("generation")
        try:
            if not s.contains("mode"):
                return
            self.model.set_recent(read_list(s, "recent_models"))
            try:
                mode = Mode(str(s.value("mode")))
            except ValueError:
                mode = Mode.TXT2IMG
            try:
                context = InpaintContext(str(s.value("inpaint_context", "whole")))
            except ValueError:
                context = InpaintContext.WHOLE
            scheduler = str(s.value("scheduler", "")) or None
            request = GenerationRequest(
                prompt=str(s.value("prompt", "")),
                negative_prompt=str(s.value("negative", "")),
                mode=mode,
                model=str(s.value("model", DEFAULT_IMAGE_MODEL)) or DEFAULT_IMAGE_MODEL,
                scheduler=scheduler if scheduler in SCHEDULERS else None,
                steps=read_int(s, "steps", 25),
                guidance_scale=float(s.value("guidance", 7.0)),
                strength=float(s.value("strength", 0.75)),
                width=read_int(s, "width", 512),
                height=read_int(s, "height", 512),
                batch_count=read_int(s, "batch", 1),
                mask_blur=read_int(s, "mask_blur", 4),
                inpaint_context=context,
                inpaint_padding=read_int(s, "padding", 32),
                canny_low=read_int(s, "canny_low", 100),
                canny_high=read_int(s, "canny_high", 200),
                controlnet_scale=float(s.value("control_scale", 1.0)),
            )
            self.apply_request(request, with_seed=False)
            self.seed.setText(str(s.value("seed", "")))
            self.lock.setChecked(read_bool(s, "seed_locked", False))
            self.per_line.setChecked(read_bool(s, "per_line", False))
        except (TypeError, ValueError):
            pass  # a hand-edited or older settings file: keep the defaults
        finally:
            s.endGroup()

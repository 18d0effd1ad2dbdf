"""The generation panel: prompt, mode, model and every sampling setting.

The panel owns the values; `request()` reads them as a plain request (without
images: the window adds those from the canvas), `apply_request()` restores
them from one (history, a dropped PNG). Its inputs, their ranges, groups and
saved keys come from the request's field declarations (request.py). It knows
nothing of the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, QSettings, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.batch import read_prompts
from ..engine.catalog import CATALOG
from ..engine.request import FIELD, FIELDS, MAX_SEED, GenerationRequest, Mode
from .field_inputs import make_input, read_input, read_setting, saved_value, write_input
from .icons import dice_icon, lock_icon
from .model_picker import ModelPicker
from .settings_store import read_bool, read_list

PROMPT_HINT = "Describe the picture…  (Ctrl+Enter generates)"
# The fields the panel carries; those with inputs of their own are made by the panel.
PANEL_FIELDS = tuple(f for f in FIELDS if f.panel is not None)
_OWN_INPUTS = {"prompt", "negative_prompt", "model", "seed"}
_SIZE = ("width", "height")  # one row; other modes than txt2img take the canvas's size


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt box; Ctrl+Enter belongs to the window (Generate)."""

    def __init__(self, placeholder: str, lines: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        height = self.fontMetrics().lineSpacing() * lines + 14
        self.setFixedHeight(height)


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
        self.model = ModelPicker()
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
        # One input per declared field; each is also an attribute named by its saved
        # key (self.steps, self.guidance, ...), the size boxes self.width_box/height_box.
        self.inputs: dict[str, QWidget] = {
            "prompt": self.prompt,
            "negative_prompt": self.negative,
            "model": self.model,
            "seed": self.seed,
        }
        for f in PANEL_FIELDS:
            if f.name not in _OWN_INPUTS:
                self.inputs[f.name] = make_input(f)
                name = f"{f.panel}_box" if f.name in _SIZE else f.panel
                setattr(self, name, self.inputs[f.name])
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

        self._forms: dict[str, QFormLayout] = {}
        self.groups: dict[str, QGroupBox] = {}
        for f in PANEL_FIELDS:
            if f.name in ("prompt", "negative_prompt", "height"):
                continue
            group = f.spec.panel_group
            if group not in self.groups:
                self.groups[group] = QGroupBox(group)
                self._forms[group] = QFormLayout(self.groups[group])
            form = self._forms[group]
            if f.name == "width":
                size = QHBoxLayout()
                size.addWidget(self.width_box)
                size.addWidget(QLabel("×"))
                size.addWidget(self.height_box)
                form.addRow("Size", size)
            elif f.name == "seed":
                seed = QHBoxLayout()
                seed.addWidget(self.seed, 1)
                seed.addWidget(self.dice)
                seed.addWidget(self.lock)
                form.addRow(f.spec.label, seed)
                form.addRow("", self.last_seed_label)
                self.last_seed_label.hide()
            else:
                form.addRow(f.spec.label, self.inputs[f.name])
        self.inpaint_group = self.groups["Inpainting"]
        self.control_group = self.groups["ControlNet canny"]
        self.edge_preview = QLabel()
        self.edge_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.edge_preview.setMinimumHeight(140)
        self.edge_preview.setObjectName("edgePreview")
        self._forms["ControlNet canny"].addRow(self.edge_preview)

        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        for group in (prompts, *self.groups.values()):
            column.addWidget(group)
        column.addStretch(1)
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
        return Mode(read_input(self.mode, FIELD["mode"]))

    def _on_mode(self) -> None:
        self._update_mode_fields()
        self.mode_changed.emit(self.current_mode().value)

    def _update_mode_fields(self) -> None:
        mode = self.current_mode()
        # A row shows in the modes its field applies to; a group while one of its rows does.
        shown = dict.fromkeys(self.groups, False)
        for f in PANEL_FIELDS:
            if (group := f.spec.panel_group) in self.groups:
                shown[group] = shown[group] or f.applies_to(mode)
                if self._forms[group].indexOf(widget := self.inputs[f.name]) >= 0:
                    self._forms[group].setRowVisible(widget, f.applies_to(mode))
        for name, box in self.groups.items():
            box.setVisible(shown[name])
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

    def request(self) -> GenerationRequest:
        """The panel's settings as a request without images."""
        values = {
            f.name: read_input(self.inputs[f.name], f)
            for f in PANEL_FIELDS
            if f.name not in _OWN_INPUTS
        }
        return GenerationRequest(
            prompt=self.prompt.toPlainText().strip(),
            negative_prompt=self.negative.toPlainText().strip(),
            model=self.model.current_spec(),
            seed=self.seed_value(),
            **values,
        )

    def apply_request(self, r: GenerationRequest, *, with_seed: bool = True) -> None:
        self.prompt.setPlainText(r.prompt)
        self.negative.setPlainText(r.negative_prompt)
        for f in PANEL_FIELDS:  # mode first: it decides whether the size is the panel's
            value = getattr(r, f.name)
            if f.name == "model":
                self.model.set_spec(value, apply_defaults=False)
            elif f.name == "seed":
                if with_seed and value is not None:
                    self.lock.setChecked(False)
                    self.seed.setText(str(value))
                    self.lock.setChecked(True)
            elif f.name in _SIZE and self.current_mode() is not Mode.TXT2IMG:
                continue
            elif f.name not in _OWN_INPUTS:
                write_input(self.inputs[f.name], f, value)

    # -- persistence ------------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        r = self.request()
        settings.beginGroup("generation")
        for f in PANEL_FIELDS:
            value = self.seed.text() if f.name == "seed" else saved_value(getattr(r, f.name))
            settings.setValue(f.panel, value)
        settings.setValue("seed_locked", self.lock.isChecked())
        settings.setValue("recent_models", self.model.recent())
        settings.setValue("per_line", self.per_line.isChecked())
        settings.endGroup()

    def load_state(self, settings: QSettings) -> None:
        s = settings
        s.beginGroup("generation")
        try:
            if not s.contains("mode"):
                return
            self.model.set_recent(read_list(s, "recent_models"))
            shown = self.request()  # what a missing key keeps
            values = {
                f.name: read_setting(s, f.panel, f, getattr(shown, f.name))
                for f in PANEL_FIELDS
                if f.name != "seed"
            }
            self.apply_request(GenerationRequest(**values), with_seed=False)
            self.seed.setText(str(s.value("seed", "")))
            self.lock.setChecked(read_bool(s, "seed_locked", False))
            self.per_line.setChecked(read_bool(s, "per_line", False))
        except (TypeError, ValueError):
            pass  # a hand-edited or older settings file: keep the defaults
        finally:
            s.endGroup()

"""The panel's settings form: server, sampling, reasoning and the API key.

Edits become a new MercurySettings (emitted by `changed`); the key itself is
never held here, only where it came from.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..mercury.keys import GET_KEY_URL, KEY_ENV, KeyLookup, KeySource, env_key_withheld
from ..mercury.settings import (
    BASE_URL_ENV,
    MAX_TOKENS_MAX,
    MAX_TOKENS_MIN,
    REASONING_EFFORTS,
    TEMPERATURE_MAX,
    TEMPERATURE_MIN,
    MercurySettings,
    is_inception,
    supports_reasoning_effort,
)

EFFORT_LABELS = {"": "server default"}  # the others read as themselves
# A key in the environment is meant for Inception; it never leaks to a typed-in server.
_ENV_KEY_WITHHELD = (
    f"{KEY_ENV} is not sent to other servers, by design; set {BASE_URL_ENV} to this "
    "server to use it here, or save a key for it with “Set API key…”."
)


class MercuryOptions(QFrame):
    changed = Signal(object)  # MercurySettings
    set_key_requested = Signal()
    forget_key_requested = Signal()

    def __init__(self, settings: MercurySettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mercuryOptions")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._settings = settings
        self._default_base_url = ""

        self.base_url_edit = QLineEdit(settings.base_url)
        self.base_url_edit.setClearButtonEnabled(True)
        self.base_url_edit.setToolTip(
            "Any OpenAI-compatible server, e.g. a local one at http://localhost:8080/v1. "
            "Empty: INCEPTION_BASE_URL, else Inception's API."
        )
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(TEMPERATURE_MIN, TEMPERATURE_MAX)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setDecimals(2)
        self.temperature_spin.setValue(settings.temperature)
        self.temperature_spin.setToolTip("Mercury accepts 0.5 to 1.0; higher is more varied.")
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(MAX_TOKENS_MIN, MAX_TOKENS_MAX)
        self.max_tokens_spin.setSingleStep(256)
        self.max_tokens_spin.setValue(settings.max_tokens)
        self.max_tokens_spin.setToolTip("The longest answer, in tokens (reasoning included).")
        self.effort_combo = QComboBox()
        for effort in REASONING_EFFORTS:
            self.effort_combo.addItem(EFFORT_LABELS.get(effort, effort), effort)
        self.effort_combo.setCurrentIndex(
            max(0, self.effort_combo.findData(settings.reasoning_effort))
        )
        self.key_label = QLabel()
        self.key_label.setObjectName("hint")
        self.key_label.setWordWrap(True)
        self.key_label.setOpenExternalLinks(True)
        self.set_key_button = QPushButton("Set API key…")
        self.forget_key_button = QPushButton("Forget")
        self.forget_key_button.setToolTip("Remove the key saved in the system keyring")

        key_row = QHBoxLayout()
        key_row.setContentsMargins(0, 0, 0, 0)
        key_row.addWidget(self.set_key_button)
        key_row.addWidget(self.forget_key_button)
        key_row.addStretch(1)
        form = QFormLayout(self)
        form.setContentsMargins(8, 8, 8, 8)
        form.addRow("Base URL", self.base_url_edit)
        form.addRow("Temperature", self.temperature_spin)
        form.addRow("Max tokens", self.max_tokens_spin)
        form.addRow("Reasoning", self.effort_combo)
        form.addRow("API key", key_row)
        form.addRow(self.key_label)

        self.base_url_edit.editingFinished.connect(self._emit)
        self.temperature_spin.valueChanged.connect(self._emit)
        self.max_tokens_spin.valueChanged.connect(self._emit)
        self.effort_combo.currentIndexChanged.connect(self._emit)
        self.set_key_button.clicked.connect(self.set_key_requested)
        self.forget_key_button.clicked.connect(self.forget_key_requested)
        self.update_for_model(settings.model)

    def set_default_base_url(self, url: str) -> None:
        """What an empty base URL means here (the environment's, or Inception's)."""
        self._default_base_url = url
        self.base_url_edit.setPlaceholderText(url)

    def update_for_model(self, model: str) -> None:
        supported = supports_reasoning_effort(model)
        self.effort_combo.setEnabled(supported)
        self.effort_combo.setToolTip(
            "How long the model thinks before answering; “instant” is fastest."
            if supported
            else f"“{model}” does not take a reasoning effort."
        )

    def show_key_status(self, base_url: str, lookup: KeyLookup | None) -> None:
        key = lookup.key if lookup else None
        self.forget_key_button.setEnabled(key is not None and key.source is KeySource.KEYRING)
        if lookup is None:
            text = "Looking for a key…"
        elif key is not None and key.source is KeySource.ENVIRONMENT:
            text = f"Using {KEY_ENV} from the environment."
        elif key is not None:
            text = "Using the key saved in the system keyring for this server."
        elif lookup.problem and not env_key_withheld(base_url):
            text = f"No key: {lookup.problem} Set {KEY_ENV} instead."
        elif lookup.problem:
            text = f"No key: {lookup.problem} {_ENV_KEY_WITHHELD}"
        elif is_inception(base_url):
            link = self.palette().color(QPalette.ColorRole.Link).name()
            text = (
                f'No key yet: <a href="{GET_KEY_URL}" style="color:{link};">'
                "get one from Inception</a>."
            )
        elif env_key_withheld(base_url):
            text = f"No key saved for this server. {_ENV_KEY_WITHHELD}"
        else:
            text = "No key set; local servers usually need none."
        self.key_label.setText(text)

    def _emit(self) -> None:
        self._settings = replace(
            self._settings,
            base_url=self.base_url_edit.text().strip(),
            temperature=round(self.temperature_spin.value(), 2),
            max_tokens=self.max_tokens_spin.value(),
            reasoning_effort=self.effort_combo.currentData() or "",
        )
        self.changed.emit(self._settings)

    def set_settings(self, settings: MercurySettings) -> None:
        """Keeps the fields this form does not edit (model, diffusing) current."""
        self._settings = settings

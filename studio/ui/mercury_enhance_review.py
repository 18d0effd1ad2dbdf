"""Where an enhanced prompt waits for the user to accept or reject it.

While Mercury works the answer streams into the prompt box (in diffusing mode
the user watches it denoise); the result is editable before it is accepted.
Each box says about how many CLIP tokens it takes, and warns past 75.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..mercury.enhance import EnhancedPrompt
from ..mercury.tokens import PROMPT_TOKEN_LIMIT, describe_token_count, estimate_clip_tokens


class MercuryEnhanceReview(QFrame):
    accepted = Signal(str, str)  # prompt, negative prompt
    rejected = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mercuryEnhanceReview")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel("<b>Enhanced prompt</b>")
        self.title.setWordWrap(True)
        self.prompt_edit = _box("Prompt")
        self.prompt_tokens = _hint_label()
        self.negative_edit = _box("Negative prompt")
        self.negative_tokens = _hint_label()
        self.accept_button = QPushButton("Accept")
        self.accept_button.setObjectName("primary")
        self.accept_button.setToolTip("Put both into the image prompt fields")
        self.reject_button = QPushButton("Reject")
        self.accept_button.clicked.connect(self._accept)
        self.reject_button.clicked.connect(self._reject)
        self.prompt_edit.textChanged.connect(self._update_counts)
        self.negative_edit.textChanged.connect(self._update_counts)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.reject_button)
        buttons.addWidget(self.accept_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.prompt_edit)
        layout.addWidget(self.prompt_tokens)
        layout.addWidget(_caption("Negative prompt"))
        layout.addWidget(self.negative_edit)
        layout.addWidget(self.negative_tokens)
        layout.addLayout(buttons)
        self._set_ready(False)
        self.hide()

    def show_working(self, source_prompt: str) -> None:
        self.title.setText(f"<b>Enhancing</b> “{html.escape(_shorten(source_prompt))}”…")
        self.prompt_edit.setReadOnly(True)
        self.prompt_edit.setPlainText("")
        self.negative_edit.setPlainText("")
        self.negative_edit.setReadOnly(True)
        self._set_ready(False)
        self.show()

    def show_progress(self, text: str) -> None:
        self.prompt_edit.setPlainText(text)

    def show_result(self, result: EnhancedPrompt) -> None:
        self.title.setText("<b>Enhanced prompt</b>: edit it if you like, then accept or reject")
        self.prompt_edit.setReadOnly(False)
        self.negative_edit.setReadOnly(False)
        self.prompt_edit.setPlainText(result.prompt)
        self.negative_edit.setPlainText(result.negative_prompt)
        self._set_ready(True)
        self.show()

    def _set_ready(self, ready: bool) -> None:
        # While Mercury works there is nothing to accept; Stop cancels.
        self.accept_button.setEnabled(ready)
        self.accept_button.setVisible(ready)
        self.reject_button.setVisible(ready)
        self.prompt_tokens.setVisible(ready)
        self.negative_tokens.setVisible(ready)
        self._update_counts()

    def _update_counts(self) -> None:
        for edit, label in (
            (self.prompt_edit, self.prompt_tokens),
            (self.negative_edit, self.negative_tokens),
        ):
            text = edit.toPlainText()
            too_long = estimate_clip_tokens(text) > PROMPT_TOKEN_LIMIT
            label.setText(describe_token_count(text))  # too long: says so, in the warning colour
            label.setProperty("warning", too_long)
            label.style().unpolish(label)
            label.style().polish(label)

    def _accept(self) -> None:
        prompt = " ".join(self.prompt_edit.toPlainText().split())
        negative = " ".join(self.negative_edit.toPlainText().split())
        self.hide()
        self.accepted.emit(prompt, negative)

    def _reject(self) -> None:
        self.hide()
        self.rejected.emit()


def _box(name: str) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setAccessibleName(name)
    box.setTabChangesFocus(True)
    box.setFixedHeight(60)
    return box


def _hint_label() -> QLabel:
    label = QLabel()
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    return label


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""The Mercury panel's widgets and layout; the behaviour is in mercury_panel.py."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..mercury.conversation import Conversation
from ..mercury.settings import MercurySettings
from .icons import reload_icon, settings_icon
from .mercury_chat_view import MercuryChatView
from .mercury_enhance_review import MercuryEnhanceReview
from .mercury_options import MercuryOptions
from .message_bar import MessageBar


class MercuryPanelView(QWidget):
    send_requested = Signal()  # Enter in the input
    stop_requested = Signal()  # Esc in the input

    def __init__(
        self,
        settings: MercurySettings,
        conversation: Conversation,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_combo.addItem(settings.model)
        self.model_combo.setToolTip(
            "The model; the list comes from the server (the button beside it reloads it)"
        )
        self.refresh_button = _tool("Reload", "Reload the model list", reload_icon())
        self.options_button = _tool(
            "Settings", "Server, sampling and API key settings", settings_icon()
        )
        self.options_button.setCheckable(True)
        self.options = MercuryOptions(settings)
        self.options.hide()
        self.notice = MessageBar()
        self.chat_view = MercuryChatView(conversation)
        self.review = MercuryEnhanceReview()
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Ask Mercury…  (Enter sends, Shift+Enter: new line)")
        self.input.setFixedHeight(64)
        self.input.setTabChangesFocus(True)
        self.input.installEventFilter(_InputKeys(self))
        self.diffusing_toggle = QCheckBox("Diffusing")
        self.diffusing_toggle.setChecked(settings.diffusing)
        self.diffusing_toggle.setToolTip(
            "Watch Mercury denoise the answer: each update replaces the whole text."
        )
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.use_button = QPushButton("Use as prompt")
        self.use_button.setToolTip("Put the selected text, or the last answer, into the prompt")
        self.enhance_button = QPushButton("Enhance")
        self.enhance_button.setToolTip(
            "Turn the current image prompt into a detailed prompt and a negative prompt"
        )
        self.copy_button = _tool("Copy", "Copy the conversation")
        self.new_chat_button = _tool("New chat", "Start over with an empty conversation")
        self.status_label = QLabel()
        self.status_label.setObjectName("hint")
        self.status_label.setWordWrap(True)
        self.busy = False
        self.set_busy(False)

        top = QHBoxLayout()
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.options_button)
        send_row = QHBoxLayout()
        send_row.addWidget(self.diffusing_toggle)
        send_row.addStretch(1)
        send_row.addWidget(self.send_button)
        tools = QHBoxLayout()
        tools.addWidget(self.use_button)
        tools.addWidget(self.enhance_button)
        tools.addStretch(1)
        tools.addWidget(self.copy_button)
        tools.addWidget(self.new_chat_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.options)
        layout.addWidget(self.notice)
        layout.addWidget(self.chat_view, 1)
        layout.addWidget(self.review)
        layout.addWidget(self.input)
        layout.addLayout(send_row)
        layout.addLayout(tools)
        layout.addWidget(self.status_label)
        self.options_button.toggled.connect(self.options.setVisible)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.send_button.setText("Stop" if busy else "Send")
        self.send_button.setToolTip("Stop the answer (Esc)" if busy else "Send (Enter)")
        self.enhance_button.setEnabled(not busy)

    def show_status(self, text: str, warning: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("warning", warning)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)


class _InputKeys(QObject):
    """Enter sends, Shift+Enter breaks the line, Esc stops the answer.

    It reaches the view through parent(), not an attribute: a child holding a
    Python reference to its parent makes a cycle that the garbage collector
    may tear down in an order that crashes Qt.
    """

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        view = self.parent()
        if not isinstance(view, MercuryPanelView):
            return False
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                return False
            view.send_requested.emit()
            return True
        if key == Qt.Key.Key_Escape and view.busy:  # otherwise Esc is the window's
            view.stop_requested.emit()
            return True
        return False


def _tool(text: str, tip: str, icon: QIcon | None = None) -> QToolButton:
    button = QToolButton()
    button.setText(text)  # shown when there is no icon; read by screen readers
    button.setToolTip(tip)
    if icon is not None:
        button.setIcon(icon)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    return button

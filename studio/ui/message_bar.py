"""A dismissable message line: what went wrong and what to do, or a notice.

Used above the canvas and above the Mercury chat; never a modal dialog."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from .icons import close_icon


class MessageBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The app theme styles message bars by this name and the "level" property.
        self.setObjectName("messageBar")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setOpenExternalLinks(True)
        self.label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction
            | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        close = QToolButton()
        close.setIcon(close_icon())
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._plain = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        """Shows `text` (plain; web addresses become links)."""
        self._plain = text
        self.label.setText(_linkify(text))
        self.setProperty("level", level)
        # The theme colours the bar and its text by this property: restyle both.
        for widget in (self, self.label):
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.show()

    def text(self) -> str:
        """The plain text shown, or "" when hidden."""
        return "" if self.isHidden() else self._plain

    def level(self) -> str:
        return str(self.property("level") or "")


def _linkify(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(
        r"(https?://[^\s<]+[^\s<.,;:)])", r'<a href="\1" style="color:inherit;">\1</a>', escaped
    )

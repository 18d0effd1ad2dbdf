"""A Settings box for a secret kept in the OS keyring: a password field with
Save and Forget, and a status line saying where the secret comes from.

Save and Forget act at once on the keyring (never the settings file, so the
dialog's OK and Cancel do not apply to them), in a worker thread: a locked
keychain may ask to be unlocked and must not freeze the window. Only a save
that succeeded clears the field, so nothing pasted is lost. Subclasses say
what is saved where (hub_token_box.py, server_token.py).
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..keychain import KeyStoreError


@dataclass(frozen=True)
class Outcome:
    text: str  # the status line
    saved: bool  # a save succeeded: the field is cleared
    stored: bool  # the keyring holds a token: there is something to forget


class TokenBox(QGroupBox):
    _done = Signal(object)  # an Outcome, from the worker thread
    thread_name = "token"

    def __init__(
        self, title: str, placeholder: str, forget_tip: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(title, parent)
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setPlaceholderText(placeholder)
        self.save_button = QPushButton("Save")
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip(forget_tip)
        self.status = QLabel("Looking for a token…")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setOpenExternalLinks(True)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.forget_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self._done.connect(self._show)
        self.save_button.clicked.connect(self._save)
        self.field.returnPressed.connect(self._save)
        self.forget_button.clicked.connect(self._forget)

    # -- what a subclass says --------------------------------------------------------

    def save_action(self, value: str) -> Callable[[], None] | str:
        """What Save does with `value`, or a sentence why it cannot."""
        raise NotImplementedError

    def forget_action(self) -> Callable[[], None]:
        raise NotImplementedError

    def describe(self, done: str) -> tuple[str, bool]:
        """(the status line as rich text, whether the keyring holds a token),
        after `done` (what the action did, plain text). On the worker thread."""
        raise NotImplementedError

    # -- the rest -----------------------------------------------------------------------

    def refresh(self) -> None:
        self._run(None, "")

    def _save(self) -> None:
        action = self.save_action(self.field.text())
        if isinstance(action, str):
            self._show(Outcome(action, False, self.forget_button.isEnabled()))
            return
        self._run(action, "Token saved.", saving=True)

    def _forget(self) -> None:
        self._run(self.forget_action(), "Token removed.")

    def _run(self, action: Callable[[], None] | None, done: str, saving: bool = False) -> None:
        self.save_button.setEnabled(False)
        self.forget_button.setEnabled(False)

        def work() -> None:
            ok = True
            try:
                if action is not None:
                    action()
                text, stored = self.describe(done)
            except KeyStoreError as exc:
                ok = False
                text, stored = self.describe("")
                text = f"{html_text(str(exc))} {text}"
            with contextlib.suppress(RuntimeError):  # the dialog was closed meanwhile
                self._done.emit(Outcome(text.strip(), ok and saving, stored))

        threading.Thread(target=work, name=self.thread_name, daemon=True).start()

    def _show(self, outcome: Outcome) -> None:
        self.status.setText(outcome.text)
        if outcome.saved:
            self.field.clear()  # the secret does not stay in the widget
        self.save_button.setEnabled(True)
        self.forget_button.setEnabled(outcome.stored)


def html_text(text: str) -> str:
    """Plain text for the status line, which is rich text (a link may be in it)."""
    return html.escape(text)

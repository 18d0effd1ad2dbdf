"""The Hugging Face token in Settings: for gated and private models.

Saving or forgetting acts at once on the OS keyring (never the settings file,
so OK and Cancel do not apply to it), in a worker thread: a locked keychain
may ask to be unlocked and must not freeze the window. The field is a password
field and is cleared once saved; the dialog shows only where the token comes
from.
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

from ..engine.hub_token import (
    KEYRING_USER,
    NO_KEYRING_INSTEAD,
    TokenSource,
    forget_token,
    save_token,
    token_status,
)
from ..keychain import KeyStoreError, read_secret

TITLE = "Hugging Face token (gated and private models)"
TOKENS_PAGE = "https://huggingface.co/settings/tokens"
_SOURCES = {
    TokenSource.HUB: "Using HF_TOKEN (or the hub's own login); it comes before a token saved here.",
    TokenSource.KEYRING: "A token is saved in the system keyring.",
    None: "No token: public models need none. Make a read token at "
    f'<a href="{TOKENS_PAGE}">{TOKENS_PAGE}</a>.',
}


@dataclass(frozen=True)
class _Outcome:
    text: str  # rich text: the sources' link is a link
    done: bool  # the action succeeded (a saved token leaves the field)
    stored: bool  # the keyring holds a token: there is something to forget


class HubTokenBox(QGroupBox):
    _done = Signal(object)  # an _Outcome, from the worker thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(TITLE, parent)
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setPlaceholderText("hf_…")
        self.save_button = QPushButton("Save")
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip("Remove the token saved in the system keyring")
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
        self.forget_button.clicked.connect(lambda: self._run(forget_token, "Token removed."))
        self.field.returnPressed.connect(self._save)
        self._run(None, "")

    def _save(self) -> None:
        value = self.field.text()
        self._run(lambda: save_token(value), "Token saved in the system keyring.")

    def _run(self, action: Callable[[], None] | None, done: str) -> None:
        self.save_button.setEnabled(False)
        self.forget_button.setEnabled(False)

        def work() -> None:
            ok = True
            try:
                if action is not None:
                    action()
                source, problem = token_status()
                if problem:  # said as what it means for the user: where else a token goes
                    problem = (
                        f"Tokens are kept in the system keyring, but {problem} {NO_KEYRING_INSTEAD}"
                    )
                said = " ".join(html.escape(t) for t in (done, problem) if t)
                text = f"{said} {_SOURCES[source]}".strip()
            except KeyStoreError as exc:
                ok, text = False, html.escape(str(exc))
            stored = read_secret(KEYRING_USER).value is not None
            with contextlib.suppress(RuntimeError):  # the dialog was closed meanwhile
                # Only a save clears the field: the first look must not take
                # what the user pasted while the keyring was slow to answer.
                self._done.emit(_Outcome(text, ok and action is not None, stored))

        threading.Thread(target=work, name="hub-token", daemon=True).start()

    def _show(self, outcome: _Outcome) -> None:
        self.status.setText(outcome.text)
        if outcome.done:
            self.field.clear()  # saved: the secret does not stay in the widget
        self.save_button.setEnabled(True)
        self.forget_button.setEnabled(outcome.stored)

"""The conversation as rich text: who said what, how each answer ended.

A QTextBrowser, so text can be selected (for "Use as prompt") and copied.
Answers are rendered as markdown (mercury_chat_document.py). Rendering is
coalesced to at most one repaint per frame (a fast stream sends hundreds of
chunks a second), and only the messages that changed since the last render
are written again: while an answer streams, that is the answer alone, so a
long conversation does not make each update slower.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from ..mercury.conversation import ChatMessage, Conversation, ReplyState
from .mercury_chat_document import USE_LINK, ChatColors, make_spacer, write_message

RENDER_INTERVAL_MS = 16

EMPTY_HINT = (
    "Ask Mercury for ideas, e.g. “give me 5 prompts for a cozy cabin”. "
    "<b>Use as prompt</b> puts an answer, or the text you select, into the image "
    "prompt; <b>Enhance</b> turns your current prompt into a detailed one with a "
    "negative prompt."
)


class MercuryChatView(QTextBrowser):
    use_text = Signal(str)  # a "Use as prompt" link was clicked: an answer, or one list item

    def __init__(self, conversation: Conversation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conversation = conversation
        self.denoising_note = ""  # e.g. "denoising · step 3 of 8" on the streaming answer
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._on_anchor)
        self.setPlaceholderText("")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self.render_now)
        # What each shown message looked like and where it starts in the document.
        self._shown: list[tuple[tuple, int]] = []
        self._item_links: dict[str, str] = {}  # "use:<message>:<n>" -> the list item's text
        # Follow the newest text while the user is at the bottom, also when the
        # view shrinks (a notice appears above it); stay put if they scrolled up.
        self._at_bottom = True
        self._rendering = False
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._remember_position)
        bar.rangeChanged.connect(self._follow_bottom)
        self.render_now()

    def schedule_render(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def render_now(self) -> None:
        self._timer.stop()
        bar = self.verticalScrollBar()
        previous = bar.value()
        self._rendering = True  # rewriting the document moves the scroll bar on its way
        try:
            self._write_changes()
        finally:
            self._rendering = False
        # QTextEdit scrolls its cursor into view when shown or resized, and a
        # rewrite may leave the cursor anywhere: park it where the reader is.
        if self._at_bottom:
            self.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())
        else:
            bar.setValue(previous)
            self.setTextCursor(self.cursorForPosition(QPoint(0, 0)))
            bar.setValue(previous)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._shown = []  # the colours are written into the text: all of it again
            self.schedule_render()

    def _write_changes(self) -> None:
        messages = self.conversation.messages
        colors = ChatColors.from_palette(self.palette())
        if not messages:
            self.setHtml(f'<p style="color:{colors.hint}; margin:12px 6px;">{EMPTY_HINT}</p>')
            self._shown, self._item_links = [], {}
            return
        last = len(messages) - 1
        looks = [
            self._look(message, self.denoising_note if i == last else "")
            for i, message in enumerate(messages)
        ]
        unchanged = 0
        while (
            unchanged < min(len(self._shown), len(looks))
            and self._shown[unchanged][0] == looks[unchanged]
        ):
            unchanged += 1
        cursor = QTextCursor(self.document())
        if unchanged == 0:
            self.document().clear()
            make_spacer(cursor)  # the block before the first frame
        else:  # keep the messages before the first change, write the rest again
            cursor.setPosition(
                self._shown[unchanged][1] if unchanged < len(self._shown) else self._end()
            )
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        del self._shown[unchanged:]
        self._item_links = {
            target: text
            for target, text in self._item_links.items()
            if _message_of(target) < unchanged
        }
        for index in range(unchanged, len(messages)):
            start = cursor.position()
            note = looks[index][-1]
            self._item_links.update(write_message(cursor, index, messages[index], colors, note))
            self._shown.append((looks[index], start))

    @staticmethod
    def _look(message: ChatMessage, denoising_note: str) -> tuple:
        """All that decides how a message is drawn: equal looks need no rewrite."""
        note = denoising_note if message.state is ReplyState.STREAMING else ""
        return (message.role, message.text, message.state, message.model, note)

    def _end(self) -> int:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor.position()

    def _remember_position(self, value: int) -> None:
        if not self._rendering:
            self._at_bottom = value >= self.verticalScrollBar().maximum() - 4

    def _follow_bottom(self, _minimum: int, maximum: int) -> None:
        if self._at_bottom and not self._rendering:
            self.verticalScrollBar().setValue(maximum)

    def selected_text(self) -> str:
        # Qt marks paragraph breaks in a selection with U+2029.
        return self.textCursor().selectedText().replace("\u2029", "\n").strip()

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https"):  # a link inside an answer
            QDesktopServices.openUrl(url)
            return
        target = url.toString()
        if target in self._item_links:
            self.use_text.emit(self._item_links[target])
            return
        index = target[len(USE_LINK) :] if target.startswith(USE_LINK) else ""
        messages = self.conversation.messages
        if index.isdigit() and int(index) < len(messages):
            self.use_text.emit(messages[int(index)].text.strip())


def _message_of(target: str) -> int:
    """The message index of a "use:<message>:<n>" link."""
    return int(target[len(USE_LINK) :].split(":")[0])

"""The conversation as rich text: who said what, how each answer ended.

A QTextBrowser, so text can be selected (for "Use as prompt") and copied.
Rendering is coalesced to at most one repaint per frame: a fast stream sends
hundreds of chunks a second and a re-layout per chunk would be wasted work.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QPoint, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QPalette, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from ..mercury.conversation import STATE_NOTES, ChatMessage, Conversation, ReplyState

RENDER_INTERVAL_MS = 16
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(.+)$")
USE_LINK = "use:"

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
        self._rendering = True  # setHtml scrolls to the top on its way
        try:
            self.setHtml(self._html())
        finally:
            self._rendering = False
        # QTextEdit scrolls its cursor into view when shown or resized, and
        # setHtml left the cursor at the top: park it where the reader is.
        if self._at_bottom:
            self.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())
        else:
            bar.setValue(previous)
            self.setTextCursor(self.cursorForPosition(QPoint(0, 0)))
            bar.setValue(previous)

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
        target = url.toString()
        if not target.startswith(USE_LINK):
            return
        parts = target[len(USE_LINK) :].split(":")
        if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 2:
            return
        messages = self.conversation.messages
        index = int(parts[0])
        if index >= len(messages):
            return
        if len(parts) == 1:
            self.use_text.emit(messages[index].text.strip())
            return
        lines = messages[index].text.split("\n")
        item = list_item(lines[int(parts[1])]) if int(parts[1]) < len(lines) else None
        if item:
            self.use_text.emit(item)

    def _html(self) -> str:
        colors = _Colors(self.palette())
        if not self.conversation.messages:
            return f'<p style="color:{colors.hint}; margin:12px 6px;">{EMPTY_HINT}</p>'
        parts = [self._message_html(i, m, colors) for i, m in enumerate(self.conversation.messages)]
        return "".join(parts)

    def _message_html(self, index: int, message: ChatMessage, colors: _Colors) -> str:
        text = html.escape(message.text)
        if message.role == "user":
            return (
                f'<table width="100%" cellpadding="7" style="margin:6px 0 2px 0;">'
                f'<tr><td bgcolor="{colors.bubble}">'
                f'<span style="color:{colors.hint}; font-size:small;">You</span><br/>'
                f'<span style="white-space:pre-wrap;">{text}</span></td></tr></table>'
            )
        model = html.escape(message.model)
        header = f'<b>Mercury</b><span style="color:{colors.hint};"> · {model}</span>'
        streaming = message.state is ReplyState.STREAMING
        if streaming and self.denoising_note:
            header += f'<span style="color:{colors.accent};"> · {self.denoising_note}</span>'
        if message.text and not streaming:
            link = f'<a href="{USE_LINK}{index}" style="color:{colors.accent};">Use as prompt</a>'
            header += f" &nbsp; {link}"
        if streaming:
            body = text + f'<span style="color:{colors.accent};">▍</span>'
        else:
            body = self._body_with_item_links(index, message.text, colors)
        note = STATE_NOTES.get(message.state)
        note_html = ""
        if note:
            color = colors.hint if message.state is ReplyState.STOPPED else colors.warning
            note_html = f'<br/><i style="color:{color}; font-size:small;">— {note}</i>'
        return (
            f'<table width="100%" cellpadding="7" style="margin:2px 0 6px 0;"><tr><td>'
            f'<span style="font-size:small;">{header}</span><br/>'
            f'<span style="white-space:pre-wrap;">{body}</span>{note_html}</td></tr></table>'
        )

    def _body_with_item_links(self, index: int, text: str, colors: _Colors) -> str:
        """The answer, each list item ("1. ...", "- ...") with its own use link.

        Asked for "5 prompts", Mercury answers with a list; one click then
        takes one prompt, without selecting it by hand.
        """
        lines = []
        for number, line in enumerate(text.split("\n")):
            escaped = html.escape(line)
            if list_item(line):
                escaped += (
                    f' <a href="{USE_LINK}{index}:{number}" title="Use this as the prompt" '
                    f'style="color:{colors.accent}; font-size:small;">use</a>'
                )
            lines.append(escaped)
        return "\n".join(lines)


def list_item(line: str) -> str | None:
    """The text of a list item line without its marker and emphasis, else None."""
    match = _LIST_ITEM.match(line)
    if not match:
        return None
    item = match.group(1).replace("**", "").replace("__", "").strip().strip('"“”')
    return item or None


class _Colors:
    """Colours from the palette, so the light and dark themes both read well."""

    def __init__(self, palette: QPalette) -> None:
        role = QPalette.ColorRole
        base = palette.color(role.Base)
        self.hint = _opaque(palette.color(role.PlaceholderText), base)
        self.bubble = _opaque(palette.color(role.AlternateBase), base)
        self.accent = _opaque(palette.color(role.Highlight), base)
        self.warning = "#ffb454" if base.lightness() < 128 else "#b45f00"


def _opaque(color: QColor, background: QColor) -> str:
    """`color` over `background` as #rrggbb (rich text drops the alpha channel)."""
    alpha = color.alphaF()
    mixed = [
        round(alpha * c + (1 - alpha) * b)
        for c, b in zip(color.getRgb()[:3], background.getRgb()[:3], strict=True)
    ]
    return QColor(*mixed).name()

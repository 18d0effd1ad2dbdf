"""One chat message written into a QTextDocument: a header, the text, a note.

Answers are markdown (Mercury writes **bold**, lists, `code`), rendered by
Qt's own markdown reader; raw HTML in an answer is not interpreted. Each list
item of an answer gets a small "use" link, so one of five suggested prompts
is one click. Colours come from the palette, so both themes read well.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import (
    QColor,
    QFont,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFrameFormat,
)

from ..mercury.conversation import STATE_NOTES, ChatMessage, ReplyState
from .theme import warning_color

USE_LINK = "use:"
MARKDOWN = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)
# Heading sizes (steps above the text; others stay bold at the text's size):
# markdown's own are poster-sized in a side panel.
HEADING_SIZE = {1: 1, 2: 1}
# The streaming caret: a space on the accent colour, so it needs no glyph from any font.
CARET = "\u00a0"


@dataclass(frozen=True)
class ChatColors:
    """Colours from the palette, as #rrggbb (rich text drops the alpha channel)."""

    text: str
    hint: str
    bubble: str
    accent: str
    link: str
    warning: str

    @classmethod
    def from_palette(cls, palette: QPalette) -> ChatColors:
        role = QPalette.ColorRole
        base = palette.color(role.Base)
        return cls(
            text=_opaque(palette.color(role.Text), base),
            hint=_opaque(palette.color(role.PlaceholderText), base),
            bubble=_opaque(palette.color(role.AlternateBase), base),
            accent=_opaque(palette.color(role.Highlight), base),
            link=_opaque(palette.color(role.Link), base),
            warning=warning_color(palette),
        )


def write_message(
    cursor: QTextCursor,
    index: int,
    message: ChatMessage,
    colors: ChatColors,
    denoising_note: str = "",
) -> dict[str, str]:
    """Writes message `index` at `cursor` (left after it); returns its item links
    ("use:<index>:<n>" -> the item's text)."""
    user = message.role == "user"
    frame_format = QTextFrameFormat()
    frame_format.setPadding(7)
    frame_format.setTopMargin(6 if user else 2)
    frame_format.setBottomMargin(2 if user else 6)
    if user:
        frame_format.setBackground(QColor(colors.bubble))
    frame = cursor.insertFrame(frame_format)
    streaming = message.state is ReplyState.STREAMING
    _write_header(cursor, index, message, colors, streaming, denoising_note)
    cursor.insertBlock(QTextBlockFormat(), _plain(colors.text))
    links: dict[str, str] = {}
    if user:
        cursor.insertText(message.text)
    elif message.text:
        header = cursor.block().previous()
        first = cursor.block()
        cursor.insertMarkdown(message.text, MARKDOWN)
        _tidy_headings(first, cursor.block())
        if not first.text() and first.next().isValid() and first != cursor.block():
            # A list or heading opens its own block and leaves this one empty: drop it.
            joint = QTextCursor(header)
            joint.movePosition(QTextCursor.MoveOperation.EndOfBlock)
            joint.deleteChar()
            first = header.next()
        if not streaming:
            links = _link_list_items(cursor, first, index, colors)
    if streaming:
        caret = _plain(colors.text)
        caret.setBackground(QColor(colors.accent))
        cursor.setPosition(frame.lastPosition())
        cursor.insertText(CARET, caret)
    note = STATE_NOTES.get(message.state)
    if note:
        color = colors.hint if message.state is ReplyState.STOPPED else colors.warning
        cursor.setPosition(frame.lastPosition())
        cursor.insertBlock(QTextBlockFormat(), _small(color, italic=True))
        cursor.insertText(f"— {note}")
    cursor.setPosition(frame.lastPosition())
    cursor.movePosition(QTextCursor.MoveOperation.NextBlock)  # out of the frame
    make_spacer(cursor)
    return links


def make_spacer(cursor: QTextCursor) -> None:
    """Shrinks the empty block the cursor is in: a document keeps one after
    (and before) each frame, and at full line height they read as blank lines."""
    spacer = QTextBlockFormat()
    spacer.setLineHeight(2, QTextBlockFormat.LineHeightTypes.FixedHeight.value)
    cursor.setBlockFormat(spacer)


def _write_header(
    cursor: QTextCursor,
    index: int,
    message: ChatMessage,
    colors: ChatColors,
    streaming: bool,
    denoising_note: str,
) -> None:
    if message.role == "user":
        cursor.insertText("You", _small(colors.hint))
        return
    name = _small(colors.text)
    name.setFontWeight(QFont.Weight.Bold)
    cursor.insertText("Mercury", name)
    cursor.insertText(f" · {message.model}", _small(colors.hint))
    if streaming and denoising_note:
        cursor.insertText(f" · {denoising_note}", _small(colors.accent))
    if message.text and not streaming:
        cursor.insertText("   ", _small(colors.hint))
        cursor.insertText("Use as prompt", _link(f"{USE_LINK}{index}", colors, "Use this answer"))


def _link_list_items(cursor: QTextCursor, first, index: int, colors: ChatColors) -> dict[str, str]:
    """A "use" link at the end of each list item from block `first` on."""
    links: dict[str, str] = {}
    block = first
    end = cursor.position()
    while block.isValid() and block.position() <= end:
        item = list_item_text(block.text()) if block.textList() is not None else None
        if item:
            target = f"{USE_LINK}{index}:{len(links) + 1}"
            links[target] = item
            at_end = QTextCursor(block)
            at_end.movePosition(QTextCursor.MoveOperation.EndOfBlock)
            at_end.insertText(" ", _plain(colors.text))
            at_end.insertText("use", _link(target, colors, "Use this as the prompt", small=True))
            end += 4
        block = block.next()
    cursor.setPosition(end)
    return links


def list_item_text(text: str) -> str | None:
    """What a rendered list item gives as a prompt: without quotes around it."""
    item = text.strip().strip('"“”').strip()
    return item or None


def _tidy_headings(first, last) -> None:
    block = first
    while block.isValid():
        level = block.blockFormat().headingLevel()
        if level:
            cursor = QTextCursor(block)
            cursor.movePosition(
                QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor
            )
            size = QTextCharFormat()
            size.setProperty(
                QTextCharFormat.Property.FontSizeAdjustment, HEADING_SIZE.get(level, 0)
            )
            cursor.mergeCharFormat(size)
        if block == last:
            break
        block = block.next()


def _plain(color: str) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    return fmt


def _small(color: str, italic: bool = False) -> QTextCharFormat:
    fmt = _plain(color)
    fmt.setProperty(QTextCharFormat.Property.FontSizeAdjustment, -1)
    fmt.setFontItalic(italic)
    return fmt


def _link(target: str, colors: ChatColors, tip: str, small: bool = True) -> QTextCharFormat:
    fmt = _small(colors.link) if small else _plain(colors.link)
    fmt.setAnchor(True)
    fmt.setAnchorHref(target)
    fmt.setFontUnderline(True)
    fmt.setToolTip(tip)
    return fmt


def _opaque(color: QColor, background: QColor) -> str:
    """`color` over `background` as #rrggbb."""
    alpha = color.alphaF()
    mixed = [
        round(alpha * c + (1 - alpha) * b)
        for c, b in zip(color.getRgb()[:3], background.getRgb()[:3], strict=True)
    ]
    return QColor(*mixed).name()

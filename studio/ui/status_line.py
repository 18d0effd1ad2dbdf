"""The status bar's sentence: what the window is doing, and where a file went.

A saved file's folder is a link; clicking it opens the folder in the file
manager (QDesktopServices), so "saved" also says where."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QLabel, QWidget


def shown_folder(folder: Path) -> str:
    """A folder as a user reads it: the home folder as ~."""
    try:
        return str(Path("~") / folder.relative_to(Path.home()))
    except ValueError:
        return str(folder)


class StatusLine(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Rich text for the link: everything else is escaped, prompts included.
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        self.say(text)

    def say(self, text: str) -> None:
        self.setText(html.escape(text, quote=False))
        self.setToolTip("")

    def say_saved(self, before: str, path: Path) -> None:
        """`before` then the file's name, and its folder as a link that opens it."""
        folder = path.parent.resolve()
        url = QUrl.fromLocalFile(str(folder)).toString()
        link = f'<a href="{html.escape(url)}">{html.escape(shown_folder(folder))}</a>'
        self.setText(f"{html.escape(before, quote=False)} {html.escape(path.name)} in {link}")
        self.setToolTip(f"Click the folder to open it: {folder}")

    def changeEvent(self, event: QEvent) -> None:
        # A label lays its rich text out with the palette of that moment: after a theme
        # switch the folder link kept the old theme's colour (dark blue on dark grey).
        if event.type() == QEvent.Type.PaletteChange:
            text = self.text()
            self.clear()  # setText() with the same text would keep the old layout
            self.setText(text)
        super().changeEvent(event)

    def plain_text(self) -> str:
        """What the user reads, without the markup."""
        document = QTextDocument()
        document.setHtml(self.text())
        return document.toPlainText()

"""The history: every result saved as a PNG with its parameters, shown newest first."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.image_parameters import ParametersReadError, read_parameters
from ..engine.pngfile import save_png

THUMB = 96
MAX_LISTED = 300
_NUMBERED = re.compile(r"^(\d{5})-")


@dataclass(frozen=True)
class HistoryEntry:
    path: Path
    parameters: str | None


class HistoryStore:
    """PNG files in `<outputs>/<date>/NNNNN-<seed>.png`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, image: Image.Image, infotext: str, seed: int) -> Path:
        day = self.root / _dt.date.today().isoformat()
        day.mkdir(parents=True, exist_ok=True)
        numbers = [int(m.group(1)) for p in day.glob("*.png") if (m := _NUMBERED.match(p.name))]
        path = day / f"{max(numbers, default=0) + 1:05d}-{seed}.png"
        return save_png(image, path, infotext)

    def entries(self) -> list[HistoryEntry]:
        if not self.root.is_dir():
            return []
        files = sorted(self.root.glob("*/*.png"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [HistoryEntry(p, None) for p in files[:MAX_LISTED]]


def thumbnail(path: Path, size: int = THUMB) -> QPixmap:
    reader = QImageReader(str(path))
    original = reader.size()
    if original.isValid():
        reader.setScaledSize(original.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class HistoryStrip(QWidget):
    """Thumbnails of results; the window acts on the chosen one."""

    shown = Signal(Path)  # clicked: show it
    use_as_image = Signal(Path)
    restore_parameters = Signal(Path)

    def __init__(self, store: HistoryStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 12, THUMB + 12))
        self.list.setMovement(QListView.Movement.Static)
        self.list.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.list.setFixedHeight(THUMB + 34)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.use_button = QPushButton("Use as image")
        self.use_button.setToolTip("Put the chosen result on the canvas (double-click)")
        self.restore_button = QPushButton("Restore parameters")
        self.restore_button.setToolTip("Fill the generation panel with this result's settings")
        self.folder_button = QPushButton("Open folder")
        self.empty = QLabel("Results appear here, newest first.")
        self.empty.setObjectName("hint")
        buttons = QVBoxLayout()
        for button in (self.use_button, self.restore_button, self.folder_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(self.list, 1)
        row.addWidget(self.empty, 1)
        row.addLayout(buttons)

        self.list.itemClicked.connect(lambda item: self.shown.emit(self._path(item)))
        self.list.itemDoubleClicked.connect(lambda item: self.use_as_image.emit(self._path(item)))
        self.list.customContextMenuRequested.connect(self._menu)
        self.use_button.clicked.connect(lambda: self._emit_selected(self.use_as_image))
        self.restore_button.clicked.connect(lambda: self._emit_selected(self.restore_parameters))
        self.folder_button.clicked.connect(self._open_folder)
        self.list.currentItemChanged.connect(self._update_buttons)
        self.reload()

    @staticmethod
    def _path(item: QListWidgetItem) -> Path:
        return Path(item.data(Qt.ItemDataRole.UserRole))

    def set_folder(self, root: Path) -> None:
        """Shows the results in another folder (the output folder changed)."""
        root = Path(root)
        if root == self.store.root:
            return
        self.store.root = root
        self.reload()

    def reload(self) -> None:
        self.list.clear()
        for entry in self.store.entries():
            self._append(entry.path)
        self._update_buttons()

    def _append(self, path: Path, at_front: bool = False) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(thumbnail(path)), "")
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        try:
            parameters = read_parameters(path) or ""
        except ParametersReadError as exc:  # a damaged file still gets its thumbnail slot
            parameters = str(exc)
        item.setToolTip(f"{path.name}\n{parameters[:600]}")
        if at_front:
            self.list.insertItem(0, item)
        else:
            self.list.addItem(item)
        return item

    def add(self, path: Path) -> None:
        item = self._append(path, at_front=True)
        self.list.setCurrentItem(item)
        self.list.scrollToItem(item)
        self._update_buttons()

    def paths(self) -> list[Path]:
        return [self._path(self.list.item(i)) for i in range(self.list.count())]

    def _update_buttons(self) -> None:
        has_items = self.list.count() > 0
        self.list.setVisible(has_items)
        self.empty.setVisible(not has_items)
        chosen = self.list.currentItem() is not None
        self.use_button.setEnabled(chosen)
        self.restore_button.setEnabled(chosen)

    def _emit_selected(self, signal) -> None:
        item = self.list.currentItem()
        if item is not None:
            signal.emit(self._path(item))

    def _open_folder(self) -> None:
        item = self.list.currentItem()
        folder = self._path(item).parent if item is not None else self.store.root
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        path = self._path(item)
        menu = QMenu(self)
        menu.addAction("Use as image", lambda: self.use_as_image.emit(path))
        menu.addAction("Restore parameters", lambda: self.restore_parameters.emit(path))
        menu.addAction("Open folder", self._open_folder)
        menu.exec(self.list.viewport().mapToGlobal(position))

"""The canvas document as a file: its name and unsaved mark in the title bar,
opening, saving and exporting, and asking before unsaved work would be lost.

"Unsaved" is the undo stack's clean state: saving marks it clean, and undoing
back to the saved state clears the mark again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..canvas import CanvasDocument
from ..canvas.errors import CanvasError
from ..canvas.project import SUFFIX as PROJECT_SUFFIX
from ..image_formats import IMAGE_FILE_FILTER
from .message_bar import MessageBar
from .new_canvas_dialog import ask_canvas_size
from .status_line import StatusLine

APP_NAME = "Diffusion Studio"
UNTITLED = "Untitled"
PROJECT_FILTER = f"Diffusion Studio canvases (*{PROJECT_SUFFIX})"

Size = tuple[int, int]


class DocumentFiles(QObject):
    def __init__(
        self,
        window: QWidget,
        document: CanvasDocument,
        status: StatusLine,
        message_bar: MessageBar,
        native_size: Callable[[], Size | None],
    ) -> None:
        super().__init__(window)
        self.window, self.document = window, document
        self.status, self.message_bar = status, message_bar
        self._native_size = native_size  # the chosen model's size, None when unknown
        self.project_path: Path | None = None
        self.name = UNTITLED  # the project's (or the opened picture's) file name
        self._suggested: Path | None = None  # where Save as starts
        document.undo_stack.cleanChanged.connect(self._show_modified)
        self._show_title()

    # -- state -----------------------------------------------------------------------

    def is_modified(self) -> bool:
        return not self.document.undo_stack.isClean()

    def _show_title(self) -> None:
        # "[*]" is where Qt shows the unsaved mark while the window is modified.
        self.window.setWindowTitle(f"{self.name}[*] — {APP_NAME}")
        self._show_modified()

    def _show_modified(self, *_clean) -> None:
        # The stack says "clean" once more as a window closed on Discard deletes it.
        if shiboken6.isValid(self.document.undo_stack):
            self.window.setWindowModified(self.is_modified())

    def _became(self, name: str, project: Path | None, suggested: Path | None = None) -> None:
        self.project_path = project
        self.name = name
        self._suggested = suggested or project
        self.document.undo_stack.setClean()
        self._show_title()

    def is_untouched(self) -> bool:
        """Nothing painted, opened or generated, and no file behind it: a
        document that can change size without a word."""
        return (
            self.project_path is None
            and not self.is_modified()
            and not any(self.document.layer_has_content(n) for n in ("image", "sketch", "mask"))
        )

    def follow_model_size(self) -> None:
        """An untouched document takes the chosen model's native size."""
        size = self._native_size()
        if size is None or not self.is_untouched():
            return
        if size == (self.document.width(), self.document.height()):
            return
        if self.document.undo_stack.count() == 0:
            self.document.reset(*size)
        else:  # keep the history: a drawing discarded for this canvas stays undoable
            self.document.new(*size)
            self.document.undo_stack.setClean()

    # -- asking ----------------------------------------------------------------------

    def may_discard(self, doing: str) -> bool:
        """True when the document has no unsaved changes, or the user saved
        them or chose to discard them; False when they cancelled (or a save
        failed, which the message bar then explains). `doing`: "closing"..."""
        if not self.is_modified():
            return True
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(APP_NAME)
        box.setText(f"Save the changes to “{self.name}” before {doing}?")
        box.setInformativeText("Your changes will be lost if you don't save them.")
        buttons = QMessageBox.StandardButton
        box.setStandardButtons(buttons.Save | buttons.Discard | buttons.Cancel)
        box.setDefaultButton(buttons.Save)
        box.setEscapeButton(buttons.Cancel)
        answer = box.exec()
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    # -- files -----------------------------------------------------------------------

    def guarded(self, action, *args) -> bool:
        """Runs a canvas action; a failure is a sentence in the message bar."""
        try:
            action(*args)
        except (CanvasError, OSError, ValueError) as exc:
            self.message_bar.show_message(str(exc))
            return False
        return True

    def new_canvas(self) -> bool:
        if not self.may_discard("starting a new canvas"):
            return False
        native = self._native_size()
        width, height = native or (self.document.width(), self.document.height())
        size = ask_canvas_size(self.window, width, height, native)
        if size is None or not self.guarded(self.document.new, *size):
            return False
        self._became(UNTITLED, None)
        return True

    def open_image(self, path: str | None = None) -> bool:
        """Opens a picture as a new document (after asking about unsaved work)."""
        if not self.may_discard("opening another image"):
            return False
        if not path:
            path, _ = QFileDialog.getOpenFileName(self.window, "Open image", "", IMAGE_FILE_FILTER)
        if not path or not self.guarded(self.document.open_as_new, path):
            return False
        picture = Path(path)
        self._became(picture.name, None, picture.with_suffix(PROJECT_SUFFIX))
        return True

    def open_project(self, path: str | None = None) -> bool:
        if not self.may_discard("opening another project"):
            return False
        if not path:
            path, _ = QFileDialog.getOpenFileName(self.window, "Open project", "", PROJECT_FILTER)
        if not path or not self.guarded(self.document.load_project, path):
            return False
        self._became(Path(path).name, Path(path))
        return True

    def save(self) -> bool:
        """Saves to the project's file, asking for one the first time."""
        if self.project_path is None:
            return self.save_as()
        return self._save_to(self.project_path)

    def save_as(self, path: str | None = None) -> bool:
        if not path:
            start = str(self._suggested or Path.home() / f"{UNTITLED}{PROJECT_SUFFIX}")
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Save project", start, PROJECT_FILTER
            )
        if not path:
            return False
        target = Path(path if path.endswith(PROJECT_SUFFIX) else path + PROJECT_SUFFIX)
        return self._save_to(target)

    def _save_to(self, target: Path) -> bool:
        if not self.guarded(self.document.save_project, target):
            return False
        self._became(target.name, target)
        self.status.say_saved("Saved", target)
        return True

    def export_image(self, path: str | None = None) -> bool:
        if not path:
            start = str((self._suggested or Path.home() / self.name).with_suffix(".png"))
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Export image", start, IMAGE_FILE_FILTER
            )
        if not path or not self.guarded(self.document.export_composed, path):
            return False
        self.status.say_saved("Exported", Path(path))
        return True

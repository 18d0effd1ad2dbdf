"""Preferences: model folders, device and memory options, output folder, look;
and the services: result cache, watermark, safety filter, the local API; the
Hugging Face token (kept in the keyring, not with the options).

The rows come from the options' declarations (studio/option_spec.py): each
declared field with a `group` gets the control its type and spec ask for, in
that box, in declaration order. This module only says which boxes each tab
holds, and adds what no single option owns (the image checker's status)."""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..engine.options import (
    BATCH_GROUP,
    CACHE_GROUP,
    DEVICE_GROUP,
    FOLDERS_GROUP,
    SAFETY_GROUP,
    SPEED_GROUP,
)
from ..engine.safety import image_checker_status
from ..option_spec import Declared, declared, value_at, with_value
from .hub_token_box import HubTokenBox
from .option_widgets import OptionEditor, editor_for
from .preferences import ENGINE_GROUP, LOOK_GROUP, WATERMARK_GROUP, Preferences
from .server_token import ServerTokenBox

# The tabs and the boxes on each; a box no tab names goes at the end of the first.
PAGES = (
    (
        "General",
        (
            FOLDERS_GROUP,
            HubTokenBox.__name__,
            ENGINE_GROUP,
            ServerTokenBox.__name__,
            DEVICE_GROUP,
            SPEED_GROUP,
            LOOK_GROUP,
        ),
    ),
    ("Cache, watermark and safety", (CACHE_GROUP, WATERMARK_GROUP, SAFETY_GROUP, BATCH_GROUP)),
)
IMAGE_CHECKER = "services.image_checker"


def shown_fields(cls: type, path: str = "", group: str = "") -> Iterator[tuple[str, Declared, str]]:
    """(path, declaration, box) of every option the dialog shows."""
    for d in declared(cls):
        if d.is_nested:
            yield from shown_fields(d.kind, f"{path}{d.name}.", d.group)
        elif d.spec.stored and (d.spec.group or group):
            yield path + d.name, d, d.spec.group or group


def _scrolling(page: QWidget) -> QScrollArea:
    """A tab page that scrolls rather than squeezing its wrapped text into
    fewer lines than it needs (a tab's height is the tallest page's controls)."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    needed = page.minimumSizeHint()
    area.setMinimumSize(
        needed.width() + area.verticalScrollBar().sizeHint().width(), needed.height()
    )
    return area


class SettingsDialog(QDialog):
    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._prefs = prefs
        self.editors: dict[str, OptionEditor] = {}
        self.toggles: dict[str, QGroupBox] = {}  # path -> the checkable box it switches
        boxes = self._boxes(prefs)
        self._add_image_checker_status(boxes)
        self.hub_token = boxes[HubTokenBox.__name__] = HubTokenBox()
        server = self.editors["remote.server_url"].control
        self.server_token = boxes[ServerTokenBox.__name__] = ServerTokenBox(server.text)
        server.editingFinished.connect(self.server_token.refresh)  # whose token is shown
        self.editors["window.output_dir"].control.setPlaceholderText(str(prefs.outputs_path()))

        self.tabs = QTabWidget()
        named = {group for _title, groups in PAGES for group in groups}
        for index, (title, groups) in enumerate(PAGES):
            page = QWidget()
            column = QVBoxLayout(page)
            extra = [g for g in boxes if g not in named] if index == 0 else []
            for group in (*groups, *extra):
                if group in boxes:
                    column.addWidget(boxes[group])
            if index == 0:
                note = QLabel(
                    "Engine server, device and memory changes apply to the next job once the "
                    "queue is idle."
                )
                note.setObjectName("hint")
                note.setWordWrap(True)  # its own line must not set the page's width
                column.addWidget(note)
            else:
                column.addStretch(1)
            self.tabs.addTab(_scrolling(page), title)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(self.tabs)
        column.addWidget(buttons)

    def _boxes(self, prefs: Preferences) -> dict[str, QGroupBox]:
        boxes: dict[str, QGroupBox] = {}
        forms: dict[str, QFormLayout] = {}
        for path, d, group in shown_fields(Preferences):
            if group not in boxes:
                boxes[group] = QGroupBox(group)
                forms[group] = QFormLayout(boxes[group])
            value = value_at(prefs, path)
            if d.spec.kind == "toggle":  # the box itself switches its options on and off
                boxes[group].setCheckable(True)
                boxes[group].setChecked(value)
                self.toggles[path] = boxes[group]
                continue
            editor = editor_for(d, value, self)
            self.editors[path] = editor
            if editor.spans:
                forms[group].addRow(editor.field)
            else:
                label = QLabel(d.spec.label)
                label.setToolTip(d.spec.help)
                forms[group].addRow(label, editor.field)
            restore = getattr(editor, "restore", None)
            if restore is not None:
                forms[group].addRow("", restore)
        return boxes

    def _add_image_checker_status(self, boxes: dict[str, QGroupBox]) -> None:
        available, status = image_checker_status()
        checker = self.editor(IMAGE_CHECKER)
        checker.setChecked(self._prefs.services.image_checker and available)
        checker.setEnabled(available)
        self.image_checker_status = QLabel(status)
        self.image_checker_status.setWordWrap(True)
        self.image_checker_status.setObjectName("hint")
        form = boxes[SAFETY_GROUP].layout()
        assert isinstance(form, QFormLayout)
        form.addRow(self.image_checker_status)

    def editor(self, path: str) -> QWidget:
        """The control showing the option at `path` ("engine.fast_cpu"), or its box."""
        if path in self.toggles:
            return self.toggles[path]
        return self.editors[path].control

    def preferences(self) -> Preferences:
        prefs = self._prefs
        for path, box in self.toggles.items():
            prefs = with_value(prefs, path, box.isChecked())
        for path, editor in self.editors.items():
            value = editor.value()
            if path == IMAGE_CHECKER and not editor.control.isEnabled():
                # Kept as the user set it while the checker is absent (the box is disabled).
                value = self._prefs.services.image_checker
            prefs = with_value(prefs, path, value)
        return prefs

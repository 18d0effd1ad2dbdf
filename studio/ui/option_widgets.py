"""A form control for each declared option, chosen from its type and spec:
a checkbox for a bool, a combo box for choices, a spin box for a range, a
text field (with Browse… for a folder), a colour button, a list of folders.

Each editor shows a value and gives one back (`value()`), in the option's
own type; the settings dialog only places them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLayout,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..option_spec import Choice, Declared


def choice_box(choices: tuple[Choice, ...], current: str) -> QComboBox:
    """A combo box of `choices` (item data: each choice's token) showing the
    token `current`; each item's full meaning is its tooltip and the box's."""
    box = QComboBox()
    for choice in choices:
        box.addItem(choice.label, choice.name)
        box.setItemData(box.count() - 1, choice.help, Qt.ItemDataRole.ToolTipRole)
    box.currentIndexChanged.connect(
        lambda index: box.setToolTip(box.itemData(index, Qt.ItemDataRole.ToolTipRole))
    )
    box.setCurrentIndex(max(box.findData(current), 0))
    box.setToolTip(box.itemData(box.currentIndex(), Qt.ItemDataRole.ToolTipRole))
    return box


def browse_row(edit: QLineEdit, on_browse) -> QHBoxLayout:
    """A path field with its Browse… button."""
    browse = QPushButton("Browse…")
    browse.clicked.connect(on_browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return row


class OptionEditor:
    """One option's control. `control` is the widget that holds the value;
    `field` is what the form places (the control, or a layout around it);
    `spans` says the form gives it the whole row (checkboxes, lists)."""

    spans = False

    def __init__(self, declared: Declared, value: Any, parent: QWidget) -> None:
        self.declared = declared
        self.initial = value
        self.parent = parent
        self.control: QWidget = self._build(value)
        self.field: QWidget | QLayout = self.control
        if declared.spec.help and not declared.spec.choices and declared.spec.kind != "colour":
            self.control.setToolTip(declared.spec.help)

    def _build(self, value: Any) -> QWidget:
        raise NotImplementedError

    def value(self) -> Any:
        raise NotImplementedError


class CheckEditor(OptionEditor):
    spans = True

    def _build(self, value: bool) -> QCheckBox:
        box = QCheckBox(self.declared.spec.label)
        box.setChecked(value)
        return box

    def value(self) -> bool:
        return self.control.isChecked()


class ChoiceEditor(OptionEditor):
    def _build(self, value: Any) -> QComboBox:
        return choice_box(self.declared.spec.choices, self.declared.choice_for(value).name)

    def value(self) -> Any:
        return self.declared.parse(self.control.currentData())


class WholeNumberEditor(OptionEditor):
    """A spin box; an optional number shows `auto` just below its range (None)."""

    def _build(self, value: int | None) -> QSpinBox:
        spec, box = self.declared.spec, QSpinBox()
        low = int(spec.low) if spec.low is not None else 0
        if self.declared.optional:
            low -= 1
            box.setSpecialValueText(spec.auto)
        box.setRange(low, int(spec.high) if spec.high is not None else 2**31 - 1)
        box.setSuffix(spec.unit)
        box.setValue(low if value is None else value)
        return box

    def value(self) -> int | None:
        number = self.control.value()
        if self.declared.optional and number == self.control.minimum():
            return None
        return number


class PercentEditor(OptionEditor):
    """A fraction from 0 to 1, shown in whole percent."""

    def _build(self, value: float) -> QSpinBox:
        spec, box = self.declared.spec, QSpinBox()
        box.setRange(round((spec.low or 0) * 100), round((spec.high or 1) * 100))
        box.setSuffix(" %")
        box.setValue(round(value * 100))
        return box

    def value(self) -> float:
        return self.control.value() / 100


class NumberEditor(OptionEditor):
    def _build(self, value: float) -> QDoubleSpinBox:
        spec, box = self.declared.spec, QDoubleSpinBox()
        box.setRange(spec.low if spec.low is not None else 0.0, spec.high or 1e9)
        box.setDecimals(spec.decimals)
        box.setSuffix(spec.unit)
        box.setValue(value)
        return box

    def value(self) -> float:
        return self.control.value()


class TextEditor(OptionEditor):
    """A line of text; empty means None for an optional one, and keeps the old
    text for a required one."""

    def _build(self, value: Any) -> QLineEdit:
        spec = self.declared.spec
        edit = QLineEdit("" if value is None else str(value))
        edit.setPlaceholderText(spec.hint)
        if spec.max_length:
            edit.setMaxLength(spec.max_length)
        return edit

    def value(self) -> Any:
        text = self.control.text().strip()
        if not text and self.declared.required:
            return self.initial
        return self.declared.parse(text)


class FolderEditor(TextEditor):
    def __init__(self, declared: Declared, value: Any, parent: QWidget) -> None:
        super().__init__(declared, value, parent)
        self.field = browse_row(self.control, self._browse)

    def _browse(self) -> None:
        title = f"{self.declared.spec.label}: choose a folder"
        folder = QFileDialog.getExistingDirectory(self.parent, title)
        if folder:
            self.control.setText(folder)


class FolderListEditor(OptionEditor):
    spans = True

    def __init__(self, declared: Declared, value: Any, parent: QWidget) -> None:
        super().__init__(declared, value, parent)
        self.field = self.row

    def _build(self, value: tuple[Path, ...]) -> QListWidget:
        folders = QListWidget()
        folders.addItems([str(p) for p in value])
        folders.setMaximumHeight(90)
        add = QPushButton("Add folder…")
        remove = QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(lambda: folders.takeItem(folders.currentRow()))
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        self.row = QHBoxLayout()
        self.row.addWidget(folders, 1)
        self.row.addLayout(buttons)
        return folders

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent, "Add a model folder")
        if folder:
            self.control.addItem(folder)

    def value(self) -> tuple[Path, ...]:
        return tuple(Path(self.control.item(i).text()) for i in range(self.control.count()))


class LinesEditor(OptionEditor):
    """One item per line, with a button that brings back the declared default."""

    def __init__(self, declared: Declared, value: Any, parent: QWidget) -> None:
        super().__init__(declared, value, parent)
        self.restore = QPushButton("Restore the built-in list")
        self.restore.clicked.connect(lambda: self._show(declared.default))

    def _build(self, value: tuple[str, ...]) -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setMaximumHeight(110)
        self.control = edit
        self._show(value)
        return edit

    def _show(self, value: tuple[str, ...]) -> None:
        self.control.setPlainText("\n".join(value))

    def value(self) -> tuple[str, ...]:
        return self.declared.parse(self.control.toPlainText())


class ColourEditor(OptionEditor):
    def _build(self, value: Any) -> QPushButton:
        button = QPushButton()
        button.clicked.connect(self._choose)
        self.control = button
        self._set(QColor(self.declared.dump(value)))
        return button

    def _set(self, colour: QColor) -> None:
        self._colour = colour
        self.control.setText(colour.name())
        swatch = QPixmap(22, 14)  # the colour itself, outlined so white shows on white
        swatch.fill(colour)
        outline = QPainter(swatch)
        outline.setPen(QColor("#808080"))
        outline.drawRect(swatch.rect().adjusted(0, 0, -1, -1))
        outline.end()
        self.control.setIcon(QIcon(swatch))
        self.control.setIconSize(swatch.size())

    def _choose(self) -> None:
        chosen = QColorDialog.getColor(self._colour, self.parent, self.declared.spec.label)
        if chosen.isValid():
            self._set(chosen)

    def value(self) -> Any:
        return self.declared.parse(self._colour.name())


def editor_for(declared: Declared, value: Any, parent: QWidget) -> OptionEditor:
    spec, kind = declared.spec, declared.kind
    if spec.choices:
        return ChoiceEditor(declared, value, parent)
    by_kind: dict[str, type[OptionEditor]] = {
        "folder": FolderEditor,
        "folders": FolderListEditor,
        "lines": LinesEditor,
        "colour": ColourEditor,
        "percent": PercentEditor,
    }
    if spec.kind in by_kind:
        return by_kind[spec.kind](declared, value, parent)
    if kind is bool:
        return CheckEditor(declared, value, parent)
    if kind is int:
        return WholeNumberEditor(declared, value, parent)
    if kind is float:
        return NumberEditor(declared, value, parent)
    return TextEditor(declared, value, parent)

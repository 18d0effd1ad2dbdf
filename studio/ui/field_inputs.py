"""A request field's input widget, made from its declaration (range, step,
choices and their labels), and the value it shows as the field's value."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from ..engine.request_fields import RequestField
from .settings_store import read_bool, read_int

COMBO_MIN_CHARS = 10  # a combo box's share of the dock's width, in characters


def spin_box(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setAccelerated(True)
    return box


def double_spin_box(
    low: float, high: float, value: float, step: float, decimals: int = 2
) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setValue(value)
    return box


def make_input(f: RequestField) -> QWidget:
    spec = f.spec
    if f.choices:
        combo = QComboBox()
        if f.optional:
            combo.addItem(spec.none_label, None)
        for choice in f.choices:
            combo.addItem(spec.choice_labels.get(choice, choice), choice)
        # Long entries elide instead of widening the dock past the canvas's share.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(COMBO_MIN_CHARS)
        return combo
    if f.kind is bool:
        return QCheckBox(spec.label)
    if f.is_number:
        low = spec.low if spec.panel_low is None else spec.panel_low
        # None (the model's default) starts at the lowest value until a model sets it.
        value = low if f.default is None else f.default
        if f.kind is int:
            return spin_box(int(low), int(spec.high), int(value), int(spec.panel_step),
                            spec.panel_suffix)  # fmt: skip
        return double_spin_box(low, spec.high, value, spec.panel_step, spec.panel_decimals)
    return QLineEdit()


def read_input(widget: QWidget, f: RequestField) -> object:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QDoubleSpinBox):
        return round(widget.value(), f.spec.panel_decimals)
    if isinstance(widget, QSpinBox):
        return widget.value()
    assert isinstance(widget, QLineEdit)
    return widget.text()


def write_input(widget: QWidget, f: RequestField, value: object) -> None:
    """Shows `value`; None (the model's default) leaves a number as it is."""
    if isinstance(widget, QComboBox):
        text = None if value is None else str(value)
        widget.setCurrentIndex(max(widget.findData(text), 0))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        if value is not None:
            widget.setValue(value)
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))


def read_setting(settings: QSettings, key: str, f: RequestField, fallback: object) -> object:
    """The field's value saved under `key`; `fallback` when there is none, and
    the field's default when a choice is not one (an older or hand-edited file)."""
    if not settings.contains(key):
        return fallback
    if f.choices:
        text = str(settings.value(key))
        return text if text in f.choices else f.default
    if f.kind is bool:
        return read_bool(settings, key, bool(fallback))
    if f.kind is int:
        return read_int(settings, key, fallback)
    if f.kind is float:
        try:
            value = float(settings.value(key))
        except (TypeError, ValueError):
            return fallback
        return value if value == value else fallback  # NaN
    text = str(settings.value(key))
    return f.default if not text and f.default is not dataclasses.MISSING else text


def saved_value(value: object) -> object:
    """What the settings file holds for a value: a choice's text, "" for None."""
    return "" if value is None else getattr(value, "value", value)

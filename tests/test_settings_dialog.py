"""The preferences dialog: every choice can be read whole, at the dialog's
default size and at its minimum size, in both tabs."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)

from studio.ui.settings_dialog import SettingsDialog
from studio.ui.settings_store import AppPreferences, open_settings
from studio.ui.theme import THEMES


def _clipped(page: QWidget) -> list[str]:
    """Texts on the page that do not fit the room their widget has."""
    clipped = []
    for combo in page.findChildren(QComboBox):
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        room = combo.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            combo,
        )
        for index in range(combo.count()):
            text = combo.itemText(index)
            if combo.fontMetrics().horizontalAdvance(text) > room.width():
                clipped.append(f"combo item {text!r} ({room.width()} px)")
    for widget in page.findChildren(QLabel) + page.findChildren(QAbstractButton):
        if not widget.isVisible():
            continue
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.height() < widget.heightForWidth(widget.width()):  # lines cut off
                clipped.append(f"the last lines of {widget.text()!r}")
        elif widget.width() < widget.sizeHint().width():
            clipped.append(f"{type(widget).__name__} {widget.text()!r}")
    return clipped


@pytest.mark.parametrize("size", ["default", "minimum"])
def test_every_choice_fits(qtbot, size):
    dialog = SettingsDialog(AppPreferences())
    qtbot.addWidget(dialog)
    dialog.show()
    if size == "minimum":
        dialog.resize(1, 1)  # Qt stops at the dialog's minimum size
        qtbot.waitUntil(lambda: dialog.size() == dialog.minimumSize(), timeout=2000)
    for tab in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(tab)
        qtbot.wait(10)
        assert _clipped(dialog.tabs.widget(tab)) == [], dialog.tabs.tabText(tab)


def test_short_labels_keep_their_explanation_as_tooltips(qtbot):
    dialog = SettingsDialog(AppPreferences())
    qtbot.addWidget(dialog)
    combo = dialog.fast_cpu
    explained = [combo.itemData(i, 3) for i in range(combo.count())]  # Qt.ToolTipRole
    assert all(explained) and "native bf16" in " ".join(explained)
    assert combo.toolTip() == combo.itemData(combo.currentIndex(), 3)


def test_the_theme_choices_are_the_themes_and_an_unknown_one_is_not_kept(qtbot, tmp_path):
    dialog = SettingsDialog(AppPreferences(theme="light"))
    qtbot.addWidget(dialog)
    offered = {
        dialog.theme.itemData(i): dialog.theme.itemText(i) for i in range(dialog.theme.count())
    }
    assert offered == THEMES
    assert dialog.preferences().theme == "light"
    settings = open_settings(tmp_path / "settings.ini")
    settings.setValue("ui/theme", "solarized")
    assert AppPreferences.load(settings).theme == AppPreferences().theme
    settings.setValue("ui/theme", "light")
    assert AppPreferences.load(settings).theme == "light"

"""The preferences dialog: every choice can be read whole, at the dialog's
default size and at its minimum size, in both tabs."""

from __future__ import annotations

import pytest
from option_values import every_option_changed
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)

from studio.option_spec import value_at
from studio.ui.preferences import Preferences, WindowOptions
from studio.ui.settings_dialog import SettingsDialog, shown_fields
from studio.ui.settings_store import load_preferences, open_store, stored_fields
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
    dialog = SettingsDialog(Preferences())
    qtbot.addWidget(dialog)
    dialog.show()
    # The token row's status comes from a keyring thread; measured before it
    # arrives, a page is caught between the new text and its new layout.
    qtbot.waitUntil(dialog.hub_token.save_button.isEnabled, timeout=5000)
    if size == "minimum":
        dialog.resize(1, 1)  # Qt stops at the dialog's minimum size
        qtbot.waitUntil(lambda: dialog.size() == dialog.minimumSize(), timeout=2000)
    for tab in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(tab)
        qtbot.wait(10)
        assert _clipped(dialog.tabs.widget(tab)) == [], dialog.tabs.tabText(tab)


def test_short_labels_keep_their_explanation_as_tooltips(qtbot):
    dialog = SettingsDialog(Preferences())
    qtbot.addWidget(dialog)
    combo = dialog.editor("engine.fast_cpu")
    explained = [combo.itemData(i, 3) for i in range(combo.count())]  # Qt.ToolTipRole
    assert all(explained) and "native bf16" in " ".join(explained)
    assert combo.toolTip() == combo.itemData(combo.currentIndex(), 3)


def test_the_theme_choices_are_the_themes_and_an_unknown_one_is_not_kept(qtbot, tmp_path):
    dialog = SettingsDialog(Preferences(window=WindowOptions(theme="light")))
    qtbot.addWidget(dialog)
    theme = dialog.editor("window.theme")
    offered = {theme.itemData(i): theme.itemText(i) for i in range(theme.count())}
    assert offered == THEMES
    assert dialog.preferences().window.theme == "light"
    store = open_store(tmp_path / "settings.ini")
    store.setValue("ui/theme", "solarized")
    assert load_preferences(store).window.theme == Preferences().window.theme
    store.setValue("ui/theme", "light")
    assert load_preferences(store).window.theme == "light"


def test_every_setting_with_a_box_is_shown_and_comes_back_as_shown(qtbot):
    """The rows come from the declarations: each stored option that names a box
    has a control there, and the dialog returns exactly what it was given."""
    shown = [(path, d) for path, d, _group in shown_fields(Preferences)]
    with_box = [p for p, _k, d in stored_fields(Preferences) if d.spec.group]
    assert set(with_box) <= {p for p, _d in shown}
    chosen = every_option_changed(Preferences(), shown)
    dialog = SettingsDialog(chosen)
    qtbot.addWidget(dialog)
    for path, _d in shown:
        assert dialog.editor(path) is not None, path
    returned = dialog.preferences()
    for path, _d in shown:
        assert value_at(returned, path) == value_at(chosen, path), path
    assert returned == chosen
    plain = SettingsDialog(Preferences())
    qtbot.addWidget(plain)
    assert plain.preferences() == Preferences()


def test_the_hugging_face_token_goes_to_the_keyring_never_the_settings(
    qtbot, memory_keyring, tmp_path, monkeypatch
):
    from studio.keychain import KEYRING_SERVICE
    from studio.ui.settings_store import save_preferences

    monkeypatch.delenv("HF_TOKEN", raising=False)
    dialog = SettingsDialog(Preferences())
    qtbot.addWidget(dialog)
    box = dialog.hub_token
    qtbot.waitUntil(lambda: box.save_button.isEnabled(), timeout=5000)
    assert box.status.text().startswith("No token")
    assert '<a href="https://huggingface.co/settings/tokens">' in box.status.text()
    assert not box.forget_button.isEnabled()  # nothing saved: nothing to forget
    box.field.setText("  hf_secret\n")
    box.save_button.click()
    qtbot.waitUntil(lambda: "saved in the system keyring" in box.status.text(), timeout=5000)
    assert box.field.text() == ""
    assert box.forget_button.isEnabled()
    assert memory_keyring.secrets == {(KEYRING_SERVICE, "hf-token"): "hf_secret"}
    store = open_store(tmp_path / "settings.ini")
    save_preferences(dialog.preferences(), store)
    store.sync()
    assert "hf_secret" not in (tmp_path / "settings.ini").read_text()
    box.forget_button.click()
    qtbot.waitUntil(lambda: box.status.text().startswith("Token removed."), timeout=5000)
    assert memory_keyring.secrets == {}


def test_with_no_keyring_the_token_box_says_where_a_token_goes_instead(qtbot, monkeypatch):
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    monkeypatch.delenv("HF_TOKEN", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())  # as on a machine with no password store
    try:
        dialog = SettingsDialog(Preferences())
        qtbot.addWidget(dialog)
        box = dialog.hub_token
        qtbot.waitUntil(lambda: box.save_button.isEnabled(), timeout=5000)
        assert box.status.text().startswith(
            "Tokens are kept in the system keyring, but this system has no keyring "
            "(password store) available. Set HF_TOKEN in the environment instead. No token"
        )
        assert not box.forget_button.isEnabled()
        box.field.setText("hf_pasted")
        box.save_button.click()
        qtbot.waitUntil(lambda: box.status.text().startswith("Could not save"), timeout=5000)
        assert box.field.text() == "hf_pasted"  # not saved: the user keeps what they pasted
    finally:
        keyring.set_keyring(previous)


def test_a_token_pasted_while_the_keyring_is_read_stays_in_the_field(
    qtbot, memory_keyring, monkeypatch
):
    import threading

    monkeypatch.delenv("HF_TOKEN", raising=False)
    unlocked = threading.Event()  # a locked keychain answers once the user unlocks it
    answer = memory_keyring.get_password
    monkeypatch.setattr(
        memory_keyring, "get_password", lambda *a: (unlocked.wait(10), answer(*a))[1]
    )
    dialog = SettingsDialog(Preferences())
    qtbot.addWidget(dialog)
    box = dialog.hub_token
    box.field.setText("hf_pasted")  # before the keyring answered
    unlocked.set()
    qtbot.waitUntil(box.save_button.isEnabled, timeout=5000)
    assert box.field.text() == "hf_pasted"  # only a save clears it

"""The window's looks in both themes: drawn icons follow the palette, the
layer being painted and the active theme are marked, message bars can be
read, and no text needs a glyph that common fonts lack."""

from __future__ import annotations

import gc
import inspect

import numpy as np
import pytest
from PySide6.QtGui import QAction, QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from studio.canvas import CanvasToolBar
from studio.canvas import icons as canvas_icons
from studio.engine.request import GenerationRequest
from studio.mercury.conversation import ReplyState
from studio.ui import icons as ui_icons
from studio.ui.main_window import MainWindow
from studio.ui.message_bar import MessageBar
from studio.ui.settings_store import open_store
from studio.ui.theme import ACCENT, THEMES, apply_theme
from tests.canvas_helpers import make_view

# What every desktop UI font draws (a part of WGL4): Latin-1 and common
# punctuation. Symbols beyond it (⏳ ⟳ ⚙ ✕ ↶ ▍) show as empty boxes on many systems.
BASIC_GLYPHS = (
    {chr(c) for c in range(0x20, 0x7F)}
    | {chr(c) for c in range(0xA0, 0x100)}
    | set("\n\t–—‘’“”•…·×€←↑→↓")
)


@pytest.fixture
def theme(qapp):
    """Applies a theme; puts the app's look back afterwards."""
    style, sheet, palette = qapp.style().name(), qapp.styleSheet(), qapp.palette()
    yield lambda name: apply_theme(qapp, name)
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setStyle(style)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, theme):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    theme("dark")
    w = MainWindow(open_store(tmp_path / "settings.ini"), start_engine=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    array = np.frombuffer(image.constBits(), np.uint8)
    return array.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()]


def _ink_lightness(icon: QIcon, mode: QIcon.Mode = QIcon.Mode.Normal) -> float:
    """Mean lightness of the icon's opaque grey pixels (its ink, not the mask's red)."""
    rgba = _pixels(icon.pixmap(48, mode).toImage()).reshape(-1, 4).astype(int)
    rgb = rgba[:, :3]
    ink = rgb[(rgba[:, 3] > 200) & (np.ptp(rgb, axis=1) < 24)]
    assert len(ink), "the icon has no ink"
    return float(ink.mean())


def _drawn_icons() -> dict[str, QIcon]:
    return {
        f"{module.__name__}.{name}": factory()
        for module in (canvas_icons, ui_icons)
        for name, factory in inspect.getmembers(module, inspect.isfunction)
        if name.endswith("_icon")
        and name not in ("_icon", "drawn_icon")
        and factory.__module__ == module.__name__
    }


def test_drawn_icons_follow_a_theme_switch(qapp, theme):
    theme("dark")
    made_in_dark = _drawn_icons()
    assert len(made_in_dark) >= 18
    for name, icon in made_in_dark.items():
        assert _ink_lightness(icon) > 180, name  # light ink on the dark background
    theme("light")  # the View menu's switch: the same icon objects, now on light grey
    for name, icon in made_in_dark.items():
        normal = _ink_lightness(icon)
        assert normal < 70, name
        assert _ink_lightness(icon, QIcon.Mode.Disabled) > normal + 40, name  # greyed out


@pytest.mark.slow
def test_a_changed_copy_of_a_drawn_icon_outlives_the_original(qapp, theme):
    """Changing a copy makes Qt clone the engine; the clone must not be freed by Python."""
    theme("dark")
    original = canvas_icons.brush_icon()
    copy = QIcon(original)
    copy.addPixmap(QPixmap(8, 8))  # detaches: Qt calls clone()
    del original
    gc.collect()
    assert _ink_lightness(copy) > 180


@pytest.mark.parametrize("name", list(THEMES))
def test_the_layer_being_painted_is_marked_in_the_highlight_colour(qtbot, theme, name):
    theme(name)
    view = make_view(qtbot)
    toolbar = CanvasToolBar(view)
    qtbot.addWidget(toolbar)
    toolbar.show()
    sketch, mask = toolbar.paint_sketch, toolbar.paint_mask
    for chosen, other in ((mask, sketch), (sketch, mask)):
        chosen.click()
        assert chosen.isChecked() and not other.isChecked()
        on = np.median(_pixels(chosen.grab().toImage())[..., :3].reshape(-1, 3), axis=0)
        off = np.median(_pixels(other.grab().toImage())[..., :3].reshape(-1, 3), axis=0)
        accent = np.array([int(ACCENT[i : i + 2], 16) for i in (1, 3, 5)])
        assert np.abs(on - accent).max() < 30, (on, off)
        assert np.abs(on - off).max() > 100, (on, off)


def _contrast(a: np.ndarray, b: np.ndarray) -> float:
    """WCAG contrast ratio of two sRGB colours."""

    def luminance(rgb: np.ndarray) -> float:
        c = rgb / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("name", list(THEMES))
@pytest.mark.parametrize("level", ["error", "info"])
def test_message_bars_can_be_read(qtbot, theme, name, level):
    theme(name)
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.resize(420, 60)
    bar.show_message("Mercury did not accept the API key (401). Check it and try again.", level)
    shown = bar.grab(bar.label.geometry()).toImage()  # the text on the bar's background
    rgb = _pixels(shown)[..., :3].reshape(-1, 3).astype(float)
    colours, counts = np.unique(rgb, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    # The text's own colour is the commonest of the pixels far from the background: glyph
    # edges blend the two (and carry colour fringes where the font is subpixel-rendered).
    distance = np.abs(colours - background).sum(axis=1)
    inked = distance >= distance.max() / 2
    text = colours[inked][counts[inked].argmax()]
    assert _contrast(text, background) >= 4.5, (name, level, background, text)
    # The bar has its own tint, not the window's background.
    window = QApplication.palette().color(QPalette.ColorRole.Window).getRgb()[:3]
    assert np.abs(background - np.array(window)).max() > 8


@pytest.mark.slow
def test_the_view_menu_marks_the_active_theme(qapp, window):
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    themes = {
        a.text().replace("&", ""): a for a in view_menu.actions() if a.text().endswith("theme")
    }
    assert set(themes) == {"Dark theme", "Light theme"}
    assert all(a.isCheckable() and a.actionGroup().isExclusive() for a in themes.values())
    assert themes["Dark theme"].isChecked() and not themes["Light theme"].isChecked()
    themes["Light theme"].trigger()
    assert themes["Light theme"].isChecked() and not themes["Dark theme"].isChecked()
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 200
    assert window.store.value("ui/theme") == "light"
    # The tool icons made in the dark theme now read on the light background.
    brush = window.view.canvas_actions.brush.icon()
    assert _ink_lightness(brush) < 70
    window.apply_preferences(window.prefs)  # a settings change re-applies the same theme
    assert themes["Light theme"].isChecked() and not themes["Dark theme"].isChecked()


def _visible_texts(window: QWidget) -> dict[str, str]:
    """Every text the window can show (labels, buttons, tips, lists, menus)."""
    texts: dict[str, str] = {}
    for widget in [window, *window.findChildren(QWidget)]:
        kind = f"{type(widget).__name__} {widget.objectName()}"
        texts[f"tooltip of {kind}"] = widget.toolTip()
        if isinstance(widget, QLabel | QAbstractButton):
            texts[f"text of {kind}"] = widget.text()
        if isinstance(widget, QLineEdit | QPlainTextEdit | QTextEdit):
            texts[f"placeholder of {kind}"] = widget.placeholderText()
        if isinstance(widget, QPlainTextEdit | QTextEdit):
            texts[f"content of {kind}"] = widget.toPlainText()
        if isinstance(widget, QListWidget):
            for row in range(widget.count()):
                texts[f"row {row} of {kind}"] = widget.item(row).text()
    for action in window.findChildren(QAction):
        texts[f"action {action.text()}"] = action.text() + action.toolTip()
    return texts


def test_no_text_needs_a_glyph_that_common_fonts_lack(window):
    job = GenerationRequest(prompt="a lighthouse at dusk")
    window.queue_view.show_jobs((1, job), [(2, job), (3, job)])
    chat = window.mercury
    chat.conversation.add_user("three prompts")
    chat.conversation.start_reply("mercury-2").text = "1. a cabin"  # still streaming
    chat.view.chat_view.render_now()
    chat.view.notice.show_message("Something to dismiss.", "info")
    missing = {
        where: sorted(set(text) - BASIC_GLYPHS)
        for where, text in _visible_texts(window).items()
        if set(text) - BASIC_GLYPHS
    }
    assert not missing
    assert chat.conversation.messages[-1].state is ReplyState.STREAMING
    # Waiting and running jobs are marked with drawn icons instead.
    rows = [window.queue_view.list.item(i) for i in range(3)]
    assert all(not row.icon().isNull() for row in rows)
    assert rows[0].toolTip().startswith("Running") and rows[1].toolTip().startswith("Waiting")


@pytest.mark.slow
@pytest.mark.parametrize(("first", "then"), [("light", "dark"), ("dark", "light")])
def test_the_saved_folder_link_can_be_read_after_a_theme_switch(
    qtbot, theme, tmp_path, first, then
):
    from studio.ui.status_line import StatusLine

    theme(first)
    line = StatusLine()
    qtbot.addWidget(line)
    line.resize(600, 24)
    line.say_saved("Saved", tmp_path / "picture.png")
    line.show()
    QApplication.processEvents()
    theme(then)
    QApplication.processEvents()
    palette = QApplication.palette()
    link = np.array(palette.color(QPalette.ColorRole.Link).getRgb()[:3])
    window = np.array(palette.color(QPalette.ColorRole.Window).getRgb()[:3])
    assert _contrast(link.astype(float), window.astype(float)) >= 4.5, (then, link)
    rgb = _pixels(line.grab().toImage())[..., :3].reshape(-1, 3).astype(int)
    # the link is drawn in the new theme's link colour (underline and glyph cores)
    near = (np.abs(rgb - link).max(axis=1) < 12).sum()
    assert near > 20, (link, near)


@pytest.mark.parametrize("name", sorted(THEMES))
def test_mercury_links_are_in_the_themes_link_colour(qtbot, theme, name):
    """Links are text: they take the theme's link colour (6:1 on the light
    window), not the accent that fills buttons (2.9:1 there)."""
    from PySide6.QtGui import QTextCursor, QTextDocument

    from studio.mercury.conversation import ChatMessage
    from studio.mercury.keys import KeyLookup
    from studio.mercury.settings import INCEPTION_BASE_URL, MercurySettings
    from studio.ui.mercury_chat_document import ChatColors, write_message
    from studio.ui.mercury_options import MercuryOptions

    theme(name)
    link = QApplication.palette().color(QPalette.ColorRole.Link).name()  # light: not the accent

    document = QTextDocument()
    answer = ChatMessage("assistant", "Three prompts:\n\n1. a cabin\n2. a lake", model="m")
    write_message(QTextCursor(document), 0, answer, ChatColors.from_palette(QApplication.palette()))
    anchors = []
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().isAnchor():
                anchors.append((fragment.text(), fragment.charFormat().foreground().color().name()))
            fragments += 1
        block = block.next()
    assert [text for text, _ in anchors] == ["Use as prompt", "use", "use"]
    assert {colour for _, colour in anchors} == {link}

    options = MercuryOptions(MercurySettings())
    qtbot.addWidget(options)
    options.show_key_status(INCEPTION_BASE_URL, KeyLookup(None))
    assert f'style="color:{link};">get one from Inception</a>' in options.key_label.text()


def test_dialog_buttons_carry_no_icon_theme_pictures(qapp, theme):
    """A desktop's icon theme draws its dialog-button icons for one palette (a
    black cross on the dark Close button); the app's style leaves them out."""
    import gc

    from PySide6.QtWidgets import QProxyStyle, QStyle

    from studio.ui import theme as themes

    hint = QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons

    class DesktopWithIcons(QProxyStyle):  # what xcb's generic Unix theme answers
        def styleHint(self, asked, option=None, widget=None, returnData=None) -> int:
            return 1 if asked == hint else super().styleHint(asked, option, widget, returnData)

    assert DesktopWithIcons("Fusion").styleHint(hint) == 1
    assert themes._Style(DesktopWithIcons("Fusion")).styleHint(hint) == 0
    theme("dark")
    gc.collect()  # the override must outlive its Python wrapper's first owner
    # (app.style() is the style sheet's wrapper around it)
    assert isinstance(qapp.property("studio_style"), themes._Style)

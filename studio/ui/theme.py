"""Light and dark looks: Qt's Fusion style with our palette and a small style sheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle

ACCENT = "#4f8cff"

_COLORS = {
    "dark": {
        "window": "#23252a",
        "base": "#1b1d21",
        "alt": "#2a2d33",
        "text": "#e6e6e6",
        "button": "#2f3238",
        "highlight": ACCENT,
        "link": ACCENT,
        "hint": "#9aa0aa",
        "warning": "#ffb454",
        "border": "#3a3e45",
        # Message bars: a tint of the background with text that reads on it.
        "error_bg": "#5c2326",
        "error_text": "#ffd9d9",
        "info_bg": "#20364f",
        "info_text": "#d6e7ff",
        "checked_bg": "#2c4674",
    },
    "light": {
        "window": "#f3f4f6",
        "base": "#ffffff",
        "alt": "#eceef1",
        "text": "#1d1f23",
        "button": "#e7e9ed",
        "highlight": ACCENT,
        # the accent reads at 2.9:1 on the light window; links are text and want 4.5:1
        "link": "#1a56c4",
        "hint": "#5f6670",
        "warning": "#b45f00",
        "border": "#c9cdd3",
        "error_bg": "#fbe0df",
        "error_text": "#7a1a1a",
        "info_bg": "#dde9fb",
        "info_text": "#123a6b",
        "checked_bg": "#d3e2ff",
    },
}

# The looks a user can choose, by the name menus and settings show.
THEMES = {name: name.capitalize() for name in _COLORS}


def warning_color(palette: QPalette) -> str:
    """The warning colour of the theme a palette belongs to, told apart by its
    base (rich text has no palette role for it)."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return _COLORS["dark" if dark else "light"]["warning"]


_SHEET = """
QGroupBox {{ border: 1px solid {border}; border-radius: 6px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {hint}; }}
QPushButton {{ padding: 5px 12px; border-radius: 5px; border: 1px solid {border};
              background: {button}; }}
QPushButton:disabled {{ color: {hint}; }}
QPushButton#primary {{ background: {highlight}; color: white; border: none; font-weight: 600;
                      padding: 8px 14px; }}
QPushButton#primary:hover {{ background: #6a9fff; }}
QLabel#hint {{ color: {hint}; }}
QLabel[warning="true"] {{ color: {warning}; }}
QLabel#edgePreview {{ background: black; border: 1px solid {border}; border-radius: 4px; }}
QFrame#messageBar {{ border-radius: 6px; padding: 2px; }}
QFrame#messageBar[level="error"] {{ background: {error_bg}; }}
QFrame#messageBar[level="error"] QLabel {{ color: {error_text}; }}
QFrame#messageBar[level="info"] {{ background: {info_bg}; }}
QFrame#messageBar[level="info"] QLabel {{ color: {info_text}; }}
QToolButton#layerToggle {{ padding: 3px 10px; border: 1px solid {border}; background: {button}; }}
QToolButton#layerToggle:checked {{ background: {highlight}; border-color: {highlight};
                                  color: white; font-weight: 600; }}
QToolButton#canvasTool:checked {{ background: {checked_bg}; border: 1px solid {highlight};
                                 border-radius: 4px; }}
QDockWidget::title {{ padding: 4px 6px; background: {alt}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
"""


class _Style(QProxyStyle):
    """Fusion, without the desktop icon theme's pictures on dialog buttons: those
    are drawn for one palette (a black ✕ on the dark theme's Close button)."""

    def styleHint(self, hint, option=None, widget=None, returnData=None) -> int:
        if hint == QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons:
            return 0
        return super().styleHint(hint, option, widget, returnData)


def apply_theme(app: QApplication, name: str) -> None:
    colors = _COLORS.get(name, _COLORS["dark"])
    style = _Style("Fusion")
    app.setStyle(style)
    # Qt owns the style now, but its Python half must live on, or Qt stops
    # calling the styleHint above once the wrapper is collected.
    app.setProperty("studio_style", style)
    palette = QPalette()
    role = QPalette.ColorRole
    palette.setColor(role.Window, QColor(colors["window"]))
    palette.setColor(role.WindowText, QColor(colors["text"]))
    palette.setColor(role.Base, QColor(colors["base"]))
    palette.setColor(role.AlternateBase, QColor(colors["alt"]))
    palette.setColor(role.Text, QColor(colors["text"]))
    palette.setColor(role.Button, QColor(colors["button"]))
    palette.setColor(role.ButtonText, QColor(colors["text"]))
    palette.setColor(role.Highlight, QColor(colors["highlight"]))
    palette.setColor(role.Link, QColor(colors["link"]))  # links in answers, messages
    palette.setColor(role.LinkVisited, QColor(colors["link"]))
    palette.setColor(role.HighlightedText, QColor("#ffffff"))
    palette.setColor(role.ToolTipBase, QColor(colors["alt"]))
    palette.setColor(role.ToolTipText, QColor(colors["text"]))
    palette.setColor(role.PlaceholderText, QColor(colors["hint"]))
    disabled = QPalette.ColorGroup.Disabled
    palette.setColor(disabled, role.WindowText, QColor(colors["hint"]))  # disabled icons too
    palette.setColor(disabled, role.Text, QColor(colors["hint"]))
    palette.setColor(disabled, role.ButtonText, QColor(colors["hint"]))
    app.setPalette(palette)
    app.setStyleSheet(_SHEET.format(**colors))

"""The tool options panel the window docks beside the canvas: tools, brush
settings, mask actions, layer visibility and history. It edits the view's
ToolSettings and document through their public API only."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, QSize, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .layers import LAYER_ORDER, LayerName
from .tools import MAX_BRUSH_SIZE, MIN_BRUSH_SIZE
from .view import CanvasView

SLIDER_STEPS = 1000
ICON_SIZE = QSize(26, 26)
HISTORY_ICON_SIZE = QSize(18, 18)


def size_to_slider(size: int) -> int:
    # Square-root scale: fine steps among small brushes, where they matter.
    fraction = (size - MIN_BRUSH_SIZE) / (MAX_BRUSH_SIZE - MIN_BRUSH_SIZE)
    return round(math.sqrt(max(0.0, fraction)) * SLIDER_STEPS)


def slider_to_size(position: int) -> int:
    fraction = (position / SLIDER_STEPS) ** 2
    return round(MIN_BRUSH_SIZE + fraction * (MAX_BRUSH_SIZE - MIN_BRUSH_SIZE))


class CanvasToolBar(QWidget):
    """A vertical panel; every control has a tooltip naming its shortcut."""

    def __init__(self, view: CanvasView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._settings = view.settings
        self._document = view.document
        actions = view.canvas_actions
        self.setObjectName("canvasToolBar")
        # The panel's own shortcuts work while it has focus, like the canvas's.
        self.addActions(actions.all())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(8)
        layout.addWidget(self._tools_box())
        layout.addWidget(self._brush_box())
        layout.addWidget(self._mask_box())
        layout.addWidget(self._layers_box())
        layout.addWidget(self._history_box())
        layout.addStretch(1)

        settings = self._settings
        settings.size_changed.connect(self._show_size)
        settings.hardness_changed.connect(lambda value: self._set_slider(self.hardness, value))
        settings.opacity_changed.connect(lambda value: self._set_slider(self.opacity, value))
        settings.color_changed.connect(self._show_color)
        settings.target_changed.connect(self._show_target)
        self._document.visibility_changed.connect(self._show_visibility)
        self._show_size(settings.size)
        self._set_slider(self.hardness, settings.hardness)
        self._set_slider(self.opacity, settings.opacity)
        self._show_color(settings.color)
        self._show_target(settings.target)

    # -- sections ------------------------------------------------------------

    def _tools_box(self) -> QGroupBox:
        box = QGroupBox("Tools")
        grid = QGridLayout(box)
        actions = self._view.canvas_actions
        for column, action in enumerate(
            (actions.brush, actions.mask_brush, actions.eraser, actions.picker)
        ):
            button = _tool_button(action)
            button.setObjectName("canvasTool")  # the app theme marks the chosen tool
            grid.addWidget(button, 0, column)
        # Which layer the brush and the eraser work on.
        self.paint_sketch = _toggle("Sketch", "Brush and eraser work on the sketch (B)")
        self.paint_mask = _toggle("Mask", "Brush and eraser work on the mask (M)")
        group = QButtonGroup(box)
        group.setExclusive(True)
        for button, target in (
            (self.paint_sketch, LayerName.SKETCH),
            (self.paint_mask, LayerName.MASK),
        ):
            group.addButton(button)
            button.clicked.connect(lambda _=False, t=target: setattr(self._settings, "target", t))
        row = QHBoxLayout()
        row.setSpacing(0)
        row.addWidget(QLabel("Layer"))
        row.addSpacing(8)
        row.addWidget(self.paint_sketch, 1)
        row.addWidget(self.paint_mask, 1)
        grid.addLayout(row, 1, 0, 1, 4)
        return box

    def _brush_box(self) -> QGroupBox:
        box = QGroupBox("Brush")
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        self.size = QSlider(Qt.Orientation.Horizontal)
        self.size.setRange(0, SLIDER_STEPS)
        self.size.valueChanged.connect(
            lambda position: setattr(self._settings, "size", slider_to_size(position))
        )
        self.size_box = QSpinBox()
        self.size_box.setRange(MIN_BRUSH_SIZE, MAX_BRUSH_SIZE)
        self.size_box.setSuffix(" px")
        self.size_box.valueChanged.connect(lambda size: setattr(self._settings, "size", size))
        self.hardness = _percent_slider(lambda v: setattr(self._settings, "hardness", v))
        self.opacity = _percent_slider(lambda v: setattr(self._settings, "opacity", v))
        self.hardness_label, self.opacity_label = QLabel(), QLabel()
        self.color_button = QToolButton()
        self.color_button.setIconSize(QSize(40, 18))
        self.color_button.setToolTip("Sketch colour (Alt+click the canvas, or I, to pick one)")
        self.color_button.clicked.connect(self._choose_color)

        rows = [
            ("Size", self.size, self.size_box, "Brush diameter in pixels ([ smaller, ] larger)"),
            ("Hardness", self.hardness, self.hardness_label, "Crisp edge at 100 %, soft at 0 %"),
            ("Opacity", self.opacity, self.opacity_label, "How much one stroke covers"),
        ]
        for row, (name, slider, value, tip) in enumerate(rows):
            label = QLabel(name)
            for widget in (label, slider, value):
                widget.setToolTip(tip)
            grid.addWidget(label, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
        grid.addWidget(QLabel("Colour"), 3, 0)
        grid.addWidget(self.color_button, 3, 1, 1, 2, Qt.AlignmentFlag.AlignLeft)
        return box

    def _mask_box(self) -> QGroupBox:
        box = QGroupBox("Mask")
        row = QHBoxLayout(box)
        actions = self._view.canvas_actions
        for action, text in (
            (actions.fill_mask, "Fill"),
            (actions.clear_mask, "Clear"),
            (actions.invert_mask, "Invert"),
        ):
            button = _tool_button(action, text)
            row.addWidget(button)
        row.addStretch(1)
        return box

    def _layers_box(self) -> QGroupBox:
        box = QGroupBox("Layers")
        grid = QGridLayout(box)
        grid.setColumnStretch(0, 1)
        self.visibility: dict[LayerName, QCheckBox] = {}
        document = self._document
        for row, name in enumerate(reversed(LAYER_ORDER)):  # top layer first, as painters expect
            check = QCheckBox(name.value.capitalize())
            check.setToolTip(f"Show the {name.value} layer")
            check.setChecked(document.is_visible(name))
            check.toggled.connect(lambda on, n=name: document.set_visible(n, on))
            self.visibility[name] = check
            grid.addWidget(check, row, 0)
            clear = QToolButton()
            clear.setText("Clear")
            clear.setToolTip(f"Clear the {name.value} layer (undoable)")
            clear.clicked.connect(lambda _=False, n=name: document.clear_layer(n))
            grid.addWidget(clear, row, 1)
        flatten = _tool_button(self._view.canvas_actions.flatten_sketch, "Flatten")
        grid.addWidget(flatten, list(reversed(LAYER_ORDER)).index(LayerName.SKETCH), 2)
        return box

    def _history_box(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        actions = self._view.canvas_actions
        for action in (actions.undo, actions.redo):
            button = _tool_button(action, action.text())
            button.setIconSize(HISTORY_ICON_SIZE)
            row.addWidget(button, 1)
        return box

    # -- showing the settings ----------------------------------------------------

    def _show_size(self, size: int) -> None:
        with QSignalBlocker(self.size), QSignalBlocker(self.size_box):
            self.size.setValue(size_to_slider(size))
            self.size_box.setValue(size)

    def _set_slider(self, slider: QSlider, value: float) -> None:
        with QSignalBlocker(slider):
            slider.setValue(round(value * 100))
        label = self.hardness_label if slider is self.hardness else self.opacity_label
        label.setText(f"{round(value * 100)} %")

    def _show_color(self, color: QColor) -> None:
        swatch = QPixmap(40, 18)
        swatch.fill(color)
        self.color_button.setIcon(QIcon(swatch))

    def _show_target(self, target: str) -> None:
        button = self.paint_mask if target == LayerName.MASK else self.paint_sketch
        button.setChecked(True)

    def _show_visibility(self, name: str, visible: bool) -> None:
        with QSignalBlocker(self.visibility[LayerName(name)]):
            self.visibility[LayerName(name)].setChecked(visible)

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(self._settings.color, self, "Sketch colour")
        if color.isValid():
            self._settings.color = color


def _tool_button(action: QAction, text: str | None = None) -> QToolButton:
    button = QToolButton()
    button.setDefaultAction(action)
    button.setIconSize(ICON_SIZE)
    button.setAutoRaise(True)
    if text is not None:
        button.setText(text)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return button


def _toggle(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    # The app theme fills the checked one with the highlight colour: a user
    # must see at a glance which layer the brush paints on.
    button.setObjectName("layerToggle")
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(True)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return button


def _percent_slider(apply: Callable[[float], None]) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.valueChanged.connect(lambda value: apply(value / 100))
    return slider

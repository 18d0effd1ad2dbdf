"""The tool options panel: its controls and the tool settings stay in step,
and its buttons act on the document."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton

from studio.canvas import CanvasToolBar, LayerName, Tool
from studio.canvas.toolbar import size_to_slider, slider_to_size
from tests.canvas_helpers import drag, line, make_view


@pytest.fixture
def panel(qtbot):
    view = make_view(qtbot)
    toolbar = CanvasToolBar(view)
    qtbot.addWidget(toolbar)
    toolbar.show()
    return toolbar, view


def click(qtbot, toolbar, action) -> None:
    """Clicks the panel's button for an action, as a user would."""
    buttons = [b for b in toolbar.findChildren(QToolButton) if b.defaultAction() is action]
    assert len(buttons) == 1, action.text()
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)


@pytest.mark.parametrize("size", [1, 2, 7, 24, 100, 333, 500])
def test_the_size_slider_scale_round_trips(size):
    assert slider_to_size(size_to_slider(size)) == size


def test_size_controls_and_settings_stay_in_step(panel):
    toolbar, view = panel
    toolbar.size_box.setValue(60)
    assert view.settings.size == 60
    assert slider_to_size(toolbar.size.value()) == 60
    QTest.keyClick(view, Qt.Key.Key_BracketRight)
    assert toolbar.size_box.value() == 72 and view.settings.size == 72
    toolbar.size.setValue(0)
    assert view.settings.size == 1 and toolbar.size_box.value() == 1


def test_hardness_and_opacity_sliders(panel):
    toolbar, view = panel
    toolbar.hardness.setValue(25)
    toolbar.opacity.setValue(40)
    assert view.settings.hardness == 0.25 and view.settings.opacity == 0.4
    assert toolbar.opacity_label.text() == "40 %"
    view.settings.hardness = 0.9
    assert toolbar.hardness.value() == 90 and toolbar.hardness_label.text() == "90 %"


def test_tool_buttons_and_the_layer_switch(panel, qtbot):
    toolbar, view = panel
    click(qtbot, toolbar, view.canvas_actions.eraser)
    assert view.settings.tool == Tool.ERASER
    qtbot.mouseClick(toolbar.paint_mask, Qt.MouseButton.LeftButton)
    assert view.settings.target == LayerName.MASK and view.settings.tool == Tool.ERASER
    click(qtbot, toolbar, view.canvas_actions.brush)
    assert toolbar.paint_sketch.isChecked() and not toolbar.paint_mask.isChecked()
    click(qtbot, toolbar, view.canvas_actions.mask_brush)
    assert toolbar.paint_mask.isChecked() and view.canvas_actions.mask_brush.isChecked()


def test_mask_buttons_act_on_the_document(panel, qtbot):
    toolbar, view = panel
    click(qtbot, toolbar, view.canvas_actions.fill_mask)
    assert view.document.mask_image().getextrema() == (255, 255)
    click(qtbot, toolbar, view.canvas_actions.invert_mask)
    assert not view.document.has_mask()
    click(qtbot, toolbar, view.canvas_actions.undo)
    assert view.document.has_mask()
    click(qtbot, toolbar, view.canvas_actions.clear_mask)
    assert not view.document.has_mask()


def test_visibility_boxes_hide_layers_both_ways(panel):
    toolbar, view = panel
    toolbar.visibility[LayerName.SKETCH].setChecked(False)
    assert not view.document.is_visible("sketch")
    view.document.set_visible("sketch", True)
    assert toolbar.visibility[LayerName.SKETCH].isChecked()


def test_undo_and_redo_buttons_follow_the_history(panel, qtbot):
    toolbar, view = panel
    assert not view.canvas_actions.undo.isEnabled() and not view.canvas_actions.redo.isEnabled()
    drag(view, line(10, 64, 118, 64))
    assert view.canvas_actions.undo.isEnabled()
    click(qtbot, toolbar, view.canvas_actions.undo)
    assert view.canvas_actions.redo.isEnabled() and not view.canvas_actions.undo.isEnabled()
    assert not view.document.layer_has_content("sketch")


def test_layer_clear_and_flatten_buttons(panel, qtbot):
    toolbar, view = panel
    drag(view, line(10, 64, 118, 64))
    click(qtbot, toolbar, view.canvas_actions.flatten_sketch)
    assert view.document.layer_has_content("image")
    assert not view.document.layer_has_content("sketch")
    clear_image = [
        b
        for b in toolbar.findChildren(QToolButton)
        if b.toolTip().startswith("Clear the image layer")
    ]
    qtbot.mouseClick(clear_image[0], Qt.MouseButton.LeftButton)
    assert not view.document.layer_has_content("image")


def test_picking_a_colour_shows_it_on_the_colour_button(panel):
    toolbar, view = panel
    view.settings.color = QColor(10, 200, 90)
    icon = toolbar.color_button.icon().pixmap(40, 18).toImage()
    assert icon.pixelColor(20, 9) == QColor(10, 200, 90)


def test_every_tool_tip_names_its_shortcut(panel):
    _toolbar, view = panel
    actions = view.canvas_actions
    expected = {
        actions.brush: "(B)",
        actions.eraser: "(E)",
        actions.mask_brush: "(M)",
        actions.picker: "(I)",
        actions.smaller_brush: "([)",
        actions.larger_brush: "(])",
        actions.undo: "(Ctrl+Z)",
        actions.redo: "(Ctrl+Shift+Z)",
    }
    for action, shortcut in expected.items():
        assert shortcut in action.toolTip(), action.toolTip()

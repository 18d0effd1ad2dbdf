"""Painting with the mouse as a person would: strokes, eraser, undo/redo,
brush settings, shortcuts, the colour picker and tablet pressure."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPointingDevice, QTabletEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.canvas import LayerName, Tool
from tests.canvas_helpers import alpha, drag, layer_pixels, line, make_view

MIDDLE = line(10, 64, 118, 64)


@pytest.fixture
def view(qtbot):
    view = make_view(qtbot)
    view.settings.size = 10
    view.settings.hardness = 1.0
    view.settings.color = QColor(200, 30, 40)
    return view


def test_a_stroke_across_the_middle_paints_the_middle_and_not_the_corners(view):
    drag(view, MIDDLE)
    sketch = view.document.layer(LayerName.SKETCH)
    painted = alpha(view.document, "sketch")
    assert painted[64, 20:108].min() == 255
    assert sketch.pixelColor(64, 64) == QColor(200, 30, 40)
    for y, x in ((0, 0), (0, 127), (127, 0), (127, 127), (40, 64), (88, 64)):
        assert painted[y, x] == 0, (x, y)
    assert alpha(view.document, "mask").max() == 0
    assert alpha(view.document, "image").max() == 0


def test_the_eraser_removes_the_stroke(view):
    drag(view, MIDDLE)
    view.settings.select(Tool.ERASER)
    view.settings.size = 30
    drag(view, MIDDLE)
    assert alpha(view.document, "sketch").max() == 0


def test_undo_restores_exactly_and_redo_reapplies(view):
    drag(view, line(20, 20, 100, 100))
    first = layer_pixels(view.document, "sketch")
    drag(view, MIDDLE)
    both = layer_pixels(view.document, "sketch")
    assert view.document.undo_stack.count() == 2  # one command per stroke

    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(layer_pixels(view.document, "sketch"), first)
    QTest.keyClick(
        view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert np.array_equal(layer_pixels(view.document, "sketch"), both)
    view.document.undo()
    view.document.undo()
    assert alpha(view.document, "sketch").max() == 0


def test_mouse_events_far_apart_are_joined_by_a_continuous_line(view):
    drag(view, [(10, 30), (118, 90)])  # one move event for the whole stroke
    painted = alpha(view.document, "sketch")
    for x in range(12, 116):
        y = round(30 + (x - 10) * 60 / 108)
        assert painted[y, x] == 255, (x, y)


def test_opacity_is_the_same_where_a_stroke_crosses_itself(view):
    view.settings.opacity = 0.5
    view.settings.size = 12
    drag(view, [(10, 64), (118, 64), (64, 10), (64, 118)])
    painted = alpha(view.document, "sketch")
    assert painted[64, 30] == pytest.approx(128, abs=1)
    assert painted[64, 64] == pytest.approx(128, abs=1)  # the crossing is no darker


@pytest.mark.parametrize("hardness", [1.0, 0.0])
def test_hardness_sets_how_soft_the_edge_is(view, hardness):
    view.settings.size = 40
    view.settings.hardness = hardness
    drag(view, [(64, 64), (64, 64)])
    profile = alpha(view.document, "sketch")[64, 64:90].astype(int)
    assert profile[0] == 255
    partial = np.count_nonzero((profile > 0) & (profile < 255))
    if hardness == 1.0:
        assert partial <= 2  # anti-aliasing only
        assert profile[18] == 255
    else:
        assert partial >= 12  # fades over most of the radius
        assert 0 < profile[10] < 255


def test_the_mask_brush_paints_the_mask_only(view):
    QTest.keyClick(view, Qt.Key.Key_M)
    assert (view.settings.tool, view.settings.target) == (Tool.BRUSH, LayerName.MASK)
    drag(view, MIDDLE)
    assert alpha(view.document, "sketch").max() == 0
    mask = np.asarray(view.document.mask_image())
    assert mask[64, 64] == 255 and mask[0, 0] == 0
    # The eraser works on the layer last painted: here the mask.
    QTest.keyClick(view, Qt.Key.Key_E)
    view.settings.size = 30
    drag(view, MIDDLE)
    assert not view.document.has_mask()


def test_tool_shortcuts(view):
    QTest.keyClick(view, Qt.Key.Key_E)
    assert view.settings.tool == Tool.ERASER
    QTest.keyClick(view, Qt.Key.Key_I)
    assert view.settings.tool == Tool.PICKER
    QTest.keyClick(view, Qt.Key.Key_B)
    assert (view.settings.tool, view.settings.target) == (Tool.BRUSH, LayerName.SKETCH)
    assert view.canvas_actions.brush.isChecked()


def test_bracket_keys_change_the_brush_size(view):
    view.settings.size = 20
    QTest.keyClick(view, Qt.Key.Key_BracketRight)
    assert view.settings.size == 24
    QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    assert view.settings.size == 17
    view.settings.size = 1
    QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    assert view.settings.size == 1
    QTest.keyClick(view, Qt.Key.Key_BracketRight)
    assert view.settings.size == 2  # small sizes still grow
    view.settings.size = 499
    QTest.keyClick(view, Qt.Key.Key_BracketRight)
    assert view.settings.size == 500


def test_the_brush_size_is_the_painted_diameter(view):
    view.settings.size = 30
    drag(view, [(64, 64), (64, 64)])
    row = alpha(view.document, "sketch")[64]
    assert np.count_nonzero(row > 127) == pytest.approx(30, abs=1)


def test_the_picker_picks_the_colour_under_the_pointer(view, qtbot):
    drag(view, MIDDLE)
    view.settings.color = QColor(0, 0, 255)
    QTest.keyClick(view, Qt.Key.Key_I)
    with qtbot.waitSignal(view.color_picked):
        drag(view, [(64, 64)])
    assert view.settings.color == QColor(200, 30, 40)
    assert view.document.undo_stack.count() == 1  # picking paints nothing
    # Transparent areas pick the paper white; Alt+click picks with any tool.
    QTest.keyClick(view, Qt.Key.Key_B)
    drag(view, [(10, 10)], modifiers=Qt.KeyboardModifier.AltModifier)
    assert view.settings.color == QColor(255, 255, 255)
    assert alpha(view.document, "sketch")[10, 10] == 0


def _tablet(view, kind, x, y, pressure, button=Qt.MouseButton.LeftButton):
    position = view.map_from_document(QPointF(x, y))
    buttons = Qt.MouseButton.NoButton if kind == QTabletEvent.Type.TabletRelease else button
    event = QTabletEvent(
        kind,
        QPointingDevice.primaryPointingDevice(),
        position,
        view.viewport().mapToGlobal(position),
        pressure,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        Qt.KeyboardModifier.NoModifier,
        button,
        buttons,
    )
    QApplication.sendEvent(view.viewport(), event)
    return event


@pytest.mark.parametrize("pressure", [1.0, 0.3])
def test_tablet_pressure_scales_the_brush(view, pressure):
    view.settings.size = 40
    _tablet(view, QTabletEvent.Type.TabletPress, 20, 64, pressure)
    for x in range(24, 110, 4):
        _tablet(view, QTabletEvent.Type.TabletMove, x, 64, pressure)
    _tablet(view, QTabletEvent.Type.TabletRelease, 108, 64, pressure)
    column = alpha(view.document, "sketch")[:, 64]
    assert np.count_nonzero(column > 127) == pytest.approx(40 * pressure, abs=1.5)
    assert view.document.undo_stack.count() == 1


def test_drawing_at_another_zoom_paints_the_same_document_pixels(view):
    # Pixel centres: at whole-number zooms the pointer lands on them exactly.
    stroke = line(30.5, 40.5, 90.5, 80.5, 20)
    view.actual_size()
    drag(view, stroke)
    at_one = layer_pixels(view.document, "sketch")
    assert at_one[:, :, 3].any()
    view.document.undo()
    view.set_zoom(3.0, QPointF(view.map_from_document(QPointF(60, 60))))
    assert view.zoom() == 3.0
    drag(view, stroke)  # the stroke reaches beyond the viewport: still painted
    assert np.array_equal(layer_pixels(view.document, "sketch"), at_one)


def test_a_stroke_emits_layer_signals_once_when_it_ends(view, qtbot):
    counts = {"sketch": 0, "changed": 0, "areas": 0}
    view.document.sketch_changed.connect(lambda: counts.__setitem__("sketch", counts["sketch"] + 1))
    view.document.changed.connect(lambda: counts.__setitem__("changed", counts["changed"] + 1))
    view.document.area_changed.connect(lambda _r: counts.__setitem__("areas", counts["areas"] + 1))
    drag(view, MIDDLE)
    assert counts["sketch"] == 1 and counts["changed"] == 1
    assert counts["areas"] > 5  # the view repaints as the stroke goes


def test_shift_click_draws_a_straight_line_from_the_last_stroke(view):
    drag(view, [(20.5, 20.5)])  # a single dab
    drag(view, [(100.5, 100.5)], modifiers=Qt.KeyboardModifier.ShiftModifier)
    painted = alpha(view.document, "sketch")
    assert all(painted[v, v] == 255 for v in range(20, 101))
    assert painted[20, 100] == 0 and painted[100, 20] == 0
    assert view.document.undo_stack.count() == 2  # the line is one undo step
    view.document.undo()
    assert painted[60, 60] == 255 and alpha(view.document, "sketch")[60, 60] == 0

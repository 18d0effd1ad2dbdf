"""The view: fit, 100 %, wheel zoom about the pointer, panning, the live
preview overlay, dropped and pasted images, and what a user sees."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.canvas.view import MAX_ZOOM
from tests.canvas_helpers import alpha, drag, line, make_view, to_view

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def view(qtbot):
    return make_view(qtbot, 128, 64, view_size=(400, 300))


def wheel(view, at: QPoint, notches: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    event = QWheelEvent(
        QPointF(at),
        QPointF(view.viewport().mapToGlobal(at)),
        QPoint(0, 0),
        QPoint(0, round(120 * notches)),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def screen_color(view, x: float, y: float) -> QColor:
    """The colour the user sees at document point (x, y)."""
    return view.grab().toImage().pixelColor(to_view(view, x, y))


def test_the_document_is_fitted_and_centred_when_shown(view):
    top_left = view.map_from_document(QPointF(0, 0))
    bottom_right = view.map_from_document(QPointF(128, 64))
    viewport = view.viewport().rect()
    assert view.zoom() == pytest.approx(0.94 * 400 / 128, rel=0.01)
    assert top_left.x() > 0 and bottom_right.x() < viewport.width()
    assert top_left.x() == pytest.approx(viewport.width() - bottom_right.x(), abs=2)
    assert top_left.y() == pytest.approx(viewport.height() - bottom_right.y(), abs=2)


def test_fit_follows_the_window_until_the_user_zooms(view, qtbot):
    view.resize(800, 300)
    qtbot.wait(1)
    assert view.zoom() == pytest.approx(0.94 * 300 / 64, rel=0.01)
    QTest.keyClick(view, Qt.Key.Key_1, CTRL)
    assert view.zoom() == 1.0
    view.resize(500, 500)
    assert view.zoom() == 1.0
    QTest.keyClick(view, Qt.Key.Key_0, CTRL)
    assert view.zoom() == pytest.approx(0.94 * 500 / 128, rel=0.01)


@pytest.mark.parametrize("modifiers", [Qt.KeyboardModifier.NoModifier, CTRL])
def test_the_wheel_zooms_about_the_pointer(view, modifiers):
    at = to_view(view, 100, 20)
    under = view.map_to_document(QPointF(at))
    before = view.zoom()
    wheel(view, at, 2, modifiers)
    assert view.zoom() == pytest.approx(before * 1.44)
    assert view.map_to_document(QPointF(at)).x() == pytest.approx(under.x(), abs=0.5)
    assert view.map_to_document(QPointF(at)).y() == pytest.approx(under.y(), abs=0.5)
    wheel(view, at, -2, modifiers)
    assert view.zoom() == pytest.approx(before)


def test_zoom_is_limited(view):
    for _ in range(40):
        QTest.keyClick(view, Qt.Key.Key_Equal, CTRL)
    assert view.zoom() == MAX_ZOOM
    for _ in range(80):
        QTest.keyClick(view, Qt.Key.Key_Minus, CTRL)
    assert view.zoom() == pytest.approx(1 / 32)


def test_space_drag_pans_without_painting(view):
    QTest.keyClick(view, Qt.Key.Key_1, CTRL)
    start = to_view(view, 64, 32)
    QTest.keyPress(view, Qt.Key.Key_Space)
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(view.viewport(), start + QPoint(40, 25))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(40, 25))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    moved = view.map_from_document(QPointF(64, 32))
    assert (round(moved.x() - start.x()), round(moved.y() - start.y())) == (40, 25)
    assert alpha(view.document, "sketch").max() == 0
    assert view.document.undo_stack.count() == 0
    drag(view, line(10, 10, 100, 10))  # space released: the left button paints again
    assert alpha(view.document, "sketch").max() == 255


def test_middle_drag_pans(view):
    before = view.map_from_document(QPointF(0, 0))
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(200, 150))
    QTest.mouseMove(viewport, QPoint(170, 140))
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(170, 140))
    after = view.map_from_document(QPointF(0, 0))
    assert (round(after.x() - before.x()), round(after.y() - before.y())) == (-30, -10)
    assert view.document.undo_stack.count() == 0


def test_the_view_shows_the_layers_a_checkerboard_and_the_mask_in_red(view):
    assert screen_color(view, 3, 3) in (QColor(255, 255, 255), QColor(226, 226, 226))
    view.document.set_image(Image.new("RGB", (128, 64), (0, 0, 255)), fit="resize")
    assert screen_color(view, 3, 3) == QColor(0, 0, 255)
    view.document.fill_mask()
    tinted = screen_color(view, 3, 3)
    assert tinted.red() > 80 and tinted.blue() < 200  # translucent red over blue
    view.document.set_visible("mask", False)
    assert screen_color(view, 3, 3) == QColor(0, 0, 255)


def test_a_preview_is_drawn_over_the_layers_without_touching_them(view):
    view.document.set_image(Image.new("RGB", (128, 64), (0, 0, 255)), fit="resize")
    image_before = view.document.composed_image()
    preview = QImage(16, 16, QImage.Format.Format_RGB32)
    preview.fill(QColor(255, 128, 0))
    view.set_preview(preview, (64, 0, 128, 64))
    assert view.has_preview()
    assert screen_color(view, 100, 32) == QColor(255, 128, 0)
    assert screen_color(view, 30, 32) == QColor(0, 0, 255)
    assert np.array_equal(np.asarray(view.document.composed_image()), np.asarray(image_before))
    view.set_preview(preview)  # the whole document
    assert screen_color(view, 30, 32) == QColor(255, 128, 0)
    view.clear_preview()
    assert screen_color(view, 100, 32) == QColor(0, 0, 255)


def test_the_busy_region_is_outlined(view):
    view.document.set_image(Image.new("RGB", (128, 64), (0, 0, 255)), fit="resize")
    view.set_busy_region((32, 16, 96, 48))
    edge = view.grab().toImage()
    corner = view.map_from_document(QPointF(32, 16))
    seen = {edge.pixelColor(round(corner.x()) + dx, round(corner.y())).rgb() for dx in range(12)}
    assert QColor(0, 0, 255).rgb() not in seen
    view.set_busy_region(None)
    assert screen_color(view, 40, 16) == QColor(0, 0, 255)


def _drop(view, mime: QMimeData) -> bool:
    at = QPointF(to_view(view, 64, 32))
    enter = QDragEnterEvent(
        at.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view.viewport(), enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(
        at,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view.viewport(), drop)
    return True


def test_dropping_an_image_file_opens_it(view, tmp_path):
    path = tmp_path / "photo.webp"
    Image.new("RGB", (200, 100), (10, 200, 30)).save(path, lossless=True)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    assert _drop(view, mime)
    assert (view.document.width(), view.document.height()) == (200, 96)
    assert view.document.composed_image().getpixel((5, 5)) == (10, 200, 30)


def test_dropping_something_else_is_refused_and_a_broken_image_is_a_message(view, tmp_path, qtbot):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    assert not _drop(view, mime)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(broken))])
    with qtbot.waitSignal(view.error_occurred) as blocker:
        assert _drop(view, mime)
    assert "broken.png" in blocker.args[0]
    assert view.document.undo_stack.count() == 0


def test_copy_and_paste_through_the_clipboard(view, qtbot):
    clipboard = QGuiApplication.clipboard()
    picture = QImage(40, 24, QImage.Format.Format_RGB32)
    picture.fill(QColor(200, 10, 10))
    clipboard.setImage(picture)
    QTest.keyClick(view, Qt.Key.Key_V, CTRL)
    assert (view.document.width(), view.document.height()) == (40, 24)
    assert view.document.composed_image().getpixel((20, 12)) == (200, 10, 10)
    view.settings.size = 4
    drag(view, line(2, 12, 38, 12))
    QTest.keyClick(view, Qt.Key.Key_C, CTRL)
    copied = clipboard.image()
    assert copied.size() == picture.size()
    assert copied.pixelColor(20, 12) == QColor(20, 20, 20)  # the sketch stroke is in it
    assert copied.pixelColor(20, 2) == QColor(200, 10, 10)
    clipboard.clear()
    with qtbot.waitSignal(view.error_occurred) as blocker:
        QTest.keyClick(view, Qt.Key.Key_V, CTRL)
    assert "no image" in blocker.args[0]


def test_the_views_own_actions_list_is_qts_and_holds_the_canvas_actions(view):
    """CanvasView.actions() is QWidget's list, not shadowed by the canvas's
    action set: Qt and anything asking a widget for its actions see them."""
    listed = view.actions()
    assert view.canvas_actions.undo in listed and view.canvas_actions.brush in listed
    assert set(view.canvas_actions.all()) <= set(listed)

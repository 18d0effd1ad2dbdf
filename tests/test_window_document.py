"""The canvas document as the window's file: its name and unsaved mark in the
title, asking before unsaved work is lost (quit, new, open), saving with the
folder in the status bar, and a first document at the model's own size."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QObject, QSize, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from studio.canvas import BrushSpec, CanvasDocument
from studio.ui.main_window import MainWindow
from studio.ui.settings_store import open_store

Button = QMessageBox.StandardButton


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    w = MainWindow(open_store(tmp_path / "settings.ini"), start_engine=False)
    # Whatever a test left on the canvas: close without asking.
    qtbot.addWidget(w, before_close_func=lambda w: w.document.undo_stack.setClean())
    w.show()
    return w


class Answers:
    """Answers the window's questions (real QMessageBoxes) as a user would,
    recording what each one asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def next(self, button: Button) -> None:
        def click() -> None:
            box = QApplication.activeModalWidget()
            if not isinstance(box, QMessageBox):
                QTimer.singleShot(10, click)  # not up yet
                return
            self.asked.append(box.text())
            box.button(button).click()

        QTimer.singleShot(0, click)

    def accept_dialog(self) -> None:
        """Accepts the next dialog that is not a question (New canvas's size)."""

        def accept() -> None:
            dialog = QApplication.activeModalWidget()
            if not isinstance(dialog, QDialog) or isinstance(dialog, QMessageBox):
                QTimer.singleShot(10, accept)
                return
            dialog.accept()

        QTimer.singleShot(0, accept)


@pytest.fixture
def answers() -> Answers:
    return Answers()


def paint(document: CanvasDocument, y: int = 20) -> None:
    stroke = document.begin_stroke("sketch", BrushSpec(6, 1.0, 1.0, (200, 30, 30)))
    for x in range(4, 60, 4):
        stroke.add_point(x, y)
    stroke.finish()


def test_the_title_names_the_document_and_marks_unsaved_changes(window, tmp_path):
    assert window.windowTitle() == "Untitled[*] — Diffusion Studio"
    assert not window.isWindowModified()
    paint(window.document)
    assert window.isWindowModified()
    window.document.undo()  # back to the state that was saved (here: the empty one)
    assert not window.isWindowModified()
    paint(window.document)
    window.save_project_as(str(tmp_path / "harbour"))
    assert window.windowTitle() == "harbour.dscanvas[*] — Diffusion Studio"
    assert not window.isWindowModified()
    assert window.project_path == tmp_path / "harbour.dscanvas"


def test_a_save_says_where_and_the_folder_is_a_link_that_opens_it(window, tmp_path):
    class Opened(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.urls: list[QUrl] = []

        @Slot(QUrl)
        def open_url(self, url: QUrl) -> None:
            self.urls.append(url)

    paint(window.document)
    window.save_project_as(str(tmp_path / "work.dscanvas"))
    shown = window.status_text.plain_text()
    assert shown == f"Saved work.dscanvas in {tmp_path}"
    (href,) = re.findall(r'href="([^"]+)"', window.status_text.text())
    opened = Opened()
    QDesktopServices.setUrlHandler("file", opened, "open_url")
    try:
        window.status_text.linkActivated.emit(href)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [url.toLocalFile() for url in opened.urls] == [str(tmp_path)]


def test_quitting_with_unsaved_changes_asks_and_cancel_keeps_the_window(window, answers):
    paint(window.document)
    answers.next(Button.Cancel)
    assert not window.close()
    assert window.isVisible() and window.isWindowModified()
    assert answers.asked == ["Save the changes to “Untitled” before closing?"]
    answers.next(Button.Discard)
    assert window.close()
    assert not window.isVisible()


def test_a_window_closed_on_discard_goes_without_an_error(qtbot, tmp_path, monkeypatch, answers):
    import shiboken6

    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    w = MainWindow(open_store(tmp_path / "settings.ini"), start_engine=False)
    w.show()
    qtbot.wait(20)  # its first layout pass
    paint(w.document)
    answers.next(Button.Discard)
    assert w.close()
    # As the app quits: deleting the unsaved history said "clean" to a slot that
    # asked the deleted undo stack, a traceback on the terminal (pytest-qt fails on it).
    shiboken6.delete(w)


def test_the_quit_action_asks_too(window, answers):
    file_menu = window.menuBar().actions()[0].menu()
    (quit_action,) = [a for a in file_menu.actions() if a.text() == "&Quit"]
    paint(window.document)
    answers.next(Button.Cancel)
    quit_action.trigger()
    assert answers.asked and window.isVisible()


def test_save_in_the_question_writes_the_project_then_closes(window, answers, tmp_path):
    path = tmp_path / "work.dscanvas"
    window.save_project_as(str(path))
    paint(window.document, y=40)
    answers.next(Button.Save)
    assert window.close()
    saved = CanvasDocument()
    saved.load_project(path)
    assert np.array_equal(
        np.asarray(saved.sketch_image()), np.asarray(window.document.sketch_image())
    )
    assert saved.layer_has_content("sketch")


def test_opening_an_image_over_unsaved_changes_asks(window, answers, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 64), (20, 120, 200)).save(photo)
    paint(window.document)
    before = window.document.size()
    answers.next(Button.Cancel)
    window.open_image(str(photo))
    assert window.document.size() == before and window.document.layer_has_content("sketch")
    answers.next(Button.Discard)
    window.open_image(str(photo))
    assert answers.asked[-1] == "Save the changes to “Untitled” before opening another image?"
    # a new document: the picture alone, named after it, nothing unsaved yet
    assert window.document.size() == QSize(96, 64)
    assert not window.document.layer_has_content("sketch")
    assert window.windowTitle().startswith("photo.png[*]") and not window.isWindowModified()
    window.document.undo()  # even a discarded drawing is one Ctrl+Z away
    assert window.document.layer_has_content("sketch")


def test_new_canvas_over_unsaved_changes_asks_and_cancel_changes_nothing(window, answers):
    paint(window.document)
    answers.next(Button.Cancel)
    window.new_canvas()
    assert answers.asked == ["Save the changes to “Untitled” before starting a new canvas?"]
    assert window.document.layer_has_content("sketch")


def test_opening_a_project_over_unsaved_changes_asks(window, answers, tmp_path):
    other = CanvasDocument(128, 128)
    other.save_project(tmp_path / "other.dscanvas")
    paint(window.document)
    answers.next(Button.Discard)
    window.open_project(str(tmp_path / "other.dscanvas"))
    assert answers.asked == ["Save the changes to “Untitled” before opening another project?"]
    assert window.document.size() == QSize(128, 128)
    assert window.windowTitle().startswith("other.dscanvas[*]")


def test_nothing_unsaved_means_no_question(window):
    assert window.close()  # a question would block here


def test_the_first_document_has_the_models_size(window):
    assert window.panel.model.current_spec() == "demo"  # a first start
    assert window.document.size() == QSize(64, 64)
    assert not window.isWindowModified() and window.document.undo_stack.count() == 0


def _model_of_size(source, folder, side: int):
    """A copy of a tiny model whose configuration says it was trained at side × side."""
    shutil.copytree(source, folder)
    config = folder / "unet" / "config.json"
    unet = json.loads(config.read_text())
    unet["sample_size"] = side // 2  # the tiny VAE scales by 2
    config.write_text(json.dumps(unet))
    return folder


def test_choosing_a_model_resizes_an_untouched_canvas_only(window, sd_model, tmp_path):
    big = _model_of_size(sd_model, tmp_path / "tiny-96", 96)
    window.panel.model.set_spec(str(big))
    assert window.document.size() == QSize(96, 96)
    paint(window.document)
    window.panel.model.set_spec(str(sd_model))  # 64 × 64, but the canvas holds a drawing
    assert window.document.size() == QSize(96, 96)


def test_new_canvas_takes_the_models_size_and_the_old_drawing_stays_undoable(
    window, answers, sd_model, tmp_path
):
    paint(window.document)
    window.panel.model.set_spec(str(_model_of_size(sd_model, tmp_path / "tiny-96", 96)))
    assert window.document.size() == QSize(64, 64)  # it holds a drawing: no resize
    answers.next(Button.Discard)
    answers.accept_dialog()  # as offered
    window.new_canvas()
    assert window.document.size() == QSize(96, 96) and not window.isWindowModified()
    # the untouched new canvas follows the next model, and undo still reaches the drawing
    window.panel.model.set_spec(str(sd_model))
    assert window.document.size() == QSize(64, 64) and not window.isWindowModified()
    window.document.undo()
    window.document.undo()
    assert window.document.layer_has_content("sketch")

"""The live canny edge map in the panel: it shows what ControlNet will get."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from studio.canvas import BrushSpec, CanvasDocument
from studio.ui.edge_preview import EdgePreview
from studio.ui.generation_panel import GenerationPanel


@pytest.fixture
def preview(qtbot):
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.mode.setCurrentIndex(panel.mode.findData("controlnet-canny"))
    document = CanvasDocument(128, 128, parent=panel)
    return document, EdgePreview(document, panel)


def _edge_pixels(image: QImage) -> int:
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(grey.constBits(), np.uint8).reshape(grey.height(), grey.bytesPerLine())
    return int((rows[:, : grey.width()] == 255).sum())


def _paint_sketch(document: CanvasDocument) -> None:
    stroke = document.begin_stroke("sketch", BrushSpec(8, 1.0, 1.0, (0, 0, 0)))
    for x in range(10, 110, 5):
        stroke.add_point(x, x)
    stroke.finish()


def test_the_edge_map_shows_the_sketch(qtbot, preview):
    document, edges = preview
    _paint_sketch(document)
    qtbot.waitUntil(lambda: edges.last is not None, timeout=5000)
    assert _edge_pixels(edges.last) > 50


def test_a_hidden_sketch_leaves_the_edge_map_as_controlnet_does(qtbot, preview):
    document, edges = preview
    _paint_sketch(document)
    qtbot.waitUntil(lambda: edges.last is not None, timeout=5000)
    edges.last = None
    document.set_visible("sketch", False)  # what an img2img or ControlNet result does
    qtbot.waitUntil(lambda: edges.last is not None, timeout=5000)
    assert _edge_pixels(edges.last) == 0
    # and what ControlNet receives has no trace of it either
    assert np.asarray(document.init_image()).min() == 255

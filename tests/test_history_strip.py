"""The history strip lists every result, also one whose recipe cannot be read:
its tooltip says why instead of the strip failing to build."""

from __future__ import annotations

import json

from PIL import Image, PngImagePlugin

from studio.engine.pngfile import save_png
from studio.ui.history import HistoryStore, HistoryStrip


def test_a_result_with_an_unreadable_recipe_is_listed_with_the_reason(qtbot, tmp_path):
    day = tmp_path / "2026-12-02"
    day.mkdir()
    save_png(Image.new("RGB", (8, 8)), day / "00001-1.png", "a cat\nSteps: 2, Seed: 1")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "x" * 3_000_000, zip=True)  # Pillow raises on opening it
    Image.new("RGB", (8, 8)).save(day / "00002-2.png", pnginfo=info)

    strip = HistoryStrip(HistoryStore(tmp_path))
    qtbot.addWidget(strip)

    tips = {strip.list.item(i).toolTip().split("\n")[0]: strip.list.item(i).toolTip()
            for i in range(strip.list.count())}  # fmt: skip
    assert tips["00001-1.png"] == "00001-1.png\na cat\nSteps: 2, Seed: 1"
    assert tips["00002-2.png"] == (
        "00002-2.png\n"
        "00002-2.png's parameters text is over 256 KB, longer than any recipe, so it was not read."
    )


def test_a_result_with_malformed_foreign_metadata_does_not_stop_the_strip(qtbot, tmp_path):
    # NovelAI's char_captions as a number once raised TypeError out of the reader,
    # and so out of the strip's constructor when the window started.
    day = tmp_path / "2026-12-02"
    day.mkdir()
    save_png(Image.new("RGB", (8, 8)), day / "00001-1.png", "a cat\nSteps: 2, Seed: 1")
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "NovelAI")
    caption = {"base_caption": "2girls, cafe", "char_captions": 5}
    info.add_text("Comment", json.dumps({"steps": 28, "v4_prompt": {"caption": caption}}))
    Image.new("RGB", (8, 8)).save(day / "00002-2.png", pnginfo=info)

    strip = HistoryStrip(HistoryStore(tmp_path))
    qtbot.addWidget(strip)

    tips = sorted(strip.list.item(i).toolTip() for i in range(strip.list.count()))
    assert tips == [
        "00001-1.png\na cat\nSteps: 2, Seed: 1",
        "00002-2.png\n2girls, cafe\nSteps: 28, Version: NovelAI",
    ]

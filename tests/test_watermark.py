"""The visible watermark: where it lands, what it touches, how opaque it is, and
that generation applies and records it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.engine.errors import RequestError
from studio.engine.generate import generate
from studio.engine.infotext import parse_infotext
from studio.engine.options import ServiceOptions
from studio.engine.request import GenerationRequest
from studio.engine.watermark import POSITIONS, Watermark, apply_watermark, watermark_box

SIZE = (320, 200)


def _changed(before: Image.Image, after: Image.Image) -> np.ndarray:
    a = np.asarray(before.convert("RGB"), dtype=np.int16)
    b = np.asarray(after.convert("RGB"), dtype=np.int16)
    return np.abs(a - b).max(axis=2) > 0


def _noise(size=SIZE, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("position", POSITIONS)
def test_pixels_change_only_inside_the_box_and_the_box_is_where_asked(position):
    mark = Watermark("Diffusion Studio", position=position, opacity=0.8, margin=12)
    image = _noise()
    changed = _changed(image, apply_watermark(image, mark))
    left, top, right, bottom = watermark_box(SIZE, mark)
    inside = np.zeros_like(changed)
    inside[top:bottom, left:right] = True
    assert changed.sum() > 50  # the text is drawn
    assert not changed[~inside].any()  # and nothing outside its box moves
    width, height = SIZE
    middle_x, middle_y = (left + right) / 2, (top + bottom) / 2
    if position == "center":
        assert abs(middle_x - width / 2) <= 1 and abs(middle_y - height / 2) <= 1
    else:
        vertical, horizontal = position.split("-")
        assert (left == 12) if horizontal == "left" else (right == width - 12)
        assert (top == 12) if vertical == "top" else (bottom == height - 12)


@pytest.mark.parametrize("opacity", [0.25, 0.5, 1.0])
def test_opacity_is_respected(opacity):
    black = Image.new("RGB", SIZE, (0, 0, 0))
    mark = Watermark("HELLO", position="center", opacity=opacity, font_size=60)
    out = np.asarray(apply_watermark(black, mark))
    # Fully covered glyph pixels reach exactly opacity × white; none goes above.
    assert out.max() == round(255 * opacity)
    assert (out == round(255 * opacity)).sum() > 100


def test_colour_blends_with_the_picture_by_the_opacity():
    background = (100, 50, 200)
    image = Image.new("RGB", SIZE, background)
    mark = Watermark("MARK", opacity=0.3, color="#ff0000", font_size=60, position="center")
    out = np.asarray(apply_watermark(image, mark), dtype=float)
    expected = 0.7 * np.array(background) + 0.3 * np.array([255, 0, 0])
    distance = np.abs(out - expected).max(axis=2)
    assert (distance <= 1.0).sum() > 100  # full-coverage pixels are the exact blend
    assert np.all(np.abs(out[0, 0] - background) == 0)


def test_zero_opacity_leaves_the_image_unchanged():
    image = _noise()
    assert not _changed(image, apply_watermark(image, Watermark("x", opacity=0.0))).any()


def test_auto_size_follows_the_image_and_shrinks_to_fit():
    small = watermark_box((128, 128), Watermark("Diffusion Studio"))
    large = watermark_box((1024, 1024), Watermark("Diffusion Studio"))
    assert (large[3] - large[1]) > 3 * (small[3] - small[1])
    left, top, right, bottom = watermark_box((96, 96), Watermark("A long watermark text", margin=4))
    assert left >= 4 and right <= 92 and top >= 4 and bottom <= 92  # fits inside the margins


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text": "  "}, "The watermark text is empty"),
        ({"text": "two\nlines"}, "must be one line"),
        ({"position": "middle"}, "Unknown watermark position 'middle'"),
        ({"opacity": 1.5}, "opacity must be a number from 0 to 1"),
        ({"font_size": 2}, "font size must be a whole number from 6 to 512"),
        ({"margin": -1}, "margin must be a whole number"),
        ({"color": "not-a-colour"}, "is not a colour"),
        ({"color": (300, 0, 0)}, "is not a colour"),
    ],
)
def test_bad_settings_are_sentences(changes, message):
    fields = {"text": "ok", **changes}
    with pytest.raises(RequestError, match=message):
        Watermark(**fields).validated()


def test_settings_round_trip_through_json_data():
    mark = Watermark("© me", position="top-left", opacity=0.4, font_size=20, color=(1, 2, 3))
    assert Watermark.from_dict(mark.to_dict()) == mark
    with pytest.raises(RequestError, match="Unknown watermark setting"):
        Watermark.from_dict({"text": "x", "angle": 45})


def test_generation_applies_and_records_the_watermark(store, sd_model):
    mark = Watermark("AI", position="top-left", font_size=14, opacity=1.0, margin=2)
    request = GenerationRequest("a cat", model=str(sd_model), steps=2, seed=3)
    plain = generate(request, store).images[0]
    marked = generate(request.replace(watermark=mark), store)
    changed = _changed(plain, marked.images[0])
    _left, _top, right, bottom = watermark_box(plain.size, mark)
    assert changed.any() and not changed[bottom:, :].any() and not changed[:, right:].any()
    params = parse_infotext(marked.infotexts[0]).params
    assert params["Watermark"] == "AI (top-left, 100%, 14 px, #ffffff, margin 2)"
    assert "Watermark" not in parse_infotext(generate(request, store).infotexts[0]).params


def test_the_engine_default_watermark_applies_unless_the_request_names_one(store, sd_model):
    services = ServiceOptions(cache=False, watermark=Watermark("HOUSE", font_size=10))
    request = GenerationRequest("a cat", model=str(sd_model), steps=1, seed=3)
    default = generate(request, store, services=services)
    own = generate(request.replace(watermark=Watermark("MINE")), store, services=services)
    assert default.request.watermark.text == "HOUSE"
    assert "HOUSE" in default.infotexts[0] and "MINE" in own.infotexts[0]


def test_preferences_round_trip_and_become_service_options(tmp_path, qtbot):
    from studio.ui.preferences import ApiOptions, Preferences, WatermarkPreference
    from studio.ui.settings_dialog import SettingsDialog
    from studio.ui.settings_store import load_preferences, open_store, save_preferences

    prefs = Preferences(
        services=ServiceOptions(
            safety_mode="strict", safety_keywords=("dragon", "dark magic"), cache_max_mb=64
        ),
        watermark=WatermarkPreference(
            enabled=True,
            mark=Watermark("© Studio", position="top-right", opacity=0.4, color=(255, 136, 0)),
        ),
        api=ApiOptions(enabled=True, port=9123),
    )
    save_preferences(prefs, open_store(tmp_path / "settings.ini"))
    loaded = load_preferences(open_store(tmp_path / "settings.ini"))
    assert loaded == prefs
    dialog = SettingsDialog(loaded)
    qtbot.addWidget(dialog)
    assert dialog.preferences() == prefs  # the dialog shows and returns every value
    services = dialog.preferences().service_options()
    assert services.watermark == Watermark("© Studio", "top-right", 0.4, None, (255, 136, 0), 10)
    assert services.safety_mode == "strict" and services.safety_keywords == ("dragon", "dark magic")
    assert services.cache and services.cache_max_mb == 64
    dialog.editor("services.safety_keywords").setPlainText("Dragon\n\nDark   Magic, goblin")
    assert dialog.preferences().services.safety_keywords == ("dragon", "dark magic", "goblin")
    dialog.editor("watermark.enabled").setChecked(False)
    assert dialog.preferences().service_options().watermark is None
    assert dialog.preferences().watermark.mark.text == "© Studio"  # kept while it is off
    # The image checker is not on this machine: the dialog says so and keeps it off.
    assert not dialog.editor("services.image_checker").isEnabled()
    assert "not on this machine" in dialog.image_checker_status.text()

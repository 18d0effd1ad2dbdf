"""The settings file: every declared setting survives a save and a load, and a
file written by earlier versions (every key they knew) loads into the nested
preferences with the same values."""

from __future__ import annotations

from pathlib import Path

from option_values import every_option_changed

from studio.engine.options import EngineOptions, ServiceOptions
from studio.engine.watermark import Watermark
from studio.mercury.settings import MercurySettings
from studio.option_spec import value_at
from studio.ui.mercury_settings_store import load_mercury_settings
from studio.ui.preferences import ApiOptions, Preferences, WatermarkPreference, WindowOptions
from studio.ui.settings_store import (
    load_preferences,
    open_store,
    save_preferences,
    stored_fields,
)

STORED = [(path, d) for path, _key, d in stored_fields(Preferences)]

# What AppPreferences.save() wrote before the preferences were nested (its own
# keys, QSettings' INI spelling), every value changed from its default.
OLD_FILE = """\
[api]
enabled=true
port=9123

[engine]
allow_pickle=true
attention_slicing=true
compile=true
cpu_offload=true
device=cpu
dtype=bfloat16
fast_cpu_mode=off
model_dirs=/models/one, /models/two
threads=3
tiny_vae=/models/taesd
vae_tiling=true

[mercury]
base_url=http://127.0.0.1:11434/v1
diffusing=true
max_tokens=321
model=local-llama
reasoning_effort=high
temperature=0.55
timeout_s=30

[services]
batch_megapixels=2.5
cache=false
cache_max_mb=64
image_checker=true
safety_keywords=dragon, dark magic
safety_mode=strict
watermark=true
watermark_color=#ff8800
watermark_font_size=14
watermark_margin=4
watermark_opacity=0.4
watermark_position=top-left
watermark_text=© Studio

[ui]
output_dir=/pictures/out
place_results=false
theme=light
"""

OLD_VALUES = Preferences(
    engine=EngineOptions(
        device="cpu",
        dtype="bfloat16",
        attention_slicing=True,
        vae_tiling=True,
        cpu_offload=True,
        allow_pickle=True,
        model_dirs=(Path("/models/one"), Path("/models/two")),
        fast_cpu=False,
        tiny_vae="/models/taesd",
        compile=True,
        threads=3,
    ),
    services=ServiceOptions(
        cache=False,
        cache_max_mb=64,
        safety_mode="strict",
        safety_keywords=("dragon", "dark magic"),
        image_checker=True,
        batch_megapixels=2.5,
    ),
    watermark=WatermarkPreference(
        enabled=True,
        mark=Watermark("© Studio", "top-left", 0.4, 14, (255, 136, 0), 4),
    ),
    window=WindowOptions(output_dir="/pictures/out", theme="light", place_results=False),
    api=ApiOptions(enabled=True, port=9123),
    mercury=MercurySettings(
        base_url="http://127.0.0.1:11434/v1",
        model="local-llama",
        max_tokens=321,
        temperature=0.55,
        diffusing=True,
        reasoning_effort="high",
        timeout_s=30.0,
    ),
)


def test_a_file_from_before_the_nesting_loads_with_every_value(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text(OLD_FILE, encoding="utf-8")
    loaded = load_preferences(open_store(path))
    for field_path, _d in STORED:  # one by one first, so a failure names the setting
        assert value_at(loaded, field_path) == value_at(OLD_VALUES, field_path), field_path
    assert loaded == OLD_VALUES
    assert load_mercury_settings(open_store(path)) == OLD_VALUES.mercury


def test_the_old_file_holds_every_old_key_with_a_changed_value(tmp_path):
    """So the test above checks each old setting, not just its default: the 29
    keys AppPreferences wrote and Mercury's 7, each a setting here."""
    path = tmp_path / "settings.ini"
    path.write_text(OLD_FILE, encoding="utf-8")
    old_keys = set(open_store(path).allKeys())
    assert len(old_keys) == 36
    keys = {key: field_path for field_path, key, _d in stored_fields(Preferences)}
    assert old_keys <= set(keys)
    defaults = Preferences()
    unchanged = [
        keys[k] for k in old_keys if value_at(OLD_VALUES, keys[k]) == value_at(defaults, keys[k])
    ]
    assert unchanged == []


def test_every_declared_setting_survives_save_and_load(tmp_path):
    chosen = every_option_changed(Preferences(), STORED)
    defaults = Preferences()
    assert [p for p, _d in STORED if value_at(chosen, p) == value_at(defaults, p)] == []
    save_preferences(chosen, open_store(tmp_path / "settings.ini"))
    loaded = load_preferences(open_store(tmp_path / "settings.ini"))
    for field_path, _d in STORED:
        assert value_at(loaded, field_path) == value_at(chosen, field_path), field_path
    assert loaded == chosen
    save_preferences(Preferences(), open_store(tmp_path / "settings.ini"))  # and back
    assert load_preferences(open_store(tmp_path / "settings.ini")) == Preferences()


def test_an_empty_file_gives_the_defaults_and_a_hand_edited_one_keeps_what_reads(tmp_path):
    assert load_preferences(open_store(tmp_path / "empty.ini")) == Preferences()
    store = open_store(tmp_path / "edited.ini")
    for key, value in {
        "engine/device": "tpu",  # not a choice
        "engine/threads": "-3",  # below the range: automatic, as 0 always meant
        "services/cache_max_mb": "0",  # clamped to its range
        "services/watermark_color": "not a colour",
        "services/watermark_opacity": "nan",
        "api/port": "eighty",
        "ui/theme": "solarized",
        "services/safety_mode": "off",  # the one good value
    }.items():
        store.setValue(key, value)
    loaded = load_preferences(store)
    expected = Preferences(services=ServiceOptions(cache_max_mb=1, safety_mode="off"))
    assert loaded == expected


def test_cleared_keywords_stay_cleared(tmp_path):
    prefs = Preferences(services=ServiceOptions(safety_keywords=()))
    save_preferences(prefs, open_store(tmp_path / "settings.ini"))
    assert load_preferences(open_store(tmp_path / "settings.ini")) == prefs

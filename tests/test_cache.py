"""The result cache: hits and misses through `generate`, what the key covers,
random seeds, force regenerate, LRU eviction under the size cap, damaged
entries, stats and clearing (also from the command line)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from studio.app import main
from studio.engine.cache import ResultCache, make_key
from studio.engine.generate import generate
from studio.engine.options import ServiceOptions
from studio.engine.pipelines import PipelineStore
from studio.engine.request import GenerationRequest, Mode
from studio.engine.watermark import Watermark


@pytest.fixture
def services(tmp_path) -> ServiceOptions:
    return ServiceOptions(cache_dir=tmp_path / "cache")


def _cache(services: ServiceOptions) -> ResultCache:
    return ResultCache(services.cache_folder(), services.cache_max_mb * 2**20)


def _request(model, **changes) -> GenerationRequest:
    return GenerationRequest("a red boat", model=str(model), steps=2, seed=11).replace(**changes)


def _same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_a_repeated_job_is_served_from_the_cache_without_the_model(store, sd_model, services):
    steps = []
    first = generate(_request(sd_model), store, on_step=steps.append, services=services)
    assert not first.cached and len(steps) == 2

    cold = PipelineStore()  # nothing loaded: a hit must not need the model
    again = generate(_request(sd_model), cold, on_step=steps.append, services=services)
    assert again.cached and cold.loads == 0 and len(steps) == 2
    assert _same_pixels(first.images[0], again.images[0])
    assert again.infotexts == first.infotexts and again.seeds == first.seeds
    assert again.request.scheduler == first.request.scheduler == "euler"
    assert "came from the cache" in again.notices[-1]
    stats = _cache(services).stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1) and stats.size_bytes > 0


@pytest.mark.parametrize(
    "changes",
    [
        {"seed": 12},
        {"steps": 3},
        {"prompt": "a blue boat"},
        {"negative_prompt": "fog"},
        {"guidance_scale": 3.0},
        {"scheduler": "euler-a"},
        {"width": 72},
        {"batch_count": 2},
        {"watermark": Watermark("mine")},
        {"extra_prompts": ("a second prompt",)},
    ],
)
def test_any_change_that_changes_the_output_misses(store, sd_model, services, changes):
    generate(_request(sd_model), store, services=services)
    other = generate(_request(sd_model, **changes), store, services=services)
    assert not other.cached


def test_input_image_bytes_are_part_of_the_key(store, sd_model, services, photo):
    img2img = _request(sd_model, mode=Mode.IMG2IMG, init_image=photo, strength=1.0)
    generate(img2img, store, services=services)
    assert generate(img2img.replace(init_image=photo.copy()), store, services=services).cached
    edited = photo.copy()
    edited.putpixel((0, 0), (0, 0, 0))
    assert not generate(img2img.replace(init_image=edited), store, services=services).cached


def test_changed_model_files_miss(store, sd_model, services, tmp_path):
    model = shutil.copytree(sd_model, tmp_path / "model")
    generate(_request(model), store, services=services)
    assert generate(_request(model), store, services=services).cached
    weights = next((model / "unet").glob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "re-downloaded"
    assert not generate(_request(model), store, services=services).cached


def test_a_random_seed_never_hits_but_its_reported_seed_does(store, sd_model, services):
    first = generate(_request(sd_model, seed=None), store, services=services)
    second = generate(_request(sd_model, seed=None), store, services=services)
    assert not first.cached and not second.cached
    assert _cache(services).stats().hits == 0
    # Random-seed jobs are never looked up (no miss is counted) but are stored:
    assert _cache(services).stats().misses == 0 and _cache(services).stats().entries == 2
    reused = generate(_request(sd_model, seed=first.seeds[0]), store, services=services)
    assert reused.cached and _same_pixels(reused.images[0], first.images[0])


def test_force_regenerate_bypasses_the_cache_and_refreshes_it(store, sd_model, services):
    generate(_request(sd_model), store, services=services)
    forced = generate(_request(sd_model, force_regenerate=True), store, services=services)
    assert not forced.cached
    assert _cache(services).stats().hits == 0
    assert generate(_request(sd_model), store, services=services).cached


def test_no_cache_when_turned_off(store, sd_model, tmp_path):
    off = ServiceOptions(cache=False, cache_dir=tmp_path / "cache")
    generate(_request(sd_model), store, services=off)
    assert not generate(_request(sd_model), store, services=off).cached
    assert not (tmp_path / "cache").exists()


# -- the store itself ------------------------------------------------------------------


def _noise(seed: int, side: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def _put(cache: ResultCache, name: str, seed: int = 0) -> str:
    key = make_key({"name": name})
    cache.put(key, [_noise(seed)], [seed], [f"{name}\nSeed: {seed}"], "euler")
    return key


def test_least_recently_used_entries_go_first_when_over_the_cap(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=10**9)
    a, b = _put(cache, "a", 1), _put(cache, "b", 2)
    entry_size = cache.stats().size_bytes // 2
    for age, key in enumerate((a, b)):  # a older than b ...
        os.utime(tmp_path / "entries" / key / "entry.json", (1000 + age, 1000 + age))
    assert cache.get(a) is not None  # ... until a is used again
    cache.max_bytes = int(entry_size * 2.5)
    c = _put(cache, "c", 3)  # three entries do not fit: b, least recently used, goes
    assert cache.get(b) is None
    assert cache.get(a) is not None and cache.get(c) is not None
    assert cache.stats().entries == 2 and cache.stats().size_bytes <= cache.max_bytes


def test_an_entry_larger_than_the_cap_is_not_kept(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=100)
    key = _put(cache, "big")
    assert cache.get(key) is None and cache.stats().entries == 0


@pytest.mark.parametrize(
    "damage",
    ["truncate png", "garbage json", "missing png", "other key", "another valid png", "no digests"],
)
def test_a_damaged_entry_is_dropped_and_counts_as_a_miss(tmp_path, damage):
    cache = ResultCache(tmp_path, max_bytes=10**9)
    key = _put(cache, "x")
    entry = tmp_path / "entries" / key
    if damage == "truncate png":
        data = (entry / "0.png").read_bytes()
        (entry / "0.png").write_bytes(data[: len(data) // 2])
    elif damage == "garbage json":
        (entry / "entry.json").write_text("{not json", encoding="utf-8")
    elif damage == "missing png":
        (entry / "0.png").unlink()
    elif damage == "another valid png":  # a complete PNG put in by hand is not served
        _noise(99).save(entry / "0.png", format="PNG")
    elif damage == "no digests":
        manifest = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
        (entry / "entry.json").write_text(json.dumps({**manifest, "digests": []}))
    else:
        manifest = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
        (entry / "entry.json").write_text(json.dumps({**manifest, "key": "f" * 64}))
    assert cache.get(key) is None
    assert not entry.exists()
    assert cache.stats().misses == 1


def test_generation_recovers_from_a_damaged_entry(store, sd_model, services):
    first = generate(_request(sd_model), store, services=services)
    (entry,) = (services.cache_folder() / "entries").iterdir()
    (entry / "0.png").write_bytes(b"not a png")
    again = generate(_request(sd_model), store, services=services)
    assert not again.cached and _same_pixels(again.images[0], first.images[0])
    assert generate(_request(sd_model), store, services=services).cached  # stored anew


def test_damaged_counts_do_not_break_anything(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=10**9)
    (tmp_path / "stats.json").write_text("[1, 2]", encoding="utf-8")
    assert cache.stats().hits == 0
    cache.get("0" * 64)
    assert cache.stats().misses == 1


def test_clear_removes_everything_and_resets_the_counts(tmp_path):
    cache = ResultCache(tmp_path, max_bytes=10**9)
    key = _put(cache, "a")
    cache.get(key)
    assert cache.clear() == 1
    stats = cache.stats()
    assert (stats.entries, stats.size_bytes, stats.hits, stats.misses) == (0, 0, 0, 0)


@pytest.mark.slow
def test_cli_uses_the_cache_and_shows_and_clears_it(sd_model, tmp_path, capsys):
    folder = tmp_path / "cache"
    args = ["generate", "-p", "a kite", "-m", str(sd_model), "--steps", "1", "--seed", "4"]
    args += ["--cache-dir", str(folder), "-o", str(tmp_path / "kite.png")]
    assert main(args) == 0
    assert "from the cache" not in capsys.readouterr().err
    assert main(args) == 0
    assert "from the cache" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert "step 1/1" in capsys.readouterr().err  # ran the model again
    assert main(["cache", "stats", "--cache-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1 entries" in out and "1 hits, 1 misses" in out
    assert main(["cache", "clear", "--cache-dir", str(folder)]) == 0
    assert "Removed 1 cached result" in capsys.readouterr().out
    assert main([*args, "--no-cache"]) == 0
    assert not (folder / "entries").exists()


def test_engine_settings_that_change_pixels_are_part_of_the_key(sd_model):
    from studio.engine.cache import job_key
    from studio.engine.options import EngineOptions
    from studio.engine.resolve import resolve_model

    request = _request(sd_model).replace(seed=1, steps=2, width=64, height=64)
    model = resolve_model(str(sd_model))
    keys = {
        job_key(request, model, None, [""], PipelineStore(options))
        for options in (
            EngineOptions(),
            EngineOptions(tiny_vae="/models/taesd"),
            EngineOptions(channels_last=True),
            EngineOptions(vae_tiling=True),
        )
    }
    assert len(keys) == 4


def test_a_cache_folder_that_is_a_file_costs_the_cache_not_the_job(tmp_path):
    # The window's settings can point the cache at a file; every cache call must then
    # be a miss or a no-op, never an exception that reaches a Qt slot.
    folder = tmp_path / "cache"
    folder.write_text("not a folder")
    cache = ResultCache(folder, 2**20)
    assert cache.get("0" * 64) is None
    assert cache.stats().entries == 0
    assert cache.clear() == 0
    assert folder.read_text() == "not a folder"


def test_every_request_field_not_keyed_apart_is_part_of_the_key(sd_model):
    """A field added to the request joins the key without an edit in cache.py."""
    from studio.engine.cache import KEYED_APART, job_key
    from studio.engine.request import FIELDS
    from studio.engine.resolve import resolve_model
    from tests.test_request_fields import _other_value

    request = _request(sd_model).replace(seed=1, steps=2, width=64, height=64)
    model, store = resolve_model(str(sd_model)), PipelineStore()
    base = job_key(request, model, None, [""], store)
    assert {f.name for f in FIELDS} >= KEYED_APART  # no stale name
    for field in FIELDS:
        if field.name not in KEYED_APART:
            changed = request.replace(**{field.name: _other_value(field)})
            assert job_key(changed, model, None, [""], store) != base, field.name

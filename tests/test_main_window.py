"""The real window end to end: typing, clicking Generate, the worker thread,
history PNGs, previews, cancel, inpaint, queue, restore — on tiny models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.canvas import LayerName
from studio.engine.image_parameters import read_parameters
from studio.engine.infotext import parse_infotext
from studio.engine.masking import feather
from studio.engine.options import ServiceOptions
from studio.engine.pngfile import save_png
from studio.ui.main_window import MainWindow
from studio.ui.settings_store import open_store

TIMEOUT_MS = 90_000


@pytest.fixture
def window(qtbot, tmp_path, sd_model, monkeypatch):
    # Mercury must never leave this machine in tests.
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    settings = open_store(tmp_path / "settings.ini")
    settings.setValue("ui/output_dir", str(tmp_path / "outputs"))
    w = MainWindow(settings)
    # What a test left on the canvas is not worth keeping: close without asking.
    qtbot.addWidget(w, before_close_func=lambda w: w.document.undo_stack.setClean())
    w.show()
    w.document.reset(64, 64)
    w.panel.model.set_spec(str(sd_model))
    w.panel.steps.setValue(2)
    w.panel.width_box.setValue(64)
    w.panel.height_box.setValue(64)
    yield w
    w.document.undo_stack.setClean()
    w.close()


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _drag(qtbot, view, points):
    """A mouse stroke through document coordinates."""
    viewport = view.viewport()
    to_view = [view.map_from_document(QPointF(x, y)).toPoint() for x, y in points]
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=to_view[0])
    for point in to_view[1:]:
        qtbot.mouseMove(viewport, point)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=to_view[-1])


def test_generate_saves_a_png_whose_metadata_matches_the_panel(qtbot, window):
    qtbot.keyClicks(window.panel.prompt, "a lighthouse at dusk")
    qtbot.keyClicks(window.panel.negative, "blurry")
    window.panel.seed.setText("4242")
    window.panel.guidance.setValue(6.5)
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.panel.generate_button, Qt.MouseButton.LeftButton)
    (path,) = window.history.paths()
    parsed = parse_infotext(read_parameters(path))
    assert parsed.prompt == "a lighthouse at dusk" and parsed.negative_prompt == "blurry"
    assert parsed.params["Seed"] == "4242" and parsed.params["Steps"] == "2"
    assert parsed.params["CFG scale"] == "6.5" and parsed.params["Size"] == "64x64"
    assert parsed.params["Model"] == "tiny-sd"
    # the result is on the canvas, and one Ctrl+Z takes it back
    placed = window.document.composed_image()
    assert np.array_equal(_pixels(placed), _pixels(Image.open(path)))
    window.document.undo()
    assert not window.document.layer_has_content("image")
    assert "seed 4242" in window.status_text.text()


@pytest.mark.slow
def test_every_step_shows_a_preview_and_the_progress(qtbot, window):
    seen = []

    def on_step(job_id, step, total, preview, region):
        seen.append((step, total, window.view.has_preview(), window.progress.value()))

    window.worker.job_step.connect(on_step)
    window.panel.steps.setValue(3)
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    assert [(s, t) for s, t, _, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(has for _, _, has, _ in seen)
    assert [value for *_, value in seen] == [1, 2, 3]
    assert not window.view.has_preview()  # gone once the result is in


def test_stop_mid_run_leaves_canvas_and_history_untouched(qtbot, window, photo):
    window.document.set_image(photo, fit="resize")
    before = _pixels(window.document.composed_image())
    window.panel.steps.setValue(60)
    window.worker.job_step.connect(
        lambda job_id, step, *_: (
            step == 1 and qtbot.mouseClick(window.panel.stop_button, Qt.MouseButton.LeftButton)
        )
    )
    with qtbot.waitSignal(window.worker.job_cancelled, timeout=TIMEOUT_MS):
        window.generate()
    assert window.history.paths() == []
    assert np.array_equal(_pixels(window.document.composed_image()), before)
    assert not window.view.has_preview()
    assert window.status_text.text() == "Cancelled"
    assert window.panel.generate_button.isEnabled()


def test_inpaint_through_the_window_keeps_unmasked_pixels(qtbot, window, photo):
    window.document.set_image(photo, fit="resize")
    window.view.canvas_actions.mask_brush.trigger()
    window.view.settings.size = 12
    _drag(qtbot, window.view, [(20, 32), (28, 32), (36, 32), (44, 32)])
    mask = window.document.mask_image()
    assert mask.getpixel((32, 32)) == 255 and mask.getpixel((2, 2)) == 0
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("inpaint"))
    window.panel.strength.setValue(1.0)
    window.panel.mask_blur.setValue(4)
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    result = _pixels(window.document.composed_image())
    untouched = np.asarray(feather(mask, 4)) == 0
    assert untouched.sum() > 2000
    assert np.array_equal(result[untouched], _pixels(photo)[untouched])
    assert np.abs(result[~untouched] - _pixels(photo)[~untouched]).mean() > 3
    assert window.document.has_mask()  # the mask survives for another try


def test_inpaint_without_a_mask_says_so(qtbot, window, photo):
    window.document.set_image(photo, fit="resize")
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("inpaint"))
    assert window.generate() == []
    assert "Inpainting needs a mask" in window.message_bar.text()


@pytest.mark.slow
def test_two_jobs_queue_and_run_in_order(qtbot, window):
    started, finished = [], []
    window.worker.job_started.connect(lambda job_id, _r: started.append(job_id))
    window.worker.job_finished.connect(lambda job_id, _r: finished.append(job_id))
    window.panel.steps.setValue(4)
    first = window.generate()
    second = window.generate()
    assert len(window.queue_view.job_ids()) >= 1
    assert second[0] in window.queue_view.job_ids()
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=TIMEOUT_MS)
    assert started == first + second and finished == first + second
    assert len(window.history.paths()) == 2
    assert window.queue_view.job_ids() == []


def test_a_batch_is_one_job_per_image_and_can_stop_after_the_first(qtbot, window):
    window.panel.batch.setValue(3)
    window.panel.seed.setText("10")
    finished = []
    window.worker.job_finished.connect(lambda job_id, r: finished.append(r.seeds[0]))
    window.worker.job_started.connect(lambda *_: not finished and window.stop_after_current())
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        ids = window.generate()
    assert len(ids) == 3
    qtbot.waitUntil(lambda: not window.jobs.busy(), timeout=TIMEOUT_MS)
    assert finished == [10]
    assert len(window.history.paths()) == 1


@pytest.mark.slow
def test_a_missing_model_is_a_message_and_the_app_stays_usable(qtbot, window, sd_model):
    window.panel.model.set_spec("sdxl")
    assert "not downloaded" in window.panel.model.status.text()
    with qtbot.waitSignal(window.worker.job_failed, timeout=TIMEOUT_MS):
        window.generate()
    assert "is not on this machine" in window.message_bar.text()
    assert window.history.paths() == []
    window.panel.model.set_spec(str(sd_model))
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    assert len(window.history.paths()) == 1


def _recipe_png(tmp_path) -> str:
    path = tmp_path / "recipe.png"
    text = (
        "a red fox in the snow\nNegative prompt: lowres\n"
        "Steps: 7, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 4.5, Seed: 1234, "
        "Size: 96x64, Model: sd15, Version: v1.10.0"
    )
    save_png(Image.new("RGB", (96, 64)), path, text)
    return str(path)


def test_restore_parameters_from_a_png(window, tmp_path):
    assert window.restore_parameters_from(_recipe_png(tmp_path))
    panel = window.panel
    assert panel.prompt.toPlainText() == "a red fox in the snow"
    assert panel.negative.toPlainText() == "lowres"
    assert panel.steps.value() == 7 and panel.guidance.value() == 4.5
    assert panel.scheduler.currentData() == "dpm++2m-karras"
    assert panel.seed.text() == "1234" and panel.lock.isChecked()
    assert (panel.width_box.value(), panel.height_box.value()) == (96, 64)
    assert panel.model.current_spec() == "sd15"


def _drop_file(window, path: str) -> None:
    """A file dropped on the window, as a file manager drops it. The window
    handles it after the drop returns: wait for what the test expects."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    assert drop.isAccepted()


def test_dropping_a_png_with_parameters_restores_them(qtbot, window, tmp_path):
    _drop_file(window, _recipe_png(tmp_path))
    qtbot.waitUntil(lambda: window.panel.prompt.toPlainText() == "a red fox in the snow")
    assert "Parameters restored from recipe.png" in window.message_bar.text()


def test_dropping_a_png_whose_recipe_cannot_be_read_shows_a_sentence(qtbot, window, tmp_path):
    path = tmp_path / "huge.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle, " * 300_000, zip=True)  # a 3 MB zTXt chunk
    Image.new("RGB", (32, 32)).save(path, pnginfo=info)
    window.panel.prompt.setPlainText("kept")
    _drop_file(window, str(path))  # Pillow's ValueError for such a chunk used to escape here
    qtbot.waitUntil(lambda: "256 KB" in window.message_bar.text())
    assert window.message_bar.text() == (
        "huge.png's parameters text is over 256 KB, longer than any recipe, so it was not read."
    )
    assert window.panel.prompt.toPlainText() == "kept"
    assert not window.restore_parameters_from(path)
    assert window.message_bar.text().startswith("huge.png's parameters text is over 256 KB")


def test_a_drop_asks_about_unsaved_changes_only_after_it_has_returned(qtbot, window, tmp_path):
    """A question inside the drop event would hold the file manager (the drag
    source) until it is answered."""
    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 64), (20, 120, 200)).save(photo)
    _drag(qtbot, window.view, [(10, 20), (50, 20)])
    assert window.isWindowModified()
    asked = []

    def answer() -> None:  # as a user would, once the question is up
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, answer)
            return
        asked.append(box.text())
        box.button(QMessageBox.StandardButton.Discard).click()

    QTimer.singleShot(0, answer)
    _drop_file(window, str(photo))
    assert asked == [] and window.document.size() == QSize(64, 64)
    qtbot.waitUntil(lambda: window.document.size() == QSize(96, 64))
    assert asked == ["Save the changes to “Untitled” before opening another image?"]


def test_restoring_a_comfyui_png_applies_what_it_can(window, tmp_path):
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 8, "steps": 9, "cfg": 3.5, "sampler_name": "dpmpp_2m_sde",
                "scheduler": "karras", "denoise": 1, "model": ["4", 0],
                "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 64}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a comfy cabin"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "fog"}},
    }  # fmt: skip
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    Image.new("RGB", (96, 64)).save(tmp_path / "comfy.png", pnginfo=info)
    scheduler = window.panel.scheduler.currentData()
    assert window.restore_parameters_from(tmp_path / "comfy.png")
    panel = window.panel
    assert (panel.prompt.toPlainText(), panel.negative.toPlainText()) == ("a comfy cabin", "fog")
    assert (panel.steps.value(), panel.guidance.value(), panel.seed.text()) == (9, 3.5, "8")
    assert (panel.width_box.value(), panel.height_box.value()) == (96, 64)
    assert panel.scheduler.currentData() == scheduler  # DPM++ 2M SDE is not here: kept
    assert window.message_bar.text() == (
        "Parameters restored from comfy.png. "
        "The sampler 'DPM++ 2M SDE' is not available here, so it was not restored."
    )


@pytest.mark.slow
def test_history_use_as_image_and_restore(qtbot, window):
    window.panel.prompt.setPlainText("a castle")
    window.panel.seed.setText("77")
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    (path,) = window.history.paths()
    window.document.new(64, 64)
    window.panel.prompt.setPlainText("something else")
    window.history.list.setCurrentRow(0)
    window.history.restore_button.click()
    assert window.panel.prompt.toPlainText() == "a castle"
    window.history.use_button.click()
    assert np.array_equal(_pixels(window.document.composed_image()), _pixels(Image.open(path)))


def test_controlnet_mode_shows_the_live_edge_map(qtbot, window):
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("controlnet-canny"))
    window.view.canvas_actions.brush.trigger()
    window.view.settings.size = 6
    _drag(qtbot, window.view, [(10, 10), (50, 50)])
    qtbot.waitUntil(lambda: window.edges.last is not None, timeout=5000)
    edges = window.edges.last
    assert any(
        edges.pixelColor(x, y).value() == 255
        for x in range(edges.width())
        for y in range(edges.height())
    )
    assert not window.panel.edge_preview.pixmap().isNull()


def test_panel_settings_survive_a_restart(qtbot, tmp_path, sd_model, monkeypatch):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    settings = open_store(tmp_path / "settings.ini")
    first = MainWindow(settings, start_engine=False)
    qtbot.addWidget(first)
    first.panel.model.set_spec(str(sd_model))  # fills in the model's defaults
    first.panel.prompt.setPlainText("a quiet harbour")
    first.panel.steps.setValue(13)
    first.close()
    second = MainWindow(open_store(tmp_path / "settings.ini"), start_engine=False)
    qtbot.addWidget(second)
    assert second.panel.prompt.toPlainText() == "a quiet harbour"
    assert second.panel.steps.value() == 13
    assert second.panel.model.current_spec() == str(sd_model)
    second.close()


@pytest.mark.slow
def test_the_window_appears_before_torch_is_imported(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from studio.ui.main_window import MainWindow\n"
        "w = MainWindow(start_engine=False)\n"
        "w.show(); app.processEvents()\n"
        "print('VISIBLE', w.isVisible(), 'TORCH', 'torch' in sys.modules)\n"
    )
    env = {
        "STUDIO_DATA_DIR": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "INCEPTION_BASE_URL": "http://127.0.0.1:9/v1",
    }
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert "VISIBLE True TORCH False" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
def test_screenshot_switch_writes_a_picture_of_the_window(tmp_path):
    import os

    shot = tmp_path / "window.png"
    env = {
        **os.environ,
        "STUDIO_DATA_DIR": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "INCEPTION_BASE_URL": "http://127.0.0.1:9/v1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "studio", "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    image = Image.open(shot)
    assert image.width >= 800 and image.height >= 600
    assert len(image.convert("RGB").resize((64, 64)).getcolors(4096)) > 20  # not a blank grab


def test_models_in_the_settings_folders_are_listed(qtbot, window, sd_model):
    from studio.engine.options import EngineOptions
    from studio.ui.preferences import Preferences

    window.apply_preferences(Preferences(engine=EngineOptions(model_dirs=(sd_model.parent,))))
    combo = window.panel.model.combo
    listed = [combo.itemData(i) for i in range(combo.count())]
    assert str(sd_model) in listed


@pytest.mark.slow
def test_a_shown_history_image_goes_away_when_painting_resumes(qtbot, window):
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    (path,) = window.history.paths()
    window.show_history_item(path)
    assert window.view.has_preview()
    window.view.canvas_actions.brush.trigger()
    _drag(qtbot, window.view, [(5, 5), (20, 20)])
    assert not window.view.has_preview()


def test_mercury_settings_are_kept_in_the_one_settings_file(qtbot, tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    path = tmp_path / "settings.ini"
    first = MainWindow(open_store(path), start_engine=False)
    qtbot.addWidget(first)
    changed = replace(first.mercury.settings(), temperature=0.55, max_tokens=321)
    first.mercury.settings_changed.emit(changed)
    first.close()
    text = path.read_text()
    assert "max_tokens=321" in text.replace(" ", "")
    second = MainWindow(open_store(path), start_engine=False)
    qtbot.addWidget(second)
    assert second.mercury.settings().max_tokens == 321
    second.close()


@pytest.mark.slow
def test_one_prompt_per_line_runs_as_one_batch_with_distinct_metadata(qtbot, window):
    window.panel.per_line.setChecked(True)
    window.panel.prompt.setPlainText("a red barn\n\na blue boat\na green tree")
    window.panel.seed.setText("5")
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS) as finished:
        ids = window.generate()
    assert len(ids) == 1  # three small prompts fit in one pipeline call
    assert finished.args[1].seeds == (5, 6, 7)
    prompts = {parse_infotext(read_parameters(p)).prompt for p in window.history.paths()}
    assert prompts == {"a red barn", "a blue boat", "a green tree"}


@pytest.mark.slow
def test_a_batch_with_a_refused_prompt_queues_none_of_its_jobs(qtbot, window):
    """The third of four jobs is refused: the first two must not run for nobody."""
    one_image_per_call = 64 * 64 / 1_000_000
    window.worker.queue.set_services(
        ServiceOptions(cache=False, safety_mode="strict", batch_megapixels=one_image_per_call)
    )
    started = []
    window.worker.job_started.connect(lambda job_id, _r: started.append(job_id))
    window.panel.per_line.setChecked(True)
    window.panel.prompt.setPlainText("a red barn\na blue boat\na nsfw tree\na green tree")
    assert window.generate() == []
    assert "safety filter (strict) refused" in window.message_bar.text()
    assert window.worker.queue.pending() == [] and window.worker.queue.running_id is None
    assert not window.jobs.busy() and not window.panel.stop_button.isEnabled()
    window.panel.prompt.setPlainText("a red barn\na blue boat")
    ids = window.generate()
    assert len(ids) == 2 and window.panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not window.jobs.busy(), timeout=TIMEOUT_MS)
    assert started == ids  # the refused batch left nothing in the queue ahead of these
    assert len(window.history.paths()) == 2


@pytest.mark.slow
def test_the_same_recipe_comes_from_the_cache_unless_forced(qtbot, window):
    window.panel.seed.setText("99")
    results = []
    window.worker.job_finished.connect(lambda _id, r: results.append(r))
    for force in (False, False, True):
        with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
            window.generate(force=force)
    assert [r.cached for r in results] == [False, True, False]
    assert "From the result cache" not in window.status_text.text()
    pixels = [_pixels(r.images[0]) for r in results]
    assert np.array_equal(pixels[0], pixels[1]) and np.array_equal(pixels[0], pixels[2])


def test_a_recipe_restored_from_the_history_comes_from_the_cache(qtbot, window, sd_model):
    """The recipe names the sampler the model default was (Euler, the tiny
    model's own) and the model by its folder's name: generating it again is the
    same job, not a second run under another cache key or a model not found."""
    window.panel.prompt.setPlainText("a recipe restored from the history")
    window.panel.seed.setText("31")
    assert window.panel.scheduler.currentData() is None  # "Model default"
    results = []
    window.worker.job_finished.connect(lambda _id, r: results.append(r))
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    (path,) = window.history.paths()
    window.panel.prompt.setPlainText("something else")
    window.panel.seed.setText("1")
    assert window.restore_parameters_from(path)
    assert window.panel.scheduler.currentData() == "euler"
    assert window.panel.model.current_spec() == str(sd_model)
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    assert [r.cached for r in results] == [False, True]
    assert "From the result cache" in window.status_text.text()
    assert np.array_equal(_pixels(results[0].images[0]), _pixels(results[1].images[0]))


def test_the_in_app_api_serves_the_windows_queue_without_touching_the_canvas(qtbot, window):
    import json
    import urllib.request
    from dataclasses import replace

    from studio.ui.preferences import ApiOptions
    from studio.window_api import WindowApiHost

    host = WindowApiHost(window)  # as gui.py assembles it
    assert host.server is None  # off by default
    window.apply_preferences(replace(window.prefs, api=ApiOptions(enabled=True, port=0)))
    assert host.server is not None
    before = _pixels(window.document.composed_image())
    body = json.dumps(
        {
            "prompt": "a kite",
            "model": window.panel.model.current_spec(),
            "num_inference_steps": 2,
            "width": 64,
            "height": 64,
            "seed": 3,
        }
    )
    request = urllib.request.Request(
        f"{host.server.url}/generate/image",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Accept": "image/png"},
    )
    answers = []
    import threading

    thread = threading.Thread(
        target=lambda: answers.append(urllib.request.urlopen(request, timeout=60).read())
    )
    thread.start()
    qtbot.waitUntil(lambda: bool(answers), timeout=TIMEOUT_MS)
    thread.join(timeout=5)
    assert answers[0][:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(_pixels(window.document.composed_image()), before)
    assert window.history.paths() == []


def test_a_first_start_offers_the_bundled_demo_model_with_its_own_settings(qtbot):
    from studio.engine.catalog import CATALOG
    from studio.ui.generation_panel import GenerationPanel

    panel = GenerationPanel()  # no saved panel state: a first start
    qtbot.addWidget(panel)
    assert panel.model.current_spec() == "demo"
    assert (panel.width_box.value(), panel.height_box.value()) == (64, 64)
    assert panel.steps.value() == CATALOG["demo"].defaults.steps
    assert CATALOG["demo"].example_prompt in panel.prompt.placeholderText()
    panel.model.set_spec("tiny-random")
    assert CATALOG["demo"].example_prompt not in panel.prompt.placeholderText()


@pytest.mark.slow
def test_the_first_job_says_it_loads_the_model_then_shows_the_steps(qtbot, window):
    window.panel.prompt.setPlainText("a red barn")
    said = []
    window.worker.job_loading.connect(
        lambda *_: said.append((window.status_text.plain_text(), window.progress.format()))
    )
    window.worker.job_step.connect(
        lambda _id, step, *_: step == 1 and said.append(window.status_text.plain_text())
    )
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    assert said == [
        ("Loading model tiny-sd… (once per model; the steps follow)", "Loading tiny-sd…"),
        "Generating with tiny-sd: a red barn",
    ]
    said.clear()
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()  # the model is in memory now
    assert said == ["Generating with tiny-sd: a red barn"]


@pytest.mark.slow
def test_a_result_says_where_it_was_saved(qtbot, window):
    window.panel.seed.setText("8")
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    (path,) = window.history.paths()
    shown = window.status_text.plain_text()
    assert shown.startswith("Done in ") and f"seed 8 · saved {path.name} in " in shown
    assert f'href="{QUrl.fromLocalFile(str(path.parent.resolve())).toString()}"' in (
        window.status_text.text()
    )
    window.use_history_item(path)
    assert window.status_text.plain_text() == (
        f"{path.name} is now the canvas image · Ctrl+Z takes it back"
    )


def test_undoing_an_img2img_result_shows_the_sketch_again(qtbot, window):
    window.view.canvas_actions.brush.trigger()
    window.view.settings.size = 6
    _drag(qtbot, window.view, [(10, 10), (50, 50)])
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("img2img"))
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
    document, sketch_box = window.document, window.tool_panel.visibility[LayerName.SKETCH]
    assert not document.is_visible("sketch") and document.layer_has_content("image")
    window.view.canvas_actions.undo.trigger()
    assert document.is_visible("sketch") and sketch_box.isChecked()
    assert not document.layer_has_content("image")
    window.view.canvas_actions.redo.trigger()
    assert not document.is_visible("sketch") and not sketch_box.isChecked()
    assert document.layer_has_content("image")


@pytest.mark.slow
def test_a_size_far_from_the_models_gets_a_notice_once_without_blocking(qtbot, window):
    window.panel.width_box.setValue(144)
    window.panel.height_box.setValue(144)
    window.panel.seed.setText("3")  # the second job comes from the result cache
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        assert len(window.generate()) == 1  # queued all the same
        assert window.message_bar.level() == "info"
        assert window.message_bar.text().startswith(
            "tiny-sd was trained at 64×64; 144×144 is 5× its pixels"
        )
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.generate()
        assert window.message_bar.text() == ""  # said once for this model and size


@pytest.mark.slow
def test_a_result_that_cannot_be_saved_says_why_in_a_sentence(qtbot, window, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    window.history.store.root = blocker / "outputs"
    qtbot.keyClicks(window.panel.prompt, "a lighthouse at dusk")
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.panel.generate_button, Qt.MouseButton.LeftButton)
    said = window.message_bar.text()
    assert f"{blocker} is a file, not a folder" in said
    assert "Errno" not in said and "Preferences" in said


def test_a_new_output_folder_shows_the_results_in_it(qtbot, window, tmp_path):
    """Choosing another output folder in Preferences shows its results in the
    history strip at once, not the old folder's until the next start."""
    from dataclasses import replace

    from studio.ui.history import HistoryStore

    elsewhere = tmp_path / "elsewhere"
    saved = HistoryStore(elsewhere).save(Image.new("RGB", (8, 8), "red"), "a red square", 5)
    assert window.history.paths() == []
    window.apply_preferences(
        replace(window.prefs, window=replace(window.prefs.window, output_dir=str(elsewhere)))
    )
    assert window.history.paths() == [saved]
    assert window.history.store.root == elsewhere

"""The Models dialog, the window's background downloads and the model picker's
one-click Download, through the loopback hub (tests/hub_server.py) serving the
tiny SD model as stabilityai/sd-turbo."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
import types

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from studio.engine.byte_sizes import size_text
from studio.engine.catalog import CATALOG, Kind
from studio.engine.downloads import (
    DownloadError,
    ModelState,
    download,
    model_state,
    plan_download,
)
from studio.engine.hub_cache import downloaded_ref, repo_dir
from studio.ui import models_dialog
from studio.ui.download_jobs import DownloadJobs, DownloadStatus, SpeedMeter, runs_on_cpu
from studio.ui.model_picker import ModelPicker
from studio.ui.models_dialog import ModelsDialog, downloadable, removal_question
from studio.ui.theme import warning_color
from tests.test_window_looks import theme  # noqa: F401 (a fixture)

TIMEOUT_MS = 60_000
TURBO = "stabilityai/sd-turbo"


@pytest.fixture
def turbo(hub, sd_model, tmp_path, monkeypatch):
    """The hub serving sd-turbo, in small chunks so progress and cancel come often."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hub.add(TURBO, shutil.copytree(sd_model, tmp_path / "repo"))
    return hub


@pytest.fixture
def jobs(qtbot):
    jobs = DownloadJobs()
    yield jobs
    assert jobs.shutdown()


@pytest.fixture
def dialog(qtbot, jobs):
    return _open(qtbot, jobs)


def _open(qtbot, jobs: DownloadJobs) -> ModelsDialog:
    dialog = ModelsDialog(jobs, cpu_path=True)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_status_line_says_bytes_speed_and_time_left():
    mb = 2**20
    assert DownloadStatus(312 * mb, 1200 * mb, 45 * mb).text() == (
        "312 MB of 1.2 GB · 45 MB/s · 0:20 left"  # as its docstring says
    )
    assert DownloadStatus(0, 10 * mb, 0).text() == "0 KB of 10 MB"  # no speed yet: no guess
    assert DownloadStatus(10 * mb, 10 * mb, 3 * mb).text() == "10 MB of 10 MB"
    assert DownloadStatus(0, 3600 * mb, mb).text().endswith("1:00:00 left")
    assert DownloadStatus(5, 10, 1).percent == 50 and DownloadStatus(0, 0, 0).percent == 100


def test_the_speed_is_over_a_sliding_window():
    now = [0.0]
    meter = SpeedMeter(window_s=2.0, clock=lambda: now[0])
    assert meter.add(0) == 0.0
    for second in range(1, 6):
        now[0] = float(second)
        speed = meter.add(second * 100)
    assert speed == 100.0
    now[0] = 6.0
    assert meter.add(500) == pytest.approx(50.0)  # a stall shows within the window
    meter.restart(10_000)  # bytes found on disk are not speed
    now[0] = 7.0
    assert meter.add(10_100) == 100.0


def test_the_rows_are_pipelines_with_their_companions_and_the_speed_pack_only_on_cpu():
    rows = dict(downloadable(cpu_path=True))
    assert all(entry.kind is Kind.PIPELINE and entry.hub_id for entry in rows)
    assert [c.name for c in rows[CATALOG["sd15"]]] == ["controlnet-canny-sd15", "taesd"]
    on_gpu = dict(downloadable(cpu_path=False))
    assert [c.name for c in on_gpu[CATALOG["sd15"]]] == ["controlnet-canny-sd15"]
    assert runs_on_cpu("cpu") and not runs_on_cpu("cuda") and not runs_on_cpu("mps")


def test_the_cpu_path_guess_asks_a_loaded_torch_and_never_loads_one(monkeypatch):
    class Cuda:
        available = True

        def is_available(self) -> bool:
            return self.available

    half = types.ModuleType("torch")  # as the import machinery makes it, spec first
    half.__spec__ = importlib.util.find_spec("torch")
    fake = type("torch", (), {"cuda": Cuda()})
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert not runs_on_cpu("auto")
    fake.cuda.available = False
    assert runs_on_cpu("auto") or sys.platform == "darwin"
    # The engine thread half-way through importing torch: no cuda yet, no error.
    monkeypatch.setitem(sys.modules, "torch", half)
    assert runs_on_cpu("auto") in (True, False)
    code = (
        "import sys; from studio.ui.download_jobs import runs_on_cpu; runs_on_cpu('auto'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("name", ["dark", "light"])
def test_the_not_downloaded_message_is_in_the_warning_colour(qtbot, request, name):
    request.getfixturevalue("theme")(name)
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_downloads(DownloadJobs())
    picker.show()
    text = QPalette.ColorRole.WindowText

    def colour() -> str:
        return picker.status.palette().color(text).name()

    picker.set_spec("sdxl")  # not in the tests' empty hub cache
    assert "not downloaded" in picker.status.text()
    assert colour() == warning_color(picker.status.palette())
    picker.set_spec("demo")
    assert colour() != warning_color(picker.status.palette())


def test_a_partial_model_offers_the_rest_and_a_size_never_wraps(qtbot, jobs, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    blobs = repo_dir(TURBO) / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "0123.incomplete").write_bytes(b"x" * 4096)  # a download stopped half-way
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_downloads(jobs)
    picker.set_spec("sd-turbo")
    assert (
        picker.status.text()
        == "SD-Turbo (1–4 steps) is partly downloaded; Resume fetches the rest."
    )
    assert picker.combo.currentText() == "sd-turbo  (partial)"
    # Once planned, the size is the whole model's, not what is left of it.
    monkeypatch.setattr(jobs, "planned_total", lambda name: 8_600_000)
    picker.set_spec("sd-turbo")
    assert picker.status.text() == (
        "SD-Turbo (1–4 steps) is partly downloaded; "
        "Resume fetches the rest of its 8.2\N{NO-BREAK SPACE}MB."
    )


@pytest.mark.slow
def test_download_reaches_100_percent_and_the_picker_lists_the_model(qtbot, turbo, jobs, dialog):
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_downloads(jobs)
    assert picker.combo.itemText(picker.combo.findData("sd-turbo")).endswith("(not downloaded)")
    dialog.select("sd-turbo")
    assert dialog.state_text("sd-turbo") == "not downloaded"
    seen: list[DownloadStatus] = []
    jobs.progressed.connect(lambda name, status: seen.append(status))
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS):
        _click(qtbot, dialog.download_button)
    assert seen[-1].percent == 100 and seen[-1].done == seen[-1].total
    assert dialog.state_text("sd-turbo") == "present"
    assert model_state("sd-turbo")[0] is ModelState.PRESENT
    assert not dialog.download_button.isEnabled() and dialog.remove_button.isEnabled()
    assert picker.combo.itemText(picker.combo.findData("sd-turbo")) == "sd-turbo"


@pytest.mark.slow
def test_remove_asks_first_and_no_keeps_the_files(qtbot, turbo, jobs, monkeypatch):
    download(plan_download("sd-turbo"))
    dialog = _open(qtbot, jobs)
    dialog.select("sd-turbo")
    assert dialog.state_text("sd-turbo") == "present"
    asked = []

    def answer(reply: bool):
        def confirm(parent, question):
            asked.append(question)
            return reply

        return confirm

    monkeypatch.setattr(models_dialog, "confirm_removal", answer(False))
    _click(qtbot, dialog.remove_button)
    assert len(asked) == 1 and asked[0].startswith(
        "Remove sd-turbo — SD-Turbo (1–4 steps) — from this"
    )
    assert model_state("sd-turbo")[0] is ModelState.PRESENT

    monkeypatch.setattr(models_dialog, "confirm_removal", answer(True))
    with qtbot.waitSignal(jobs.removed, timeout=TIMEOUT_MS):
        _click(qtbot, dialog.remove_button)
    assert len(asked) == 2
    assert model_state("sd-turbo") == (ModelState.NOT_DOWNLOADED, 0)
    assert dialog.state_text("sd-turbo") == "not downloaded"
    assert dialog.message.text().startswith("Removed sd-turbo: ")


@pytest.mark.slow
def test_cancel_leaves_a_part_and_resume_fetches_only_the_rest(qtbot, turbo, jobs, dialog):
    turbo.chunk_delay = 0.02
    dialog.select("sd-turbo")
    _click(qtbot, dialog.download_button)
    qtbot.waitUntil(lambda: (jobs.status("sd-turbo") or DownloadStatus(0, 1, 0)).done > 0)
    with qtbot.waitSignal(jobs.cancelled, timeout=TIMEOUT_MS):
        dialog.cancel_button.click()  # no events run before the next line
        # It stops at the client's next chunk: until then the row says so.
        assert jobs.is_cancelling("sd-turbo") and not dialog.cancel_button.isEnabled()
        assert dialog.bar("sd-turbo").format() == "Cancelling…"
    state, kept = model_state("sd-turbo")
    assert state is ModelState.PARTIAL and kept > 0
    assert dialog.state_text("sd-turbo") == "partial"
    assert dialog.download_button.text() == "Resume"
    assert "cancelled" in dialog.message.text()

    turbo.chunk_delay = 0.0
    turbo.served.clear()
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS):
        _click(qtbot, dialog.download_button)
    plan = plan_download("sd-turbo")
    assert sum(turbo.served.values()) == plan.total - kept  # nothing fetched twice
    assert dialog.state_text("sd-turbo") == "present"


@pytest.mark.slow
def test_closing_the_dialog_keeps_the_download_and_reopening_shows_it(qtbot, turbo, jobs):
    turbo.chunk_delay = 0.01
    dialog = _open(qtbot, jobs)
    dialog.select("sd-turbo")
    _click(qtbot, dialog.download_button)
    dialog.close()
    assert jobs.running("sd-turbo")
    again = _open(qtbot, jobs)
    assert again.state_text("sd-turbo") == "downloading"
    assert again.bar("sd-turbo") is not None and not again.cancel_button.isEnabled()
    again.select("sd-turbo")
    assert again.cancel_button.isEnabled() and not again.download_button.isEnabled()
    qtbot.waitUntil(lambda: again.bar("sd-turbo").value() > 0, timeout=TIMEOUT_MS)
    assert " of " in again.bar("sd-turbo").format()
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS):
        pass
    assert again.state_text("sd-turbo") == "present" and again.bar("sd-turbo") is None


@pytest.mark.slow
def test_check_for_updates_marks_a_newer_version_and_update_fetches_only_it(
    qtbot, turbo, jobs, sd_model, tmp_path
):
    download(plan_download("sd-turbo"))
    dialog = _open(qtbot, jobs)
    dialog.select("sd-turbo")
    with qtbot.waitSignal(jobs.updates_checked, timeout=TIMEOUT_MS) as checked:
        _click(qtbot, dialog.update_button)
    assert checked.args == [[]] and dialog.state_text("sd-turbo") == "present"
    assert dialog.message.text() == "Every model here is up to date."
    assert not dialog.download_button.isEnabled()

    newer = shutil.copytree(sd_model, tmp_path / "newer")
    config = newer / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace("{", '{"_revised": true,', 1))
    turbo.add(TURBO, newer)
    with qtbot.waitSignal(jobs.updates_checked, timeout=TIMEOUT_MS) as checked:
        _click(qtbot, dialog.update_button)
    assert checked.args == [["sd-turbo"]]
    assert dialog.state_text("sd-turbo") == "update available"
    assert dialog.download_button.text() == "Update"
    turbo.served.clear()
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS):
        _click(qtbot, dialog.download_button)
    assert set(turbo.served) == {f"{TURBO}/scheduler/scheduler_config.json"}
    assert dialog.state_text("sd-turbo") == "present"
    assert not jobs.has_update("sd-turbo")


def test_a_gated_repo_says_so_in_the_dialog(qtbot, hub, sd_model, jobs, dialog):
    hub.add(TURBO, sd_model, token="secret")
    dialog.select("sd-turbo")
    with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS):
        _click(qtbot, dialog.download_button)
    sentence = jobs.error("sd-turbo")
    assert sentence.startswith(f"{TURBO} is gated: accept its licence at {hub.url}/{TURBO}")
    assert dialog.message.text() == sentence
    assert dialog.items("sd-turbo")[0].text(3) == sentence
    assert dialog.state_text("sd-turbo") == "not downloaded"
    assert dialog.download_button.isEnabled()


def test_offline_the_picker_says_so_in_one_sentence(qtbot, jobs):
    picker = ModelPicker()  # the tests run with HF_HUB_OFFLINE=1
    qtbot.addWidget(picker)
    picker.set_downloads(jobs)
    picker.set_spec("sd-turbo")
    with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS):
        _click(qtbot, picker.download_button)
    assert picker.status.text().startswith("Downloads are off because HF_HUB_OFFLINE is set")
    assert picker.download_button.text() == "Download" and picker.download_button.isEnabled()


@pytest.mark.slow
def test_a_failure_with_no_dialog_open_shows_in_the_window(qtbot, hub, sd_model, tmp_path):
    from studio.ui.main_window import MainWindow
    from studio.ui.settings_store import open_store

    hub.add("stabilityai/sdxl-turbo", sd_model, token="secret")
    window = MainWindow(open_store(tmp_path / "settings.ini"), start_engine=False)
    qtbot.addWidget(window, before_close_func=lambda w: w.document.undo_stack.setClean())
    with qtbot.waitSignal(window.downloads.failed, timeout=TIMEOUT_MS):
        window.downloads.start("sdxl-turbo")  # while another model is chosen
    assert window.message_bar.text().startswith("stabilityai/sdxl-turbo is gated")
    hub.repos["stabilityai/sdxl-turbo"].token = None  # the licence accepted meanwhile
    with qtbot.waitSignal(window.downloads.finished, timeout=TIMEOUT_MS):
        window.downloads.start("sdxl-turbo")
    assert window.message_bar.text() == ""  # the failure is not left standing


def test_quitting_cancels_a_running_download_and_keeps_its_part(qtbot, turbo):
    turbo.chunk_delay = 0.05
    jobs = DownloadJobs()
    jobs.start("sd-turbo")
    qtbot.waitUntil(lambda: (jobs.status("sd-turbo") or DownloadStatus(0, 1, 0)).done > 0)
    assert jobs.shutdown(timeout_s=30)
    assert model_state("sd-turbo")[0] is ModelState.PARTIAL


def test_a_download_that_outlives_its_window_ends_quietly(qtbot, turbo, monkeypatch):
    turbo.chunk_delay = 0.05
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    jobs = DownloadJobs()
    jobs.start("sd-turbo")
    qtbot.waitUntil(lambda: jobs.status("sd-turbo") is not None)
    (thread,) = [t for t in threading.enumerate() if t.name == "download-sd-turbo"]
    jobs.shutdown(timeout_s=0)  # quitting gave up waiting: the window goes first
    shiboken6.delete(jobs)
    thread.join(30)
    assert not thread.is_alive() and errors == []


def test_an_unexpected_error_is_a_sentence(qtbot, monkeypatch, jobs):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the disk said no")

    monkeypatch.setattr("studio.ui.download_jobs.plan_download", broken)
    with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS) as failed:
        jobs.start("sd-turbo")
    name, sentence = failed.args
    assert name == "sd-turbo"
    assert sentence.startswith("Downloading sd-turbo failed unexpectedly (RuntimeError: the disk")
    assert "\n" not in sentence


@pytest.mark.slow
def test_a_newcomer_picks_sd_turbo_clicks_download_and_generates(
    qtbot, turbo, tmp_path, monkeypatch
):
    """The issue's "Done when", in the window: no terminal anywhere."""
    from studio.ui.main_window import MainWindow
    from studio.ui.settings_store import open_store

    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    settings = open_store(tmp_path / "settings.ini")
    settings.setValue("ui/output_dir", str(tmp_path / "outputs"))
    window = MainWindow(settings)
    qtbot.addWidget(window, before_close_func=lambda w: w.document.undo_stack.setClean())
    window.show()
    picker = window.panel.model
    picker.set_spec("sd-turbo")
    assert picker.current_defaults() is None and "not downloaded" in picker.status.text()
    assert picker.download_button.isVisible() and picker.download_button.text() == "Download"
    with qtbot.waitSignal(window.downloads.finished, timeout=TIMEOUT_MS):
        _click(qtbot, picker.download_button)
    assert picker.current_spec() == "sd-turbo" and picker.current_defaults() is not None
    assert not picker.download_button.isVisible()
    assert picker.combo.currentText() == "sd-turbo"
    assert window.panel.steps.value() == CATALOG["sd-turbo"].defaults.steps
    window.document.reset(64, 64)
    window.panel.width_box.setValue(64)
    window.panel.height_box.setValue(64)
    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS * 2):
        _click(qtbot, window.panel.generate_button)
    (path,) = window.history.paths()
    assert path.suffix == ".png" and path.stat().st_size > 0

    # The dialog opens from the picker's Models… button and from the menu, once.
    _click(qtbot, picker.models_button)
    (dialog,) = window.findChildren(ModelsDialog)
    assert dialog.isVisible() and dialog.state_text("sd-turbo") == "present"
    assert dialog.selected_name() == "sd-turbo"  # the picker's model
    menu = next(a for a in window.menuBar().actions() if a.text() == "&Generate").menu()
    next(a for a in menu.actions() if a.text() == "&Models…").trigger()
    assert window.findChildren(ModelsDialog) == [dialog]
    window.document.undo_stack.setClean()
    window.close()


def test_downloads_fetch_for_the_device_the_engine_will_use(monkeypatch):
    import torch

    from studio.ui.download_jobs import fetch_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fetch_device("cpu") == "cpu"
    assert fetch_device("auto") == "cpu"
    assert fetch_device("cuda") == "cpu"  # chosen but absent: the engine says so, not this
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert fetch_device("auto") == "cuda"


def test_a_later_check_clears_an_update_found_earlier(qtbot, jobs, monkeypatch):
    newer = {"sd-turbo": True, "sdxl": True}

    def update_available(name: str) -> bool:
        if name == "sdxl" and not newer["sd-turbo"]:
            raise DownloadError("The hub did not answer.")
        return newer[name]

    monkeypatch.setattr("studio.ui.download_jobs.update_available", update_available)
    with qtbot.waitSignal(jobs.updates_checked, timeout=TIMEOUT_MS):
        jobs.check_updates(["sd-turbo", "sdxl"])
    assert jobs.has_update("sd-turbo") and jobs.has_update("sdxl")
    newer["sd-turbo"] = False  # updated meanwhile, e.g. with `studio download sd-turbo`
    with qtbot.waitSignal(jobs.update_check_failed, timeout=TIMEOUT_MS):
        jobs.check_updates(["sd-turbo", "sdxl"])
    # The hub said sd-turbo is current; sdxl got no answer, so its mark stays.
    assert not jobs.has_update("sd-turbo") and jobs.has_update("sdxl")


@pytest.mark.slow
def test_an_update_follows_the_tag_the_model_was_downloaded_at(
    qtbot, turbo, jobs, sd_model, tmp_path
):
    first = download(plan_download("sd-turbo", revision="v1.0"))
    newer = shutil.copytree(sd_model, tmp_path / "newer")
    config = newer / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace("{", '{"_revised": true,', 1))
    turbo.add(TURBO, newer)
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS):
        jobs.start("sd-turbo")  # the dialog's Update
    ref, commit = downloaded_ref(TURBO)
    assert ref == "v1.0" and commit != first.name
    assert not (repo_dir(TURBO) / "refs" / "main").exists()  # main was never asked for


@pytest.mark.slow
def test_the_size_to_download_shows_before_download_is_clicked(qtbot, turbo, jobs):
    dialog = _open(qtbot, jobs)
    total = sum(p.stat().st_size for p in (turbo.repos[TURBO].folder).rglob("*") if p.is_file())
    qtbot.waitUntil(lambda: dialog.items("sd-turbo")[0].text(2) != "—", timeout=TIMEOUT_MS)
    assert dialog.items("sd-turbo")[0].text(2) == size_text(jobs.planned_total("sd-turbo"))
    assert 0 < jobs.planned_total("sd-turbo") <= total
    assert dialog.state_text("sd-turbo") == "not downloaded"
    assert not turbo.served  # only the hub's file list was asked for

    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_downloads(jobs)
    picker.set_spec("sd-turbo")
    shown = picker.status.text().replace("\xa0", " ")  # a size keeps its unit on its line
    assert f"Download fetches it ({size_text(jobs.planned_total('sd-turbo'))})" in shown


def test_removing_a_shared_speed_pack_says_which_models_it_serves():
    question = removal_question("taesd", 80 * 1024)
    assert question.startswith("Remove taesd — Tiny decoder for SD 1.x/2.x")
    assert "It takes 80 KB." in question
    assert "It serves sd15, sd15-inpainting, sd21, sd-turbo, lcm-dreamshaper." in question
    assert removal_question("sd-turbo", 0).count("It serves") == 0


def test_the_removal_question_has_remove_and_cancel_with_cancel_the_default(qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    seen = {}

    def answer() -> None:
        box = QApplication.activeModalWidget()
        seen["buttons"] = sorted(b.text().replace("&", "") for b in box.buttons())
        seen["default"] = box.defaultButton().text().replace("&", "")
        box.defaultButton().click()

    QTimer.singleShot(0, answer)
    assert models_dialog.confirm_removal(parent, "Remove?") is False
    assert seen == {"buttons": ["Cancel", "Remove"], "default": "Cancel"}

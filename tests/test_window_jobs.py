"""The window's job bookkeeping (ui/job_controller.py) driven without a window:
a JobController over real panels, canvas and history, and a real EngineWorker
whose thread is never started, so jobs wait in its queue and the test plays
the engine's events in the order the worker emits them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QProgressBar

from studio.canvas import CanvasDocument, CanvasView
from studio.engine.worker import EngineWorker
from studio.ui import job_controller
from studio.ui.generation_panel import GenerationPanel
from studio.ui.history import HistoryStore, HistoryStrip
from studio.ui.job_controller import JobController
from studio.ui.message_bar import MessageBar
from studio.ui.queue_view import QueueView
from studio.ui.status_line import StatusLine


@pytest.fixture
def clock(monkeypatch):
    """The controller's clock, moved by hand: no test waits for real time."""
    now = SimpleNamespace(value=1000.0)
    monkeypatch.setattr(job_controller, "time", SimpleNamespace(monotonic=lambda: now.value))
    return now


@pytest.fixture
def parts(qtbot, tmp_path):
    panel = GenerationPanel()
    document = CanvasDocument(64, 64)
    view = CanvasView(document)
    history = HistoryStrip(HistoryStore(tmp_path / "outputs"))
    queue_view, message_bar = QueueView(), MessageBar()
    status, progress = StatusLine("Ready"), QProgressBar()
    for widget in (panel, view, history, queue_view, message_bar, status, progress):
        qtbot.addWidget(widget)
    panel.prompt.setPlainText("a lighthouse")
    panel.steps.setValue(2)
    panel.width_box.setValue(64)
    panel.height_box.setValue(64)
    controller = JobController(
        panel=panel,
        document=document,
        view=view,
        history=history,
        queue_view=queue_view,
        message_bar=message_bar,
        status=status,
        progress=progress,
        place_results=lambda: True,
    )
    worker = EngineWorker()  # never started: nothing runs unless the test says so
    controller.attach(worker)
    return SimpleNamespace(
        controller=controller, worker=worker, panel=panel, history=history,
        queue_view=queue_view, status=status, progress=progress,
    )  # fmt: skip


def _result(request, seed: int = 7):
    from studio.engine.request import GenerationResult

    image = Image.new("RGB", (64, 64), (200, 40, 40))
    return GenerationResult((image,), (seed,), request, "tiny", (f"{request.prompt}",), 0.5)


def test_submitted_jobs_wait_in_the_queue_and_mark_the_panel_busy(parts):
    ids = parts.controller.submit()
    assert len(ids) == 1 and parts.controller.busy()
    assert [job_id for job_id, _ in parts.worker.queue.pending()] == ids
    assert parts.queue_view.job_ids() == ids
    assert parts.panel.stop_button.isEnabled()
    assert parts.panel.generate_button.text() == "Queue another"


def test_the_step_time_counts_from_the_jobs_start_not_from_its_submit(parts, clock):
    """A job that waited a minute behind another says 1.5 s at its first step,
    not 61.5 s."""
    (job_id,) = parts.controller.submit()
    (request,) = [r for i, r in parts.worker.queue.pending() if i == job_id]
    clock.value += 60  # waiting behind someone else's job
    parts.worker.job_started.emit(job_id, request)
    assert parts.status.text().startswith("Generating with")
    clock.value += 1.5
    parts.worker.job_step.emit(job_id, 1, 2, QImage(), None)
    assert parts.progress.format() == "Step 1/2 · 1.5 s"


def test_a_finished_job_lands_in_the_history_and_frees_the_panel(parts, qtbot):
    (job_id,) = parts.controller.submit()
    (request,) = [r for _, r in parts.worker.queue.pending()]
    parts.worker.job_started.emit(job_id, request)
    with qtbot.waitSignal(parts.controller.idle, timeout=5000):
        parts.worker.job_finished.emit(job_id, _result(request))
    (saved,) = parts.history.paths()
    assert saved.is_file() and saved.name.endswith("-7.png")
    assert not parts.controller.busy()
    assert "seed 7" in parts.status.text()
    assert parts.progress.isHidden() and not parts.panel.stop_button.isEnabled()


def test_an_api_job_leaves_the_canvas_and_history_alone(parts):
    """Jobs the window did not submit (the in-app API's) share the queue only."""
    (job_id,) = parts.controller.submit()
    (request,) = [r for _, r in parts.worker.queue.pending()]
    stranger = job_id + 100
    parts.worker.job_started.emit(stranger, request)
    assert parts.status.text() == "Serving an API request…"
    parts.worker.job_finished.emit(stranger, _result(request))
    assert parts.history.paths() == [] and parts.controller.busy()

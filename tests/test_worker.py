"""The Qt worker: jobs run on its thread and come back as signals on the GUI thread."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtGui import QImage

from studio.engine.request import GenerationRequest
from studio.engine.worker import EngineWorker

TIMEOUT_MS = 60_000


@pytest.fixture
def worker(qtbot):
    engine = EngineWorker()
    engine.start()
    yield engine
    assert engine.shutdown()


def test_a_job_emits_started_a_preview_per_step_and_finished(qtbot, worker, sd_model):
    steps, threads = [], set()

    def on_step(job_id, step, total, preview, region):
        threads.add(threading.current_thread() is threading.main_thread())
        steps.append((job_id, step, total, preview, region))

    worker.job_step.connect(on_step)
    with qtbot.waitSignal(worker.job_finished, timeout=TIMEOUT_MS) as finished:
        job = worker.submit(GenerationRequest("a cat", model=str(sd_model), steps=3, seed=5))
    done_id, result = finished.args
    assert done_id == job
    assert result.images[0].size == (64, 64) and result.seeds == (5,)
    assert [s[1] for s in steps] == [1, 2, 3]
    preview = steps[-1][3]
    assert isinstance(preview, QImage) and not preview.isNull()
    assert (preview.width(), preview.height()) == (32, 32)
    assert threads == {True}  # slots ran on the GUI thread


def test_cancel_ends_the_job_as_cancelled(qtbot, worker, sd_model):
    seen = []
    worker.job_step.connect(lambda job_id, step, *_: seen.append(step))
    job = worker.submit(GenerationRequest("slow", model=str(sd_model), steps=60, seed=1))
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=TIMEOUT_MS)
    failed = []
    worker.job_failed.connect(lambda *a: failed.append(a))
    with qtbot.waitSignal(worker.job_cancelled, timeout=TIMEOUT_MS) as cancelled:
        worker.cancel(job)
    assert cancelled.args == [job]
    assert len(seen) < 60 and failed == []


def test_a_missing_model_fails_with_a_message(qtbot, worker):
    with qtbot.waitSignal(worker.job_failed, timeout=TIMEOUT_MS) as failed:
        job = worker.submit(GenerationRequest("x", model="sd15"))
    assert failed.args[0] == job
    assert "is not on this machine" in failed.args[1]

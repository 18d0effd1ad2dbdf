"""The job loop shared by the window, the CLI and the server: order, events,
cancellation and failures, on a real serving thread."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from studio.engine.errors import RequestError
from studio.engine.jobs import (
    JobCancelled,
    JobFailed,
    JobFinished,
    JobLoading,
    JobQueue,
    JobStarted,
    JobStep,
)
from studio.engine.request import GenerationRequest, Mode


class Recorder:
    def __init__(self) -> None:
        self.events = []
        self.changed = threading.Condition()

    def __call__(self, event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; events so far: {self.events}"
                self.changed.wait(left)

    def of(self, kind, job_id=None):
        return [e for e in self.events if isinstance(e, kind) and job_id in (None, e.job_id)]


@pytest.fixture
def served():
    recorder = Recorder()
    queue = JobQueue(recorder)
    thread = threading.Thread(target=queue.serve, daemon=True)
    thread.start()
    yield queue, recorder
    queue.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def _ended(job_id):
    return lambda events: any(
        isinstance(e, JobFinished | JobFailed | JobCancelled) and e.job_id == job_id for e in events
    )


def test_jobs_run_in_order_with_started_steps_and_finished(served, sd_model):
    queue, rec = served
    first = queue.submit(GenerationRequest("one", model=str(sd_model), steps=2, seed=1))
    second = queue.submit(GenerationRequest("two", model=str(sd_model), steps=3, seed=2))
    rec.wait_for(_ended(second))
    started = [e.job_id for e in rec.of(JobStarted)]
    assert started == [first, second]
    assert [e.info.step for e in rec.of(JobStep, second)] == [1, 2, 3]
    results = {e.job_id: e.result for e in rec.of(JobFinished)}
    assert results[first].request.prompt == "one" and results[second].seeds == (2,)
    # events of a job come in order: started, loading the model (the first job
    # only: the second finds it in memory), its steps, finished
    kinds = [type(e) for e in rec.events if e.job_id == first]
    assert kinds == [JobStarted, JobLoading, JobStep, JobStep, JobFinished]
    assert rec.of(JobLoading, first)[0].model_label == "tiny-sd"
    assert not rec.of(JobLoading, second)


def test_a_waiting_job_can_be_removed(served, sd_model):
    queue, rec = served
    running = queue.submit(GenerationRequest("slow", model=str(sd_model), steps=30, seed=1))
    waiting = queue.submit(GenerationRequest("never", model=str(sd_model), steps=2, seed=1))
    assert [job_id for job_id, _ in queue.pending()][-1] == waiting
    assert queue.cancel(waiting)
    queue.cancel(running)
    rec.wait_for(_ended(running))
    assert rec.of(JobCancelled, waiting)
    assert not rec.of(JobStarted, waiting)
    assert queue.pending() == []


def test_the_running_job_is_cancelled_at_its_next_step(served, sd_model):
    queue, rec = served
    job = queue.submit(GenerationRequest("long", model=str(sd_model), steps=40, seed=1))
    rec.wait_for(lambda events: len(rec.of(JobStep, job)) >= 2)
    queue.cancel(job)
    rec.wait_for(_ended(job))
    assert rec.of(JobCancelled, job)
    assert not rec.of(JobFinished, job) and not rec.of(JobFailed, job)
    assert len(rec.of(JobStep, job)) < 40


def test_a_failing_job_reports_a_sentence_and_the_next_job_runs(served, sd_model):
    queue, rec = served
    bad = queue.submit(GenerationRequest("x", model="no-such-model"))
    good = queue.submit(GenerationRequest("y", model=str(sd_model), steps=2, seed=1))
    rec.wait_for(_ended(good))
    (failure,) = rec.of(JobFailed, bad)
    assert "Model 'no-such-model' was not found" in failure.message
    assert rec.of(JobFinished, good)


def test_an_invalid_request_is_refused_at_submit(served):
    queue, _ = served
    with pytest.raises(RequestError, match="number of steps"):
        queue.submit(GenerationRequest("x", steps=0))
    assert queue.pending() == []


def test_stop_cancels_waiting_jobs_and_ends_the_loop(sd_model):
    rec = Recorder()
    queue = JobQueue(rec)
    job = queue.submit(GenerationRequest("x", model=str(sd_model), steps=2))
    queue.stop()
    queue.serve()  # returns at once: stopping
    assert rec.of(JobCancelled, job)
    with pytest.raises(Exception, match="shutting down"):
        queue.submit(GenerationRequest("x"))


def test_an_engine_that_cannot_start_fails_each_job_with_the_reason(sd_model):
    import torch

    from studio.engine.options import EngineOptions

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so the engine starts")
    rec = Recorder()
    queue = JobQueue(rec, EngineOptions(device="cuda"))
    thread = threading.Thread(target=queue.serve, daemon=True)
    thread.start()
    job = queue.submit(GenerationRequest("x", model=str(sd_model), steps=1))
    rec.wait_for(_ended(job))
    queue.stop()
    thread.join(timeout=30)
    (failure,) = rec.of(JobFailed, job)
    assert "choose Automatic or CPU in the settings" in failure.message


def test_a_failed_engine_start_is_kept_and_never_retried(sd_model, monkeypatch):
    """A second `import torch` after a failed one crashed the frozen app: the
    first failure is reported to every job and the start is not attempted again."""
    from studio.engine import jobs

    attempts = []

    def broken_store(options):
        attempts.append(options)
        raise ImportError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr(jobs, "PipelineStore", broken_store)
    rec = Recorder()
    queue = JobQueue(rec)
    thread = threading.Thread(target=queue.serve, daemon=True)
    thread.start()
    first = queue.submit(GenerationRequest("x", model=str(sd_model), steps=1))
    second = queue.submit(GenerationRequest("y", model=str(sd_model), steps=1))
    rec.wait_for(_ended(second))
    queue.stop()
    thread.join(timeout=30)
    assert len(attempts) == 1
    for job in (first, second):
        (failure,) = rec.of(JobFailed, job)
        assert "The engine could not start: libtorch_cpu.so" in failure.message


def test_a_controlnet_read_from_disk_is_announced_by_its_own_name(served, sd_model, sd_controlnet):
    queue, rec = served
    plain = queue.submit(GenerationRequest("a", model=str(sd_model), steps=1, seed=1))
    control = queue.submit(
        GenerationRequest(
            "b",
            model=str(sd_model),
            mode=Mode.CONTROLNET_CANNY,
            controlnet=str(sd_controlnet),
            control_image=Image.new("RGB", (64, 64), "white"),
            steps=1,
            seed=1,
            width=64,
            height=64,
        )
    )
    rec.wait_for(_ended(control))
    assert [e.model_label for e in rec.of(JobLoading, plain)] == ["tiny-sd"]
    # the model is in memory; only the ControlNet is read from disk
    assert [e.model_label for e in rec.of(JobLoading, control)] == ["tiny-controlnet"]
    assert rec.of(JobFinished, control)

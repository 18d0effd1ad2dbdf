"""RemoteWorker, the window's engine on a `studio serve` elsewhere, against a
real ApiServer on 127.0.0.1 over a tiny model: the same signals as the local
EngineWorker (previews, results, cancel, the queue), and a lost server or a
wrong token is a job's sentence, after which the worker still works."""

from __future__ import annotations

import contextlib
import socket
import threading

import numpy as np
import pytest
from api_harness import WAIT_S, ServedApi
from PySide6.QtCore import QMetaMethod, QObject
from PySide6.QtGui import QImage

from studio.engine.errors import EngineError, RequestError
from studio.engine.generate import generate
from studio.engine.jobs import JobCancelled, JobStarted
from studio.engine.options import ServiceOptions
from studio.engine.pngfile import save_png
from studio.engine.request import GenerationRequest
from studio.engine.watermark import Watermark
from studio.engine.worker import EngineWorker
from studio.remote import client
from studio.remote.client import RemoteEngine, RemoteError
from studio.ui.engine_port import EnginePort, JobQueuePort
from studio.ui.remote_worker import RemoteWorker

TOKEN = "window-token"
TIMEOUT_MS = int(WAIT_S * 1000)
LONG_STEPS = 150  # far more steps than a test waits for


@pytest.fixture
def served(sd_model):
    running = ServedApi(sd_model, token=TOKEN, step_delay_s=0.02)
    yield running
    running.stop()


@pytest.fixture
def worker(served):
    remote = RemoteWorker(served.url, TOKEN)
    remote.start()
    yield remote
    assert remote.shutdown(TIMEOUT_MS)


def _request(sd_model, steps=3, seed=5, prompt="a red boat") -> GenerationRequest:
    return GenerationRequest(prompt, model=str(sd_model), steps=steps, seed=seed,
                             width=64, height=64)  # fmt: skip


def _signals(obj: QObject) -> set[str]:
    """Every signal beyond QObject's own, declared in the class or a base."""
    meta = obj.metaObject()
    return {
        bytes(meta.method(i).methodSignature().data()).decode()
        for i in range(QObject.staticMetaObject.methodCount(), meta.methodCount())
        if meta.method(i).methodType() == QMetaMethod.MethodType.Signal
    }


def test_both_workers_are_the_one_engine_interface(qtbot):
    local, remote = EngineWorker(), RemoteWorker("http://127.0.0.1:9")
    for worker in (local, remote):
        assert isinstance(worker, EnginePort) and isinstance(worker.queue, JobQueuePort)
    assert _signals(remote) == _signals(local)
    assert "job_step(int,int,int,QImage,PyObject)" in _signals(remote)


def test_a_bad_address_is_refused_when_made_and_a_bad_request_when_submitted(qtbot, sd_model):
    with pytest.raises(RemoteError, match="is not a server address this client can use"):
        RemoteWorker("ftp://gpu-box")
    remote = RemoteWorker("gpu-box:8080")  # not started: nothing is sent
    assert remote.url == "http://gpu-box:8080"
    with pytest.raises(RequestError):  # refused here, as the local queue's submit does
        remote.submit(_request(sd_model).replace(width=5000))
    assert remote.queue.pending() == []
    job = remote.submit(_request(sd_model).replace(width=60))  # snapped, as locally
    assert remote.queue.pending()[0][1].width == 64
    with qtbot.waitSignal(remote.job_cancelled, timeout=TIMEOUT_MS) as cancelled:
        assert remote.cancel(job)
    assert cancelled.args == [job] and remote.queue.pending() == []
    assert not remote.cancel(job)
    assert remote.shutdown(TIMEOUT_MS)


@pytest.mark.slow
def test_a_job_shows_its_steps_and_its_result_is_the_servers_image(
    qtbot, served, worker, sd_model, store, tmp_path
):
    events, threads = [], set()

    def seen(name):
        def slot(*args):
            threads.add(threading.current_thread() is threading.main_thread())
            events.append((name, args))

        return slot

    for name in ("job_started", "job_step", "job_failed", "job_cancelled"):
        getattr(worker, name).connect(seen(name))
    request = _request(sd_model)
    with qtbot.waitSignal(worker.job_finished, timeout=TIMEOUT_MS) as finished:
        job = worker.submit(request)
    assert threads == {True}  # the slots ran on the GUI thread
    assert events[0] == ("job_started", (job, worker.queue.check(request)))
    steps = [args for name, args in events if name == "job_step"]
    assert [name for name, _ in events] == ["job_started"] + ["job_step"] * len(steps)
    assert steps and steps[-1][1:3] == (3, 3)
    assert [s[1] for s in steps] == sorted({s[1] for s in steps})  # no step twice, in order
    for step in steps:
        preview = step[3]
        assert isinstance(preview, QImage) and not preview.isNull() and step[4] is None

    done_id, result = finished.args
    assert done_id == job and result.seeds == (5,)
    local = generate(request, store).images[0]
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(local))
    server_id = worker.server_job_id(job)
    with RemoteEngine(served.url, TOKEN) as engine:
        server_png = engine.image(server_id, 0)
        assert result.infotexts[0] == engine._call("GET", f"/jobs/{server_id}").json()["parameters"]
    # Saved as the window saves results: the server's PNG, byte for byte.
    saved = save_png(result.images[0], tmp_path / "saved.png", result.infotexts[0])
    assert saved.read_bytes() == server_png
    assert result.request.steps == 3 and result.request.seed == 5 and not result.cached
    assert worker.queue.running_id is None and worker.queue.pending() == []


@pytest.mark.slow
def test_cancel_stops_the_running_job_on_the_server(qtbot, served, worker, sd_model):
    steps = []
    worker.job_step.connect(lambda job_id, step, *_: steps.append(step))
    failed = []
    worker.job_failed.connect(lambda *args: failed.append(args))
    job = worker.submit(_request(sd_model, steps=LONG_STEPS))
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=TIMEOUT_MS)
    assert worker.queue.running_id == job
    with qtbot.waitSignal(worker.job_cancelled, timeout=TIMEOUT_MS) as cancelled:
        assert worker.cancel(job)
    assert cancelled.args == [job] and failed == []
    assert served.state(worker.server_job_id(job)) == "cancelled"
    assert any(isinstance(e, JobCancelled) for e in served.log.snapshot())
    assert max(steps) < LONG_STEPS
    assert worker.queue.running_id is None


@pytest.mark.slow
def test_a_second_job_waits_in_the_queue_and_can_be_dropped_there(qtbot, served, worker, sd_model):
    with qtbot.waitSignal(worker.job_started, timeout=TIMEOUT_MS):
        first = worker.submit(_request(sd_model, steps=LONG_STEPS))
    second_request = _request(sd_model, prompt="a blue car")
    second = worker.submit(second_request)
    # It is in the server's queue, behind the first.
    served.log.wait_for(lambda _: len(served.engine.queue.pending()) == 1, "the second job")
    assert worker.queue.running_id == first
    assert worker.queue.pending() == [(second, worker.queue.check(second_request))]
    with qtbot.waitSignal(worker.job_cancelled, timeout=TIMEOUT_MS) as cancelled:
        worker.cancel(second)
    assert cancelled.args == [second] and worker.queue.pending() == []
    with qtbot.waitSignal(worker.job_cancelled, timeout=TIMEOUT_MS):
        worker.cancel(first)
    assert len([e for e in served.log.snapshot() if isinstance(e, JobStarted)]) == 1


@pytest.mark.slow
def test_a_lost_server_is_a_sentence_and_the_next_job_runs_once_it_is_back(
    qtbot, sd_model, monkeypatch
):
    monkeypatch.setattr(client, "RECONNECT_PAUSES_S", (0.0,))
    served = ServedApi(sd_model, token=TOKEN, step_delay_s=0.02)
    worker = RemoteWorker(served.url, TOKEN)
    worker.start()
    try:
        steps = []
        worker.job_step.connect(lambda *args: steps.append(args))
        with qtbot.waitSignal(worker.job_failed, timeout=TIMEOUT_MS) as failed:
            job = worker.submit(_request(sd_model, steps=LONG_STEPS))
            qtbot.waitUntil(lambda: len(steps) >= 1, timeout=TIMEOUT_MS)
            served.server.stop()  # mid-job
        assert failed.args[0] == job
        assert failed.args[1].startswith("The server is stopping; the job was cancelled.")

        with qtbot.waitSignal(worker.job_failed, timeout=TIMEOUT_MS) as failed:
            job = worker.submit(_request(sd_model, steps=1))  # nobody listens now
        assert failed.args[0] == job
        assert failed.args[1].startswith(f"Could not reach the server at {served.url}: ")
        assert worker.queue.pending() == [] and worker.queue.running_id is None

        served.restart()
        with qtbot.waitSignal(worker.job_finished, timeout=TIMEOUT_MS) as finished:
            job = worker.submit(_request(sd_model, steps=1))
        assert finished.args[0] == job and finished.args[1].seeds == (5,)
    finally:
        assert worker.shutdown(TIMEOUT_MS)
        served.stop()


@pytest.mark.parametrize(
    ("token", "said"),
    [
        (lambda: "wrong", "did not accept the token; save the one it was started with"),
        (None, "needs a token: save the one it was started with"),
    ],
)
def test_a_refused_token_is_a_sentence_that_points_at_settings(qtbot, served, sd_model,
                                                               token, said):  # fmt: skip
    """The window's sentence names Settings, where its token lives, not the CLI's --token."""
    worker = RemoteWorker(served.url, token)
    worker.start()
    try:
        with qtbot.waitSignal(worker.job_failed, timeout=TIMEOUT_MS) as failed:
            job = worker.submit(_request(sd_model, steps=1))
    finally:
        assert worker.shutdown(TIMEOUT_MS)
    assert failed.args == [
        job,
        f"The server at {served.url} {said} in Settings → General → Engine server token.",
    ]
    assert served.log.snapshot() == []


@pytest.mark.slow
def test_shutdown_cancels_the_running_job_on_the_server(qtbot, served, sd_model):
    worker = RemoteWorker(served.url, TOKEN)
    worker.start()
    with qtbot.waitSignal(worker.job_step, timeout=TIMEOUT_MS):
        job = worker.submit(_request(sd_model, steps=LONG_STEPS))
    server_id = worker.server_job_id(job)
    assert worker.shutdown(TIMEOUT_MS)
    served.log.wait_for(
        lambda events: any(isinstance(e, JobCancelled) for e in events), "the job's cancel"
    )
    assert served.state(server_id) == "cancelled"
    with pytest.raises(EngineError, match="shutting down"):
        worker.submit(_request(sd_model))


@pytest.mark.slow
def test_a_batch_of_prompts_is_one_server_job_with_an_image_per_prompt(
    qtbot, served, worker, sd_model
):
    request = _request(sd_model, steps=1)
    jobs = worker.queue.plan(request, ["a red boat", "a blue car"])
    assert [job.prompts for job in jobs] == [("a red boat", "a blue car")]
    with qtbot.waitSignal(worker.job_finished, timeout=TIMEOUT_MS) as finished:
        job = worker.submit(worker.queue.check(jobs[0]))
    result = finished.args[1]
    assert finished.args[0] == job and result.seeds == (5, 6)
    assert [text.splitlines()[0] for text in result.infotexts] == ["a red boat", "a blue car"]
    started = [e.request.prompts for e in served.log.snapshot() if isinstance(e, JobStarted)]
    assert started == [("a red boat", "a blue car")]


def test_the_windows_prompt_filter_refuses_before_anything_is_sent(qtbot, sd_model):
    remote = RemoteWorker("http://127.0.0.1:9")  # nothing listens there: nothing is sent
    remote.queue.set_services(ServiceOptions(cache=False, safety_mode="strict"))
    with pytest.raises(RequestError, match="nude"):
        remote.queue.check(_request(sd_model, prompt="a nude figure"))
    with pytest.raises(RequestError, match="nude"):
        remote.submit(_request(sd_model, prompt="a nude figure"))
    assert remote.queue.pending() == [] and remote.shutdown(TIMEOUT_MS)


@pytest.mark.slow
def test_the_windows_watermark_marks_the_servers_image(qtbot, served, worker, sd_model):
    worker.queue.set_services(ServiceOptions(cache=False, watermark=Watermark("MINE")))
    with qtbot.waitSignal(worker.job_finished, timeout=TIMEOUT_MS) as finished:
        worker.submit(_request(sd_model, steps=1))
    assert "Watermark: " in finished.args[1].infotexts[0]
    started = next(e for e in served.log.snapshot() if isinstance(e, JobStarted))
    assert started.request.watermark is not None and started.request.watermark.text == "MINE"


@pytest.mark.slow
def test_the_windows_job_bookkeeping_runs_on_the_remote_worker(qtbot, served, worker,
                                                               sd_model, tmp_path):  # fmt: skip
    """job_controller.py as the window uses it, over a RemoteWorker instead of
    the local one: the result lands in the history as the server's PNG."""
    from PySide6.QtWidgets import QProgressBar

    from studio.canvas import CanvasDocument, CanvasView
    from studio.ui.generation_panel import GenerationPanel
    from studio.ui.history import HistoryStore, HistoryStrip
    from studio.ui.job_controller import JobController
    from studio.ui.message_bar import MessageBar
    from studio.ui.queue_view import QueueView
    from studio.ui.status_line import StatusLine

    panel, document = GenerationPanel(), CanvasDocument(64, 64)
    view, history = CanvasView(document), HistoryStrip(HistoryStore(tmp_path / "outputs"))
    queue_view, message_bar = QueueView(), MessageBar()
    status, progress = StatusLine("Ready"), QProgressBar()
    for widget in (panel, view, history, queue_view, message_bar, status, progress):
        qtbot.addWidget(widget)
    panel.model.set_spec(str(sd_model))
    panel.prompt.setPlainText("a lighthouse")
    panel.steps.setValue(2)
    panel.seed.setText("11")
    panel.width_box.setValue(64)
    panel.height_box.setValue(64)
    controller = JobController(
        panel=panel, document=document, view=view, history=history, queue_view=queue_view,
        message_bar=message_bar, status=status, progress=progress, place_results=lambda: True,
    )  # fmt: skip
    controller.attach(worker)  # type: ignore[arg-type]  # the engine interface, not the class
    with qtbot.waitSignal(controller.idle, timeout=TIMEOUT_MS):
        (job,) = controller.submit()
        assert queue_view.job_ids() == [job]
    (saved,) = history.paths()
    with RemoteEngine(served.url, TOKEN) as engine:
        assert saved.read_bytes() == engine.image(worker.server_job_id(job), 0)
    assert saved.name.endswith("-11.png") and "seed 11" in status.text()
    assert not controller.busy() and message_bar.isHidden()


def test_shutdown_does_not_wait_for_a_server_that_does_not_answer(qtbot, sd_model):
    """Shutdown runs on the GUI thread: by default it returns while the job's
    POST still waits on a server that accepted the connection and never
    answers. (The old 30 s wait outlasted the hang, which ends after 10 s, and
    returned True once the sender had failed the job.)"""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def hold() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                held.append(connection)  # read nothing, answer nothing

    def hang_up() -> None:
        listener.close()
        for connection in held:
            connection.close()

    threading.Thread(target=hold, daemon=True).start()
    worker = RemoteWorker(f"http://127.0.0.1:{listener.getsockname()[1]}", TOKEN)
    worker.start()
    worker.submit(_request(sd_model, steps=1))
    qtbot.waitUntil(lambda: bool(held), timeout=TIMEOUT_MS)
    hang_up_later = threading.Timer(10.0, hang_up)
    hang_up_later.start()
    try:
        assert not worker.shutdown()  # the sender still waits on the server
    finally:
        hang_up_later.cancel()
        hang_up()

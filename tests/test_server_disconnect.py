"""A job never outlives its client: a client that closes its socket mid-job
gets its job cancelled at the next step, a client that gives up while its job
waits gets it taken off the queue, and the next job starts right after — on
`studio serve`'s own queue and on the window's queue (the in-app server).
A text request whose client leaves closes its upstream stream."""

from __future__ import annotations

import time

import pytest
from api_harness import WAIT_S, EventLog, RawClient, ServedQueue
from openai_server import OpenAIServer, TextReply

from studio.engine.jobs import JobCancelled, JobFinished, JobStep
from studio.server.runner import ApiServer
from studio.server.text import TextService

LONG_STEPS = 150
STEP_DELAY_S = 0.1  # each step of the tiny model lasts at least this long
# Steps that may still run between the client's close and the cancel taking effect:
# on a quiet machine none; 40 (at least 4 s) leaves room for a loaded 2-core one
# and is still far fewer than the steps the job had left.
FEW_STEPS = 40


def _body(seed: int, steps: int) -> dict:
    return {"prompt": f"a boat {seed}", "seed": seed, "num_inference_steps": steps}


@pytest.fixture
def served(sd_model):
    log = EventLog(step_delay_s=STEP_DELAY_S)
    engine = ServedQueue(log)
    llm = OpenAIServer().start()
    server = ApiServer(engine.queue, port=0, default_model=str(sd_model),
                       text=TextService(llm.base_url, api_key="k"))  # fmt: skip
    server.start()
    yield server, log, llm, engine.queue
    server.stop()
    llm.stop()
    engine.stop()


@pytest.mark.slow
def test_a_client_that_leaves_cancels_its_job_and_the_next_one_starts(served):
    server, log, _llm, queue = served
    running = RawClient(server.url, "/generate/image", _body(1, LONG_STEPS))  # job 1
    log.wait_for(lambda events: any(isinstance(e, JobStep) for e in events), "job 1's first step")
    gave_up = RawClient(server.url, "/generate/image", _body(2, LONG_STEPS))  # job 2, waits
    log.wait_for(lambda _: len(queue.pending()) == 1, "job 2 in the queue")
    waiting = RawClient(server.url, "/generate/image", _body(3, 2))  # job 3, waits
    log.wait_for(lambda _: len(queue.pending()) == 2, "job 3 in the queue")

    gave_up.close()  # a queued job of a client that gave up is removed ...
    log.wait_for(lambda _: log.ended(2) is not None, "job 2 to be dropped")
    assert isinstance(log.ended(2), JobCancelled) and log.start_of(2) is None
    assert log.ended(1) is None and [job for job, _ in queue.pending()] == [3]

    steps_at_close = log.steps(1)
    running.close()  # ... and a running one stops at its next step
    log.wait_for(lambda _: log.ended(1) is not None, "job 1 to end")
    assert isinstance(log.ended(1), JobCancelled)
    assert log.steps(1) - steps_at_close <= FEW_STEPS < LONG_STEPS - steps_at_close

    log.wait_for(lambda _: log.ended(3) is not None, "job 3 to end")
    events = log.snapshot()
    cancelled_at = events.index(log.ended(1))
    started_at = events.index(log.start_of(3))
    assert started_at == cancelled_at + 1  # nothing ran in between
    assert isinstance(log.ended(3), JobFinished)
    assert waiting.status_line() == "HTTP/1.1 200 OK"
    waiting.close()


def test_a_client_that_leaves_mid_answer_closes_the_upstream_stream(served):
    server, _log, llm, _queue = served
    llm.reply(TextReply("a slow answer " * 20, chunk_chars=4, delay_s=0.1))
    client = RawClient(server.url, "/generate/text", {"prompt": "hi"})
    deadline = time.monotonic() + WAIT_S
    while not llm.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.01)
    client.close()
    assert llm.wait_for_abandoned_stream(timeout_s=WAIT_S)


def test_the_in_app_server_drops_a_leaving_clients_job_not_the_windows(qtbot, sd_model):
    from studio.engine.request import GenerationRequest
    from studio.engine.worker import EngineWorker

    worker = EngineWorker()
    worker.start()
    llm = OpenAIServer().start()
    server = ApiServer(worker.queue, port=0, default_model=str(sd_model),
                       text=TextService(llm.base_url, api_key="k"))  # fmt: skip
    server.start()
    cancelled: list[int] = []
    started: list[int] = []
    worker.job_cancelled.connect(cancelled.append)
    worker.job_started.connect(lambda job_id, _request: started.append(job_id))
    try:
        long_job = GenerationRequest("the window's job", model=str(sd_model), steps=LONG_STEPS)
        window_job = worker.submit(long_job.replace(width=128, height=128, seed=1))
        qtbot.waitUntil(lambda: window_job in started, timeout=60_000)
        client = RawClient(server.url, "/generate/image", _body(5, 2))
        qtbot.waitUntil(lambda: len(worker.queue.pending()) == 1, timeout=60_000)
        (api_job, _request) = worker.queue.pending()[0]
        client.close()
        qtbot.waitUntil(lambda: api_job in cancelled, timeout=60_000)
        assert worker.queue.pending() == [] and worker.queue.running_id == window_job
        assert window_job not in cancelled
    finally:
        worker.cancel_all()
        server.stop()
        llm.stop()
        assert worker.shutdown()

"""The job API over real HTTP on 127.0.0.1 (httpx2): a job's events stream
(queued, started, steps with previews, finished), its image byte-identical to
/generate/image's, cancelling a waiting and a running job, the grace period
that cancels a job nobody follows, late and several readers, and the refusals
(unknown id, token, full queue, a failing job), plus the device in /health."""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx2
import numpy as np
import pytest
from api_harness import WAIT_S, ServedApi
from PIL import Image

from studio.engine.jobs import JobCancelled, JobQueue, JobStarted
from studio.server import jobs_api
from studio.server.health import device_words
from studio.server.limits import (
    MAX_TEXT_BODY,
    QUEUE_RETRY_AFTER_S,
    JobLimits,
    too_large_sentence,
)

TOKEN = "jobs-token"
LONG_STEPS = 150  # far more steps than a test waits for
STEP_DELAY_S = 0.05


def _body(seed: int, steps: int = 2) -> dict:
    return {
        "prompt": f"a red boat {seed}",
        "seed": seed,
        "num_inference_steps": steps,
        "width": 64,
        "height": 64,
    }


class Served(ServedApi):
    def __init__(self, sd_model, **options) -> None:
        super().__init__(sd_model, **options)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx2.Client(base_url=self.url, timeout=WAIT_S, headers=headers)

    def submit(self, body: dict) -> str:
        reply = self.http.post("/jobs", json=body)
        assert reply.status_code == 202, reply.text
        return reply.json()["id"]

    def events(self, job_id: str) -> Iterator[tuple[str, dict]]:
        """The job's events as they come, until the stream ends (or the caller stops)."""
        with self.http.stream("GET", f"/jobs/{job_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            name = data = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                elif line == "" and name is not None:
                    yield name, data
                    name = data = None

    def stop(self) -> None:
        self.http.close()
        super().stop()


@pytest.fixture
def served(sd_model):
    running = Served(sd_model)
    yield running
    running.stop()


def _started(count: int = 1):
    return lambda events: sum(isinstance(e, JobStarted) for e in events) >= count


# -- one job, from POST to its image ------------------------------------------------------


@pytest.mark.slow
def test_a_job_streams_its_progress_and_its_image_is_the_blocking_endpoints(sd_model):
    served = Served(sd_model, hold_first_job=True)
    try:
        reply = served.http.post("/jobs", json=_body(7, steps=3))
        assert reply.status_code == 202
        job = reply.json()
        assert job == {"id": job["id"], "position": 0, "events": f"/jobs/{job['id']}/events"}
        assert reply.headers["location"] == f"/jobs/{job['id']}"
        served.log.wait_for(_started(), "the engine to take the job")
        stream = served.events(job["id"])
        assert next(stream) == ("queued", {"position": 0})  # held before it started
        served.log.release.set()
        rest = list(stream)
        state = served.http.get(f"/jobs/{job['id']}").json()
        image = served.http.get(f"/jobs/{job['id']}/images/0")
        blocking = served.http.post("/generate/image", json=_body(7, steps=3))
    finally:
        served.stop()
    names = [name for name, _ in rest]
    assert names[0] == "started" and names[-1] == "finished"
    assert set(names[1:-1]) <= {"loading", "step"} and "step" in names
    steps = [data for name, data in rest if name == "step"]
    assert [s["step"] for s in steps] == sorted({s["step"] for s in steps})
    assert steps[-1]["step"] == steps[-1]["total"] == 3
    preview = Image.open(io.BytesIO(base64.b64decode(steps[-1]["preview"])))
    # One pixel per latent: the tiny model's latents are half the image's side.
    assert preview.format == "PNG" and preview.size == (32, 32)
    finished = rest[-1][1]
    assert finished["images"] == [f"/jobs/{job['id']}/images/0"] and finished["seeds"] == [7]
    assert "Seed: 7" in finished["parameters"] and "Steps: 3" in finished["parameters"]
    assert state["state"] == "finished" and state["images"] == finished["images"]
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert blocking.status_code == 200 and image.content == blocking.content


@pytest.mark.slow
def test_a_batch_is_one_job_with_its_images_numbered_across_engine_jobs(served):
    body = _body(3, steps=1) | {"prompts": ["a green tree"], "batch_count": 2}
    job_id = served.submit(body)
    events = list(served.events(job_id))
    name, finished = events[-1]
    assert name == "finished" and len(finished["images"]) == 4
    assert finished["images"][-1] == f"/jobs/{job_id}/images/3"
    pngs = [served.http.get(url).content for url in finished["images"]]
    assert len(set(pngs)) == 4 and all(png.startswith(b"\x89PNG") for png in pngs)
    gone = served.http.get(f"/jobs/{job_id}/images/4")
    assert gone.status_code == 404
    assert gone.json()["error"] == f"Job {job_id!r} made 4 image(s), numbered from 0."


# -- cancelling --------------------------------------------------------------------------


@pytest.mark.slow
def test_delete_drops_a_waiting_job_and_stops_a_running_one(sd_model):
    served = Served(sd_model, step_delay_s=STEP_DELAY_S)
    try:
        running = served.submit(_body(1, LONG_STEPS))
        served.log.wait_for(lambda _: served.log.steps(1) > 0, "the first job's first step")
        waiting = served.http.post("/jobs", json=_body(2)).json()
        last = served.http.post("/jobs", json=_body(3)).json()
        assert (waiting["position"], last["position"]) == (1, 2)
        assert served.http.get(f"/jobs/{last['id']}").json() == {
            "id": last["id"], "state": "queued", "position": 2,
        }  # fmt: skip
        last_events = served.events(last["id"])
        assert next(last_events) == ("queued", {"position": 2})

        dropped = served.http.delete(f"/jobs/{waiting['id']}")
        assert dropped.status_code == 200 and dropped.json()["state"] == "cancelled"
        assert next(last_events) == ("queued", {"position": 1})  # it moved up
        last_events.close()
        assert list(served.events(waiting["id"])) == [
            ("cancelled", {"message": "The job was cancelled."})
        ]
        assert served.http.delete(f"/jobs/{waiting['id']}").json()["state"] == "cancelled"

        stream = served.events(running)
        assert next(stream)[0] == "started"
        assert served.http.delete(f"/jobs/{running}").status_code == 200
        names = [name for name, _ in stream]
        assert names[-1] == "cancelled" and set(names[:-1]) <= {"step"}
    finally:
        served.stop()
    assert served.log.start_of(2) is None  # the dropped job never ran
    assert isinstance(served.log.ended(1), JobCancelled)
    assert served.log.steps(1) < LONG_STEPS


@pytest.mark.slow
def test_a_job_nobody_follows_is_cancelled_after_the_grace_period(sd_model):
    served = Served(sd_model, step_delay_s=STEP_DELAY_S, limits=JobLimits(grace_s=0.5))
    try:
        followed_once = served.submit(_body(1, LONG_STEPS))
        stream = served.events(followed_once)
        assert next(stream)[0] in ("queued", "started")
        stream.close()  # the client went away and does not come back
        served.log.wait_for(lambda _: served.log.ended(1) is not None, "the first job to end")
        assert isinstance(served.log.ended(1), JobCancelled)
        assert served.http.get(f"/jobs/{followed_once}").json()["state"] == "cancelled"

        never_followed = served.submit(_body(2, LONG_STEPS))
        served.log.wait_for(lambda _: served.log.ended(2) is not None, "the second job to end")
        assert isinstance(served.log.ended(2), JobCancelled)
        assert served.http.get(f"/jobs/{never_followed}").json()["state"] == "cancelled"
    finally:
        served.stop()
    assert served.log.steps(1) < LONG_STEPS and served.log.steps(2) < LONG_STEPS


@pytest.mark.slow
def test_a_reader_that_comes_back_within_the_grace_period_keeps_the_job(sd_model):
    grace_s = 0.3
    served = Served(sd_model, hold_first_job=True, limits=JobLimits(grace_s=grace_s))
    try:
        job_id = served.submit(_body(1))
        served.log.wait_for(_started(), "the engine to hold the job")
        stream = served.events(job_id)
        next(stream)
        stream.close()  # a dropped connection ...
        stream = served.events(job_id)  # ... and the client is back at once
        assert next(stream) == ("queued", {"position": 0})
        time.sleep(3 * grace_s)  # a grace period left armed would cancel it now
        served.log.release.set()
        events = list(stream)
    finally:
        served.stop()
    assert events[-1][0] == "finished"


# -- readers -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_late_reader_starts_from_the_current_state_beside_an_early_one(sd_model):
    served = Served(sd_model, step_delay_s=STEP_DELAY_S)
    try:
        job_id = served.submit(_body(5, steps=12))
        early: list[tuple[str, dict]] = []
        follower = threading.Thread(target=lambda: early.extend(served.events(job_id)))
        follower.start()
        # Step 4 in the log: step 3 is on its way to the server's loop before this reader.
        served.log.wait_for(lambda _: served.log.steps(1) >= 4, "four steps")
        late = list(served.events(job_id))
        follower.join(WAIT_S)
        after_the_end = list(served.events(job_id))
    finally:
        served.stop()
    assert late[0] == ("started", {"part": 0, "parts": 1})
    assert late[1][0] == "step" and late[1][1]["step"] >= 3  # not the steps it missed
    assert early[-1] == late[-1] and late[-1][0] == "finished"
    assert after_the_end == [late[-1]]


@pytest.mark.slow
def test_a_quiet_stream_gets_keep_alive_comments(sd_model, monkeypatch):
    monkeypatch.setattr(jobs_api, "KEEPALIVE_S", 0.2)
    served = Served(sd_model, hold_first_job=True)
    try:
        job_id = served.submit(_body(1))
        served.log.wait_for(_started(), "the engine to hold the job")
        lines: list[str] = []
        with served.http.stream("GET", f"/jobs/{job_id}/events") as response:
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith(":"):
                    break
        served.log.release.set()
    finally:
        served.stop()
    assert lines == ["event: queued", 'data: {"position": 0}', "", ": keep-alive"]


def test_the_job_routes_are_on_the_openapi_page(served):
    paths = served.http.get("/openapi.json").json()["paths"]
    assert set(paths["/jobs"]) == {"post"}
    assert set(paths["/jobs/{job_id}"]) == {"get", "delete"}
    assert {"/jobs/{job_id}/events", "/jobs/{job_id}/images/{index}"} <= set(paths)


# -- refusals ----------------------------------------------------------------------------


def test_an_unknown_job_is_404_with_a_sentence_everywhere(served):
    for method, path in [
        ("GET", "/jobs/nope"),
        ("DELETE", "/jobs/nope"),
        ("GET", "/jobs/nope/events"),
        ("GET", "/jobs/nope/images/0"),
    ]:
        reply = served.http.request(method, path)
        assert reply.status_code == 404, (method, path)
        assert reply.json()["error"].startswith("There is no job 'nope': it never existed here")


def test_every_job_route_needs_the_token(sd_model):
    served = Served(sd_model, token=TOKEN)
    try:
        bare = httpx2.Client(base_url=served.server.url, timeout=WAIT_S)
        for method, path in [
            ("POST", "/jobs"),
            ("GET", "/jobs/x"),
            ("DELETE", "/jobs/x"),
            ("GET", "/jobs/x/events"),
            ("GET", "/jobs/x/images/0"),
        ]:
            reply = bare.request(method, path, json=_body(1) if method == "POST" else None)
            assert reply.status_code == 401, (method, path)
            assert reply.headers["www-authenticate"] == "Bearer"
        bare.close()
        assert served.log.snapshot() == []  # nothing was queued
        assert served.http.get("/jobs/x").status_code == 404  # with the token: past the guard
    finally:
        served.stop()


@pytest.mark.slow
def test_a_full_queue_is_503_with_retry_after(sd_model):
    served = Served(sd_model, hold_first_job=True, max_queue=1)
    try:
        served.submit(_body(1))
        served.log.wait_for(_started(), "the first job to hold the engine")
        served.submit(_body(2))
        refused = served.http.post("/jobs", json=_body(3))
        served.log.release.set()
    finally:
        served.stop()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == str(QUEUE_RETRY_AFTER_S)
    assert refused.json()["error"].startswith("The server is busy: 1 jobs are waiting")


@pytest.mark.slow
def test_a_job_takes_input_images_past_the_text_allowance(served):
    noise = np.random.default_rng(0).integers(0, 256, (768, 768, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    init = base64.b64encode(buffer.getvalue()).decode()
    assert len(init) > MAX_TEXT_BODY
    reply = served.http.post("/jobs", json=_body(1, steps=1) | {"init_image": init})
    assert reply.status_code == 202, reply.text
    too_long = served.http.post("/jobs", json={"prompt": "x" * (MAX_TEXT_BODY + 1)})
    assert too_long.status_code == 413
    assert too_long.json()["error"] == too_large_sentence("/jobs")


def test_a_bad_request_is_refused_before_it_is_queued(served):
    missing = served.http.post("/jobs", json=_body(1) | {"model": "no-such-model-here"})
    assert missing.status_code == 404 and "no-such-model-here" in missing.json()["error"]
    unknown = served.http.post("/jobs", json=_body(1) | {"steps": 3})
    assert unknown.status_code == 422
    assert unknown.json()["error"].startswith("Unknown field 'steps'")
    assert served.log.snapshot() == []


@pytest.mark.slow
def test_a_job_that_fails_in_the_engine_says_why_in_its_events(served, sd_model, tmp_path):
    broken = shutil.copytree(sd_model, tmp_path / "broken")
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.write_bytes(b"\0" * 64)
    job_id = served.submit(_body(1) | {"model": str(broken)})
    name, data = list(served.events(job_id))[-1]
    assert name == "failed" and data["status"] == 422
    assert data["message"].startswith("Model 'broken' could not be loaded")
    state = served.http.get(f"/jobs/{job_id}").json()
    assert state["state"] == "failed" and state["message"] == data["message"]
    assert served.http.get(f"/jobs/{job_id}/images/0").status_code == 404


@pytest.mark.slow
def test_ended_jobs_are_kept_only_up_to_the_bound(sd_model):
    served = Served(sd_model, limits=JobLimits(keep_count=1))
    try:
        first = served.submit(_body(1, steps=1))
        assert list(served.events(first))[-1][0] == "finished"
        second = served.submit(_body(2, steps=1))
        assert list(served.events(second))[-1][0] == "finished"
        forgotten = served.http.get(f"/jobs/{first}/images/0")
        kept = served.http.get(f"/jobs/{second}/images/0")
    finally:
        served.stop()
    assert forgotten.status_code == 404
    assert "ended jobs are kept 10 minutes, the newest 1" in forgotten.json()["error"]
    assert kept.status_code == 200


@pytest.mark.slow
def test_ended_jobs_are_forgotten_after_the_time_they_are_kept(sd_model):
    served = Served(sd_model, limits=JobLimits(keep_s=0.0))
    try:
        job_id = served.submit(_body(1, steps=1))
        assert list(served.events(job_id))[-1][0] == "finished"  # its readers still hear the end
        forgotten = served.http.get(f"/jobs/{job_id}")
    finally:
        served.stop()
    assert forgotten.status_code == 404
    assert "ended jobs are kept 0 minutes" in forgotten.json()["error"]


@pytest.mark.slow
def test_stopping_the_server_ends_a_followed_job_with_a_sentence(sd_model):
    served = Served(sd_model, step_delay_s=STEP_DELAY_S)
    try:
        job_id = served.submit(_body(1, LONG_STEPS))
        stream = served.events(job_id)
        assert next(stream)[0] in ("queued", "started")
        served.log.wait_for(lambda _: served.log.steps(1) > 0, "a step")
        stopper = threading.Thread(target=served.server.stop)
        stopper.start()
        name, data = [event for event in stream if event[0] != "step"][-1]
        stopper.join(WAIT_S)
    finally:
        served.stop()
    assert name == "failed" and data["status"] == 503
    assert data["message"].startswith("The server is stopping; the job was cancelled.")


# -- health ------------------------------------------------------------------------------


def test_health_names_the_device_once_the_engine_has_started(served, sd_model):
    served.log.wait_for(lambda _: served.engine.queue.started_store is not None, "the engine")
    health = served.http.get("/health").json()
    assert health["device"] == "cpu" and health["waiting_jobs"] == 0

    idle = Served(sd_model, queue=JobQueue(lambda _event: None))  # never served: no engine
    try:
        assert idle.http.get("/health").json()["device"] == "not started"
    finally:
        idle.stop()


def test_a_cuda_device_is_named_with_its_memory(monkeypatch):
    import torch

    properties = SimpleNamespace(name="NVIDIA H200", total_memory=150_110_000_000)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties)
    store = SimpleNamespace(device="cuda")
    assert device_words(store) == "cuda:0 NVIDIA H200, 150 GB"  # type: ignore[arg-type]
    assert device_words(None) == "not started"

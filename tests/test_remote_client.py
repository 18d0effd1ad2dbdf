"""studio.remote without a server: the SSE parser, the events, the request's
JSON, and the client's sentences and reconnects over an httpx2 MockTransport
(tests/test_remote_cli.py runs it against a real `studio serve`)."""

from __future__ import annotations

import base64
import json
import threading

import httpx2
import pytest

from studio.engine.errors import EngineError, JobCancelledError
from studio.engine.request import GenerationRequest, Mode
from studio.engine.request_json import request_body
from studio.remote import TOKEN_ENV, client
from studio.remote.client import RemoteEngine, RemoteError
from studio.remote.events import Cancelled, Failed, Finished, Loading, Queued, Started, Step
from studio.remote.sse import ServerEvent, parse_events
from studio.server import jobs_api, runner
from studio.server.bodies import request_from_body
from studio.server.schemas import ImageRequest

URL = "http://gpu-box:8080"


def _sse(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


FINISHED = _sse(
    "finished",
    {"images": ["/jobs/j1/images/0"], "seeds": [5], "parameters": "a\nSteps: 2", "cached": False},
)


def test_the_parser_reads_events_and_skips_keep_alives_and_unknown_fields():
    text = ': keep-alive\n\nevent: step\nid: 3\ndata: {"step": 1,\ndata: "total": 2}\n\n'
    text += "data: {}\n\nevent: x\n\n"  # a data-less event is none
    events = list(parse_events(text.split("\n")))
    assert events == [ServerEvent("step", {"step": 1, "total": 2}), ServerEvent("message", {})]


def test_server_events_become_plain_values():
    png = base64.b64encode(b"\x89PNG...").decode()
    text = (
        _sse("queued", {"position": 2})
        + _sse("started", {"part": 0, "parts": 1})
        + _sse("loading", {"model": "tiny", "part": 0, "parts": 1})
        + _sse("step", {"step": 1, "total": 2, "part": 0, "parts": 1, "preview": png})
        + _sse("newer-event", {"what": 1})
        + FINISHED
    )
    seen = []
    engine = RemoteEngine(URL, transport=_replying(lambda request: _stream(text)))
    finished = engine.follow("j1", seen.append)
    assert seen == [
        Queued(2),
        Started(0, 1),
        Loading("tiny"),
        Step(1, 2, 0, 1, b"\x89PNG..."),
        finished,
    ]
    assert finished == Finished(("/jobs/j1/images/0",), (5,), "a\nSteps: 2", False)


def test_a_failed_job_is_the_servers_sentence_and_a_cancelled_one_a_cancel():
    failed = _sse("failed", {"message": "No model named 'x'; see studio models.", "status": 404})
    engine = RemoteEngine(URL, transport=_replying(lambda request: _stream(failed)))
    with pytest.raises(RemoteError, match="No model named 'x'") as caught:
        engine.follow("j1")
    assert caught.value.status == 404 and isinstance(caught.value, EngineError)
    cancelled = _sse("cancelled", {"message": "The job was cancelled."})
    engine = RemoteEngine(URL, transport=_replying(lambda request: _stream(cancelled)))
    seen = []
    with pytest.raises(JobCancelledError):
        engine.follow("j1", seen.append)
    assert seen == [Cancelled()]
    assert Failed("x").status == 500


def test_the_request_goes_as_the_json_the_server_reads_back():
    request = GenerationRequest(
        prompt="a boat", model="tiny", seed=None, steps=3, mode=Mode.TXT2IMG
    )
    body = request_body(request, ["a car"])
    parsed = ImageRequest.model_validate_json(json.dumps(body))
    assert parsed.prompts == ["a car"] and body["seed"] is None and body["mode"] == "txt2img"
    assert request_from_body(parsed, "other") == request


def test_a_lost_stream_is_opened_again_and_the_job_goes_on(monkeypatch):
    monkeypatch.setattr(client, "RECONNECT_PAUSES_S", (0.0, 0.0))
    answers = iter([_stream(_sse("started", {})), _broken(), _stream(FINISHED)])
    paths = []

    def reply(request):
        paths.append(request.url.path)
        return next(answers)

    engine = RemoteEngine(URL, transport=_replying(reply))
    assert engine.follow("j1").seeds == (5,)
    assert paths == ["/jobs/j1/events"] * 3


def test_the_connection_hook_hears_of_a_loss_once_and_of_the_stream_back(monkeypatch):
    monkeypatch.setattr(client, "RECONNECT_PAUSES_S", (0.0, 0.0))
    answers = iter([_broken(), None, _stream(FINISHED)])
    heard: list[str | None] = []

    def reply(request):
        if (answer := next(answers)) is None:  # the server is not back yet
            raise httpx2.ConnectError("connection refused", request=request)
        return answer

    engine = RemoteEngine(URL, transport=_replying(reply))
    assert engine.follow("j1", on_connection=heard.append).seeds == (5,)
    assert len(heard) == 2 and "connection reset by peer" in str(heard[0]) and heard[1] is None


def test_a_stream_lost_for_good_is_a_sentence_after_bounded_tries(monkeypatch):
    monkeypatch.setattr(client, "RECONNECT_PAUSES_S", (0.0, 0.0))
    tries = []

    def reply(request):
        tries.append(1)
        return _stream(_sse("started", {}))  # then the stream ends without the job's end

    engine = RemoteEngine(URL, transport=_replying(reply))
    with pytest.raises(RemoteError, match="Lost the progress of job j1 on the server at "):
        engine.follow("j1")
    assert len(tries) == 3  # the first stream and two tries


def test_the_cancel_flag_sends_delete_and_the_job_ends_cancelled():
    cancel = threading.Event()
    cancel.set()
    calls = []
    stream = _sse("step", {"step": 1, "total": 9}) + _sse("cancelled", {})

    def reply(request):
        calls.append((request.method, request.url.path))
        if request.method == "DELETE":
            return httpx2.Response(200, json={"state": "running"})
        return _stream(stream)

    with pytest.raises(JobCancelledError):
        RemoteEngine(URL, transport=_replying(reply)).follow("j1", cancel=cancel)
    assert calls == [("GET", "/jobs/j1/events"), ("DELETE", "/jobs/j1")]


def test_refusals_are_sentences(monkeypatch):
    def answer(status, error, headers=None):
        transport = _replying(
            lambda r: httpx2.Response(status, json={"error": error}, headers=headers)
        )
        return RemoteEngine(URL, transport=transport)

    with pytest.raises(
        RemoteError, match=f"needs a token: give it with --token or set {TOKEN_ENV}"
    ):
        answer(401, "This server needs a token").health()
    wrong = RemoteEngine(URL, "nope", transport=_replying(lambda r: httpx2.Response(401)))
    with pytest.raises(RemoteError, match="did not accept the token"):
        wrong.health()
    with pytest.raises(RemoteError, match=r"^The width must be a multiple of 8\.$"):
        answer(400, "The width must be a multiple of 8.").cancel("j1")
    monkeypatch.setattr(client, "BUSY_WAIT_MAX_S", 0.0)
    busy = answer(503, "The server is busy: 16 jobs are waiting.", {"Retry-After": "5"})
    with pytest.raises(
        RemoteError, match=r"is busy: The server is busy: 16 jobs are waiting; try again in 5 s\.$"
    ):
        busy.submit(GenerationRequest(prompt="x", model="tiny"))


def test_a_busy_server_is_asked_once_more_after_its_retry_after(monkeypatch):
    monkeypatch.setattr(client.time, "sleep", lambda s: waits.append(s))
    waits = []
    answers = iter(
        [
            httpx2.Response(503, json={"error": "busy"}, headers={"Retry-After": "2"}),
            httpx2.Response(202, json={"id": "j9", "position": 0, "events": "/jobs/j9/events"}),
        ]
    )
    engine = RemoteEngine(URL, transport=_replying(lambda request: next(answers)))
    assert engine.submit(GenerationRequest(prompt="x", model="tiny")) == "j9"
    assert waits == [2.0]


def test_the_client_waits_for_a_few_of_the_servers_keep_alives():
    assert client.STREAM_READ_TIMEOUT_S >= 3 * jobs_api.KEEPALIVE_S
    assert TOKEN_ENV == runner.TOKEN_ENV


# -- a mock server -------------------------------------------------------------------------


def _replying(reply) -> httpx2.MockTransport:
    return httpx2.MockTransport(reply)


def _stream(text: str) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, text=text)


class _BrokenStream(httpx2.SyncByteStream):
    def __iter__(self):
        yield b"event: started\ndata: {}\n\n"
        raise httpx2.ReadError("connection reset by peer")


def _broken() -> httpx2.Response:
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, stream=_BrokenStream()
    )


def test_a_server_address_without_a_scheme_is_http_and_a_wrong_one_a_sentence():
    assert RemoteEngine("gpu-box:8080/").url == "http://gpu-box:8080"
    assert RemoteEngine(" https://gpu-box/studio/ ").url == "https://gpu-box/studio"
    for wrong in ("ftp://gpu-box", "http://", "http://[::1"):
        with pytest.raises(RemoteError, match="is not a server address this client can use"):
            RemoteEngine(wrong)


def test_an_event_this_client_cannot_read_is_a_sentence():
    text = "event: step\ndata: {not json\n\n"
    engine = RemoteEngine(URL, transport=_replying(lambda request: _stream(text)))
    with pytest.raises(RemoteError, match="sent a 'step' event this client cannot read"):
        engine.follow("j1")

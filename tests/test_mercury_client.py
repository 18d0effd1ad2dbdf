"""MercuryClient against a real OpenAI-compatible server on 127.0.0.1.

Every test drives the real `openai` SDK over HTTP; coroutines run under
`asyncio.run` with a bound (`asyncio.wait_for`), so nothing can hang.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from contextlib import aclosing

import pytest
from openai_server import (
    CutReply,
    EarlyEndReply,
    ErrorReply,
    FramesReply,
    OpenAIServer,
    StallReply,
    StreamErrorReply,
    TextReply,
    diffusion_frames,
)

from studio.mercury.chat import ChatRequest, ReplyProgress
from studio.mercury.client import MercuryClient
from studio.mercury.errors import MercuryError, Problem
from studio.mercury.settings import MercurySettings

ANSWER = "A log cabin under deep snow, amber windows, pine forest, blue hour."


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def run(coro, timeout_s: float = 10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def make_client(server: OpenAIServer, **endpoint) -> MercuryClient:
    from studio.mercury.client import Endpoint

    return MercuryClient(Endpoint(server.base_url, api_key="sk-test", **endpoint))


def hello(settings: MercurySettings | None = None) -> ChatRequest:
    settings = settings or MercurySettings()
    return ChatRequest.from_settings(settings, [{"role": "user", "content": "cabin?"}])


async def collect(client: MercuryClient, request: ChatRequest) -> list[ReplyProgress]:
    try:
        async with aclosing(client.stream_reply(request)) as replies:
            return [progress async for progress in replies]
    finally:
        await client.aclose()


async def failure(client: MercuryClient, request: ChatRequest) -> MercuryError:
    with pytest.raises(MercuryError) as info:
        await collect(client, request)
    return info.value


def test_models_are_listed_with_the_key(server):
    server.models = ["mercury-2", "mercury-coder", "mercury-edit-2"]
    client = make_client(server)

    async def go():
        try:
            return await client.list_models()
        finally:
            await client.aclose()

    assert run(go()) == ["mercury-2", "mercury-coder", "mercury-edit-2"]
    assert server.requests[-1].headers["authorization"] == "Bearer sk-test"


def test_answer_streams_in_growing_pieces(server):
    server.reply(TextReply(ANSWER, chunk_chars=5))
    progress = run(collect(make_client(server), hello()))

    texts = [p.text for p in progress]
    assert texts[-1] == ANSWER
    assert len([t for t in texts if t]) >= len(ANSWER) // 5
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert progress[-1].finish_reason == "stop"
    body = server.last_chat_body()
    assert body["stream"] is True
    assert body["model"] == "mercury-2"
    assert body["max_tokens"] == 2048 and body["temperature"] == 0.75
    assert "diffusing" not in body and "reasoning_effort" not in body


def test_diffusing_frames_replace_the_text(server):
    frames = diffusion_frames(ANSWER, steps=6)
    server.reply(FramesReply(frames))
    settings = MercurySettings(diffusing=True)
    progress = run(collect(make_client(server), hello(settings)))

    assert [p.text for p in progress] == frames
    assert frames[0] != ANSWER and progress[-1].text == ANSWER
    assert progress[-1].denoising_step == (6, 6)
    assert server.last_chat_body()["diffusing"] is True


def test_diffusing_on_a_server_that_ignores_it_still_reads_the_deltas(server):
    server.reply(TextReply(ANSWER))  # ordinary deltas, no diffusion_meta
    settings = MercurySettings(diffusing=True)
    progress = run(collect(make_client(server), hello(settings)))
    assert progress[-1].text == ANSWER


def test_settings_reach_the_server(server):
    settings = MercurySettings(
        model="mercury-2", max_tokens=300, temperature=0.9, reasoning_effort="instant"
    )
    run(collect(make_client(server), hello(settings)))
    body = server.last_chat_body()
    assert (body["max_tokens"], body["temperature"]) == (300, 0.9)
    assert body["reasoning_effort"] == "instant"
    assert body["messages"] == [{"role": "user", "content": "cabin?"}]


def test_reasoning_effort_is_not_sent_to_models_without_it(server):
    settings = MercurySettings(model="mercury-coder", reasoning_effort="high")
    run(collect(make_client(server), hello(settings)))
    assert "reasoning_effort" not in server.last_chat_body()


def test_a_length_finish_is_reported(server):
    server.reply(TextReply("Once upon a", finish_reason="length"))
    progress = run(collect(make_client(server), hello()))
    assert progress[-1].finish_reason == "length"


@pytest.mark.parametrize(
    ("reply", "problem", "words"),
    [
        (ErrorReply(401, "Invalid API key", code="invalid_api_key"), Problem.BAD_KEY, "401"),
        (ErrorReply(402, "Insufficient balance"), Problem.NO_CREDIT, "out of credit"),
        (
            ErrorReply(404, "The model `mercury-2` does not exist", code="model_not_found"),
            Problem.UNKNOWN_MODEL,
            "no model named “mercury-2”",
        ),
        (ErrorReply(400, "temperature must be <= 1"), Problem.BAD_REQUEST, "temperature"),
        (ErrorReply(500, "boom", type="server_error"), Problem.SERVER_ERROR, "internal error"),
        (ErrorReply(503, "overloaded", type="server_error"), Problem.OVERLOADED, "overloaded"),
    ],
)
def test_http_errors_become_sentences(server, reply, problem, words):
    server.reply(reply)
    err = run(failure(make_client(server), hello()))
    assert err.problem is problem
    assert words in err.message
    assert "Traceback" not in err.message and "Error code" not in err.message
    assert err.status == reply.status


def test_rate_limit_says_when_to_retry(server):
    server.reply(ErrorReply(429, "Rate limit reached", headers={"retry-after": "12"}))
    err = run(failure(make_client(server), hello()))
    assert err.problem is Problem.RATE_LIMITED
    assert err.retry_after_s == 12
    assert "Try again in 12 seconds" in err.message
    assert len(server.chat_requests()) == 1  # reported at once, not retried behind the user


def test_a_wrong_base_url_is_not_blamed_on_the_model(server):
    from studio.mercury.client import Endpoint

    client = MercuryClient(Endpoint(server.base_url.replace("/v1", "/api"), api_key="k"))
    err = run(failure(client, hello()))
    assert err.problem is Problem.WRONG_ENDPOINT
    assert "/api" in err.message and "/v1" in err.message


def test_silence_times_out_with_a_sentence(server):
    server.reply(StallReply(5))
    started = time.monotonic()
    err = run(failure(make_client(server, timeout_s=0.5), hello()))
    assert err.problem is Problem.TIMEOUT
    assert "did not answer within 1 second" in err.message
    assert time.monotonic() - started < 3


def test_refused_connection():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from studio.mercury.client import Endpoint

    client = MercuryClient(Endpoint(f"http://127.0.0.1:{port}/v1", api_key="k"))
    err = run(failure(client, hello()))
    assert err.problem is Problem.REFUSED
    assert "127.0.0.1" in err.message and "refused" in err.message


def test_a_stream_cut_in_the_middle_keeps_what_arrived(server):
    server.reply(CutReply("The first half of an answer"))
    err = run(failure(make_client(server), hello()))
    assert err.problem is Problem.STREAM_BROKEN
    assert err.partial_text == "The first half of an answer"
    assert "incomplete" in err.message


def test_a_stream_that_ends_without_finishing_is_incomplete(server):
    server.reply(EarlyEndReply("Half an"))
    err = run(failure(make_client(server), hello()))
    assert err.problem is Problem.INCOMPLETE
    assert err.partial_text == "Half an"


def test_an_error_event_inside_the_stream(server):
    server.reply(StreamErrorReply("Some text", "model crashed"))
    err = run(failure(make_client(server), hello()))
    assert err.problem is Problem.SERVER_REPORTED
    assert "model crashed" in err.message and err.partial_text == "Some text"


def test_cancelling_the_task_closes_the_stream(server):
    server.reply(TextReply(ANSWER, chunk_chars=2, delay_s=0.05))
    client = make_client(server)
    seen: list[str] = []

    async def consume():
        async with aclosing(client.stream_reply(hello())) as replies:
            async for progress in replies:
                seen.append(progress.text)

    async def go():
        task = asyncio.ensure_future(consume())
        while not any(seen):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()

    run(go())
    assert 0 < len(seen[-1]) < len(ANSWER)
    assert server.wait_for_abandoned_stream()


def test_one_openai_client_per_event_loop(server):
    client = make_client(server)

    async def same_loop():
        first, second = client.openai_client(), client.openai_client()
        await client.aclose()
        return first, second

    first, second = run(same_loop())
    assert first is second
    assert first.is_closed()
    other, _ = run(same_loop())
    assert other is not first

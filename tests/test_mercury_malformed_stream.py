"""A server whose SSE `data:` line is not JSON: the Mercury client turns the
SDK's JSONDecodeError into a sentence (so the window's panel and the HTTP
server both say what happened), keeping the text that arrived."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest
from openai_server import MalformedReply, OpenAIServer

from studio.mercury.chat import ChatRequest
from studio.mercury.client import Endpoint, MercuryClient
from studio.mercury.errors import MercuryError, Problem
from studio.mercury.settings import MercurySettings


async def _first_error(client: MercuryClient) -> MercuryError:
    request = ChatRequest.from_settings(MercurySettings(), [{"role": "user", "content": "hi"}])
    try:
        async with aclosing(client.stream_reply(request)) as replies:
            async for _progress in replies:
                pass
    except MercuryError as exc:
        return exc
    finally:
        await client.aclose()
    raise AssertionError("the malformed stream was accepted")


@pytest.mark.parametrize("text", ["Half an ans", ""])
def test_a_data_line_that_is_not_json_is_a_sentence(text):
    with OpenAIServer() as server:
        server.reply(MalformedReply(text))
        client = MercuryClient(Endpoint(server.base_url, api_key="sk-test", timeout_s=5))
        error = asyncio.run(asyncio.wait_for(_first_error(client), 10))
    assert error.problem is Problem.BAD_RESPONSE
    assert "not valid JSON" in error.message and "JSONDecodeError" not in error.message
    assert error.partial_text == text

"""Enhance against the loopback server: structured output, the 400 fallback, parsing."""

from __future__ import annotations

import asyncio
import json

import pytest
from openai_server import ErrorReply, FramesReply, OpenAIServer, TextReply

from studio.mercury.client import Endpoint, MercuryClient
from studio.mercury.enhance import (
    JSON_OBJECT_FORMAT,
    JSON_SCHEMA_FORMAT,
    enhance_prompt,
    parse_enhanced,
    strip_code_fences,
)
from studio.mercury.errors import MercuryError, Problem
from studio.mercury.settings import MercurySettings

PAIR = {
    "prompt": "a log cabin in deep snow, warm window light, pine forest, blue hour, 35mm",
    "negative_prompt": "blurry, low quality, watermark",
}


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def enhance(server, settings=None, progress=None, prompt="cozy cabin"):
    client = MercuryClient(Endpoint(server.base_url, api_key="k"))

    async def go():
        try:
            return await enhance_prompt(client, prompt, settings or MercurySettings(), progress)
        finally:
            await client.aclose()

    return asyncio.run(asyncio.wait_for(go(), 10))


def test_structured_output_is_asked_for_and_read(server):
    server.reply(TextReply(json.dumps(PAIR)))
    result = enhance(server)
    assert (result.prompt, result.negative_prompt) == (PAIR["prompt"], PAIR["negative_prompt"])
    assert not result.used_fallback
    body = server.last_chat_body()
    assert body["response_format"] == JSON_SCHEMA_FORMAT
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["messages"][-1] == {"role": "user", "content": "cozy cabin"}


def test_a_400_falls_back_to_json_object_and_lenient_parsing(server):
    fenced = "Here you go:\n```json\n" + json.dumps(PAIR, indent=2) + "\n```"
    server.reply(ErrorReply(400, "response_format json_schema is not supported"), TextReply(fenced))
    result = enhance(server)
    assert result.prompt == PAIR["prompt"] and result.used_fallback
    formats = [r.body["response_format"] for r in server.chat_requests()]
    assert formats == [JSON_SCHEMA_FORMAT, JSON_OBJECT_FORMAT]


def test_diffusing_parses_only_the_final_frame(server):
    final = json.dumps(PAIR)
    frames = ['{"prompt": "a ░░░ ░░░', '{"prompt": "a log ░░░in", "negative_pr░░', final]
    server.reply(FramesReply(frames))
    seen: list[str] = []
    result = enhance(server, MercurySettings(diffusing=True), lambda p: seen.append(p.text))
    assert seen == frames
    assert result.negative_prompt == PAIR["negative_prompt"]


def test_an_unreadable_answer_is_a_sentence(server):
    server.reply(TextReply("I would suggest a cabin with snow."))
    with pytest.raises(MercuryError) as info:
        enhance(server)
    assert info.value.problem is Problem.NOT_JSON
    assert info.value.partial_text == "I would suggest a cabin with snow."


def test_other_errors_are_not_retried(server):
    server.reply(ErrorReply(401, "bad key"))
    with pytest.raises(MercuryError) as info:
        enhance(server)
    assert info.value.problem is Problem.BAD_KEY
    assert len(server.chat_requests()) == 1


def test_an_empty_prompt_sends_nothing(server):
    with pytest.raises(MercuryError) as info:
        enhance(server, prompt="   ")
    assert "no prompt to enhance" in info.value.message
    assert server.chat_requests() == []


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(PAIR),
        "```\n" + json.dumps(PAIR) + "\n```",
        "```json\n" + json.dumps(PAIR) + "```",
        "Sure! " + json.dumps(PAIR) + " Enjoy.",
        "{not json} then " + json.dumps(PAIR),
    ],
)
def test_lenient_parsing(text):
    assert parse_enhanced(text) == (PAIR["prompt"], PAIR["negative_prompt"])


def test_parsing_edges():
    assert parse_enhanced('{"prompt": "a  fox\\n in snow"}') == ("a fox in snow", "")
    for bad in ('{"prompt": ""}', '["a fox"]', '{"prompt": ["a"]}', "", '{"negative_prompt": "x"}'):
        with pytest.raises(MercuryError):
            parse_enhanced(bad)
    assert strip_code_fences("```json\n{}\n```") == "{}"
    assert strip_code_fences("  {}  ") == "{}"

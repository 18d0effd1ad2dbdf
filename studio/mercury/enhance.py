"""Enhance: a short image idea becomes a detailed prompt and a negative prompt.

Structured output first (`response_format` json_schema, strict); a server
that answers 400 to that gets `json_object` and lenient parsing (code fences
stripped, the first JSON object taken). JSON is parsed only once the stream
has ended: in diffusing mode the frames before the last are still noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from .chat import ChatRequest, ReplyProgress
from .client import MercuryClient
from .errors import MercuryError, Problem
from .settings import MercurySettings

ENHANCE_INSTRUCTIONS = (
    "You turn a short image idea into a Stable Diffusion prompt. Answer with a JSON "
    'object with two strings: "prompt" (the subject first, then comma-separated visual '
    "details: medium, style, lighting, composition, quality; at most 60 words) and "
    '"negative_prompt" (comma-separated things to avoid; at most 20 words). Keep the '
    "user's subject and intent; add nothing they would not want."
)

PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string"},
        "negative_prompt": {"type": "string"},
    },
    "required": ["prompt", "negative_prompt"],
    "additionalProperties": False,
}
JSON_SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "image_prompt", "strict": True, "schema": PROMPT_SCHEMA},
}
JSON_OBJECT_FORMAT: dict[str, Any] = {"type": "json_object"}


@dataclass(frozen=True)
class EnhancedPrompt:
    prompt: str
    negative_prompt: str
    used_fallback: bool = False  # the server refused json_schema; json_object was used


def enhance_messages(short_prompt: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": ENHANCE_INSTRUCTIONS},
        {"role": "user", "content": short_prompt.strip()},
    ]


async def enhance_prompt(
    client: MercuryClient,
    short_prompt: str,
    settings: MercurySettings,
    on_progress: Callable[[ReplyProgress], None] | None = None,
) -> EnhancedPrompt:
    if not short_prompt.strip():
        raise MercuryError(
            Problem.BAD_REQUEST, "There is no prompt to enhance: type a few words first."
        )
    messages = enhance_messages(short_prompt)
    for response_format, fallback in ((JSON_SCHEMA_FORMAT, False), (JSON_OBJECT_FORMAT, True)):
        request = ChatRequest.from_settings(settings, messages, response_format)
        try:
            final_text = await _final_text(client, request, on_progress)
        except MercuryError as err:
            if err.status == 400 and not fallback:
                continue  # this server has no json_schema: ask for plain JSON
            raise
        prompt, negative = parse_enhanced(final_text)
        return EnhancedPrompt(prompt, negative, used_fallback=fallback)
    raise AssertionError("unreachable: the json_object attempt returns or raises")


async def _final_text(
    client: MercuryClient,
    request: ChatRequest,
    on_progress: Callable[[ReplyProgress], None] | None,
) -> str:
    text = ""
    async with aclosing(client.stream_reply(request)) as replies:
        async for progress in replies:
            text = progress.text
            if on_progress is not None:
                on_progress(progress)
    return text


def parse_enhanced(text: str) -> tuple[str, str]:
    """(prompt, negative prompt) from the model's final answer.

    Strict JSON first; then leniently (code fences, prose around the object),
    since some servers accept `response_format` and then ignore it. Raises
    MercuryError when no prompt can be read.
    """
    data = _load_object(text.strip()) or _load_object_leniently(text)
    prompt = data.get("prompt") if data else None
    negative = data.get("negative_prompt", "") if data else None
    if isinstance(prompt, str) and prompt.strip() and isinstance(negative, str):
        return _one_line(prompt), _one_line(negative)
    raise MercuryError(
        Problem.NOT_JSON,
        "The answer was not a prompt and negative prompt in JSON; press Enhance to try again.",
        partial_text=text,
    )


def strip_code_fences(text: str) -> str:
    """`text` without a surrounding ``` or ```json fence."""
    stripped = text.strip()
    if not stripped.startswith("```"):
        return stripped
    body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
    if body.rstrip().endswith("```"):
        body = body.rstrip()[:-3]
    return body.strip()


def _load_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _load_object_leniently(text: str) -> dict[str, Any] | None:
    unfenced = strip_code_fences(text)
    data = _load_object(unfenced)
    if data is not None:
        return data
    # Prose around the object ("Here is your prompt: {...}"): take the first object.
    decoder = json.JSONDecoder()
    start = unfenced.find("{")
    while start != -1:
        try:
            candidate, _ = decoder.raw_decode(unfenced, start)
        except json.JSONDecodeError:
            start = unfenced.find("{", start + 1)
            continue
        if isinstance(candidate, dict):
            return candidate
        start = unfenced.find("{", start + 1)
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())

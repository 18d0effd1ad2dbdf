"""The connection to an OpenAI-compatible server: one AsyncOpenAI per event loop.

An AsyncOpenAI owns an HTTP connection pool bound to the event loop it first
ran on, so MercuryClient keeps one per loop (the app has exactly one, the
qasync loop; tests make several) and closes it with `aclose()` at exit.
Every coroutine here runs on whatever asyncio loop is current and never
blocks it. Failures come out as MercuryError, whose message is a sentence.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import openai

from .chat import ChatRequest, ReplyAccumulator, ReplyProgress
from .errors import MercuryError, explain, incomplete_error
from .keys import KeySource
from .settings import INCEPTION_BASE_URL, is_inception

# AsyncOpenAI refuses an empty key; local servers ignore what they are sent.
NO_KEY_PLACEHOLDER = "no-key"
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Endpoint:
    base_url: str = INCEPTION_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0  # also the longest silence allowed inside a stream
    # Errors are reported at once with what to do; the SDK's silent retries
    # would keep a user waiting up to minutes behind a Retry-After.
    max_retries: int = 0
    # Where api_key came from (when known), so a 401 can say which key to fix.
    key_source: KeySource | None = None


class MercuryClient:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._by_loop = weakref.WeakKeyDictionary()

    def openai_client(self) -> openai.AsyncOpenAI:
        """The AsyncOpenAI for the running loop, made on first use."""
        loop = asyncio.get_running_loop()
        client = self._by_loop.get(loop)
        if client is None:
            endpoint = self.endpoint
            client = openai.AsyncOpenAI(
                base_url=endpoint.base_url,
                api_key=endpoint.api_key or NO_KEY_PLACEHOLDER,
                timeout=openai.Timeout(endpoint.timeout_s, connect=CONNECT_TIMEOUT_S),
                max_retries=endpoint.max_retries,
                # The SDK would add OPENAI_ORG_ID / OPENAI_PROJECT_ID from the
                # environment: OpenAI account details that are not this server's.
                default_headers={
                    "OpenAI-Organization": openai.Omit(),
                    "OpenAI-Project": openai.Omit(),
                },
            )
            self._by_loop[loop] = client
        return client

    async def list_models(self) -> list[str]:
        """Model ids from GET /models, in the server's order."""
        try:
            page = await self.openai_client().models.list()
            return [model.id async for model in page]
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise self._explain(exc, "") from exc

    async def stream_reply(self, request: ChatRequest) -> AsyncIterator[ReplyProgress]:
        """Yields the whole answer so far after every chunk.

        Raises MercuryError (with `partial_text`) when the request fails, the
        connection breaks, or the stream ends without saying it finished.
        Cancelling the task that iterates this closes the HTTP stream.
        """
        accumulator = ReplyAccumulator(
            diffusing=request.diffusing,
            frames_replace_by_default=is_inception(self.endpoint.base_url),
        )
        try:
            stream = await self.openai_client().chat.completions.create(**request.create_kwargs())
            async with stream:
                async for chunk in stream:
                    yield accumulator.add(chunk)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:  # a malformed `data:` line
            raise self._explain(exc, request.model, accumulator.text) from exc
        if accumulator.finish_reason is None:
            raise incomplete_error(self.endpoint.base_url, accumulator.text)

    async def aclose(self) -> None:
        """Closes the client of the running loop; others die with their loops."""
        client = self._by_loop.pop(_current_loop(), None)
        if client is not None:
            await client.close()

    def _explain(self, exc: BaseException, model: str, partial_text: str = "") -> MercuryError:
        return explain(
            exc,
            base_url=self.endpoint.base_url,
            model=model,
            timeout_s=self.endpoint.timeout_s,
            partial_text=partial_text,
            key_sent=self.endpoint.api_key is not None,
            key_source=self.endpoint.key_source,
        )


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        # qasync runs one last round of callbacks after its loop has stopped,
        # when no loop counts as running; the loop is still the current one.
        return asyncio.get_event_loop()

"""POST /generate/text: one prompt answered through the Mercury client.

The server's base URL is `studio serve --mercury-url`, else INCEPTION_BASE_URL,
else Inception's; the API key comes from INCEPTION_API_KEY or the keyring
(looked up per request, so a key saved in the app while the server runs is
used). Errors are the client's sentences with an HTTP status that says whose
fault they are: 400 for what the caller sent, 502/504 for the upstream server.
Where the client's sentence names the window ("Set API key…", the model list),
the API says instead what its caller or the server's operator can do.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from ..mercury.chat import ChatRequest
from ..mercury.client import Endpoint, MercuryClient
from ..mercury.errors import MercuryError, Problem
from ..mercury.keys import KEY_ENV, KeySource, env_key_withheld, find_api_key
from ..mercury.settings import (
    BASE_URL_ENV,
    DEFAULT_MODEL,
    MAX_TOKENS_MAX,
    endpoint_name,
    is_inception,
)
from .errors import ApiError
from .schemas import TextRequest

_STATUS = {
    Problem.BAD_REQUEST: 400,
    Problem.UNKNOWN_MODEL: 400,
    Problem.RATE_LIMITED: 429,
    Problem.TIMEOUT: 504,
    Problem.NO_KEY: 503,
}


@dataclass(frozen=True)
class TextAnswer:
    text: str
    model: str
    finish_reason: str | None


def check_text_request(body: TextRequest) -> None:
    if not body.prompt.strip():
        raise ApiError(400, "The prompt is empty; write what to ask.")
    if not 1 <= body.max_tokens <= MAX_TOKENS_MAX:
        raise ApiError(
            400, f"max_tokens must be between 1 and {MAX_TOKENS_MAX}; got {body.max_tokens}."
        )
    if not (math.isfinite(body.temperature) and 0.0 <= body.temperature <= 2.0):
        raise ApiError(400, f"temperature must be between 0 and 2; got {body.temperature:g}.")


# The key of the server process: whoever runs it changes it, not the API's caller.
_SET_KEY = (
    f"set {KEY_ENV} in the server's environment and restart it, or save a key in this "
    "machine's keyring (the app's Mercury panel does)"
)


@dataclass(frozen=True)
class _Key:
    value: str = field(repr=False)
    source: KeySource | None  # None: given to TextService by its creator


def _key_refused(who: str, base_url: str, key: _Key | None) -> str:
    """An upstream 401, said to the server's operator: which key, and where to change it."""
    if key is None:
        message = f"{who} wants an API key (401) and this server has none for it: {_SET_KEY}."
        if env_key_withheld(base_url):
            message += (
                f" {KEY_ENV} is set, but it is sent only to Inception or to the server "
                f"{BASE_URL_ENV} names."
            )
        return message
    if key.source is KeySource.ENVIRONMENT:
        # It is used before the keyring's: saving another key there would change nothing.
        return (
            f"{who} did not accept the API key (401) from {KEY_ENV} in the server's "
            "environment: set the right key there and restart the server."
        )
    if key.source is KeySource.KEYRING:
        return (
            f"{who} did not accept the API key (401) saved in this machine's keyring: {_SET_KEY}."
        )
    return (
        f"{who} did not accept the API key (401) this server was given; start it with the "
        "right one."
    )


class TextService:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._clients: dict[str | None, MercuryClient] = {}

    async def _key(self) -> _Key | None:
        if self._api_key is not None:
            return _Key(self._api_key, None)
        found = (await asyncio.to_thread(find_api_key, self.base_url)).key
        return _Key(found.value, found.source) if found is not None else None

    def _client(self, key: str | None) -> MercuryClient:
        client = self._clients.get(key)
        if client is None:
            endpoint = Endpoint(self.base_url, key, timeout_s=self._timeout_s)
            client = self._clients[key] = MercuryClient(endpoint)
        return client

    async def complete(self, body: TextRequest) -> TextAnswer:
        check_text_request(body)
        key = await self._key()
        if key is None and is_inception(self.base_url):
            raise ApiError(503, f"No Inception API key is set on this server: {_SET_KEY}.")
        model = (body.model or DEFAULT_MODEL).strip()
        messages = [{"role": "user", "content": body.prompt}]
        if body.system:
            messages.insert(0, {"role": "system", "content": body.system})
        chat = ChatRequest(
            messages=tuple(messages),
            model=model,
            max_tokens=body.max_tokens,
            temperature=body.temperature,
        )
        last = None
        try:
            async for progress in self._client(key.value if key else None).stream_reply(chat):
                last = progress
        except MercuryError as exc:
            status = _STATUS.get(exc.problem, 502)
            headers = None
            if exc.retry_after_s is not None:
                headers = {"Retry-After": str(math.ceil(exc.retry_after_s))}
            raise ApiError(status, self._sentence(exc, key, model), headers) from None
        if last is None:
            raise ApiError(502, f"{endpoint_name(self.base_url)} sent no answer.")
        return TextAnswer(last.text, model, last.finish_reason)

    def _sentence(self, error: MercuryError, key: _Key | None, model: str) -> str:
        name = endpoint_name(self.base_url)
        who = name[:1].upper() + name[1:]
        if error.problem is Problem.BAD_KEY:
            return _key_refused(who, self.base_url, key)
        if error.problem is Problem.UNKNOWN_MODEL:
            return (
                f"{who} has no model named “{model}” (404). Send another model; "
                "GET /models lists the known ones."
            )
        return error.message

    async def aclose(self) -> None:
        """Closes the HTTP clients of the running loop (at server shutdown)."""
        for client in self._clients.values():
            await client.aclose()

"""Every way a request can fail, as one exception type carrying a sentence.

`explain()` turns what the openai SDK raises into a MercuryError whose
`message` says what happened and what to do; the UI shows only that. The
original exception stays chained (`__cause__`) for logs and debugging.
"""

from __future__ import annotations

import email.utils
import json
import math
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import openai

from .keys import GET_KEY_URL, KEY_ENV, KeySource, env_key_withheld
from .settings import endpoint_name, is_inception

PLATFORM_URL = "https://platform.inceptionlabs.ai/"  # the account dashboard: keys, credit


class Problem(Enum):
    NO_KEY = "no key"
    BAD_URL = "bad base URL"
    BAD_KEY = "bad key"  # 401
    NO_CREDIT = "no credit"  # 402
    FORBIDDEN = "forbidden"  # 403
    UNKNOWN_MODEL = "unknown model"  # 404 naming the model
    WRONG_ENDPOINT = "wrong endpoint"  # 404 for the URL itself
    BAD_REQUEST = "bad request"  # 400, 413, 422
    RATE_LIMITED = "rate limited"  # 429
    OVERLOADED = "overloaded"  # 502, 503, 504, 529
    SERVER_ERROR = "server error"  # 500 and other 5xx
    TIMEOUT = "timeout"
    REFUSED = "connection refused"
    UNREACHABLE = "unreachable"  # DNS, no network, TLS
    STREAM_BROKEN = "stream broken"  # the connection failed after text arrived
    INCOMPLETE = "incomplete"  # the stream ended without a finish
    SERVER_REPORTED = "error in stream"
    BAD_RESPONSE = "bad response"  # not the OpenAI shape
    NOT_JSON = "not JSON"  # Enhance: the answer could not be read as JSON


@dataclass(frozen=True)
class _SentKey:
    sent: bool
    source: KeySource | None  # None: not known here


class MercuryError(Exception):
    def __init__(
        self,
        problem: Problem,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        # What arrived before a stream failed: the UI keeps showing it.
        self.partial_text = partial_text


def explain(
    exc: BaseException,
    *,
    base_url: str,
    model: str = "",
    timeout_s: float = 60.0,
    partial_text: str = "",
    key_sent: bool = True,
    key_source: KeySource | None = None,
) -> MercuryError:
    """The MercuryError a user should see for an exception from the SDK.

    `key_source` is where the API key that was sent came from, when known."""
    if isinstance(exc, MercuryError):
        return exc
    key = _SentKey(key_sent, key_source)
    err = _classify(exc, base_url, model, timeout_s, key, mid_stream=bool(partial_text))
    err.partial_text = partial_text
    err.__cause__ = exc
    return err


def _classify(
    exc: BaseException,
    base_url: str,
    model: str,
    timeout_s: float,
    key: _SentKey,
    *,
    mid_stream: bool,
) -> MercuryError:
    who = _capitalized(endpoint_name(base_url))
    if mid_stream and isinstance(exc, openai.APITimeoutError):
        return MercuryError(
            Problem.STREAM_BROKEN,
            f"{who} stopped sending for {_seconds(timeout_s)} in the middle of the answer; "
            "what arrived is shown, marked incomplete.",
        )
    if isinstance(exc, json.JSONDecodeError):
        # The SDK parses each SSE `data:` line (and plain bodies) with json.loads.
        if mid_stream:
            return MercuryError(
                Problem.BAD_RESPONSE,
                f"{who} sent a part of the answer that is not valid JSON; what arrived is "
                "shown, marked incomplete. Try again.",
            )
        return MercuryError(
            Problem.BAD_RESPONSE,
            f"{who} answered with something that is not valid JSON. Check the base URL "
            "(it usually ends in /v1), or try again.",
        )
    if mid_stream and isinstance(exc, openai.APIConnectionError):
        return MercuryError(
            Problem.STREAM_BROKEN,
            "The connection broke in the middle of the answer; what arrived is shown, "
            "marked incomplete.",
        )
    if isinstance(exc, openai.APITimeoutError):
        return MercuryError(
            Problem.TIMEOUT,
            f"{who} did not answer within {_seconds(timeout_s)}. Check your connection "
            "and try again.",
        )
    if isinstance(exc, openai.APIConnectionError):
        return _connection_error(exc, base_url)
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, base_url, model, key)
    if isinstance(exc, openai.APIResponseValidationError):
        return MercuryError(
            Problem.BAD_RESPONSE,
            f"{who} answered in a form that is not OpenAI-compatible. Check the base URL.",
        )
    if isinstance(exc, openai.APIError):
        # An error event inside a stream (the status was already 200).
        return MercuryError(
            Problem.SERVER_REPORTED, f"{who} reported an error: {_server_message(exc)}"
        )
    return MercuryError(
        Problem.BAD_RESPONSE,
        f"Talking to {endpoint_name(base_url)} failed ({type(exc).__name__}: {exc}).",
    )


def no_key_error(base_url: str) -> MercuryError:
    if is_inception(base_url):
        message = (
            f"No Inception API key yet. Get one at {GET_KEY_URL}, then press "
            f"“Set API key…” (or set {KEY_ENV}). Other OpenAI-compatible servers "
            "work without one: set a base URL."
        )
    else:
        message = f"No API key is set for {endpoint_name(base_url)}."
    return MercuryError(Problem.NO_KEY, message)


def incomplete_error(base_url: str, partial_text: str) -> MercuryError:
    who = endpoint_name(base_url)
    return MercuryError(
        Problem.INCOMPLETE,
        f"The answer stopped before {who} finished it; what arrived is shown, marked incomplete.",
        partial_text=partial_text,
    )


def retry_after_seconds(headers: object, now: float | None = None) -> float | None:
    """Seconds to wait from retry-after-ms / retry-after (seconds or an HTTP date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw_ms = get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
            return value if math.isfinite(value) and value >= 0 else None
        except ValueError:
            pass
    raw = get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))


def _status_error(
    exc: openai.APIStatusError, base_url: str, model: str, key: _SentKey
) -> MercuryError:
    who = _capitalized(endpoint_name(base_url))
    status = exc.status_code
    detail = _server_message(exc)

    def error(problem: Problem, message: str, retry_after_s: float | None = None) -> MercuryError:
        return MercuryError(problem, message, status=status, retry_after_s=retry_after_s)

    if status == 401:
        return error(Problem.BAD_KEY, _bad_key_message(who, base_url, key))
    if status == 402:
        where = f" at {PLATFORM_URL}" if is_inception(base_url) else ""
        return error(
            Problem.NO_CREDIT,
            f"The account behind this API key is out of credit (402). Add credit{where} "
            "and try again.",
        )
    if status == 403:
        return error(
            Problem.FORBIDDEN,
            f"{who} refused access (403): this key may not use “{model}”. {detail}",
        )
    if status == 404 and _mentions_model(exc, detail):
        return error(
            Problem.UNKNOWN_MODEL,
            f"{who} has no model named “{model}” (404). Pick one from the model list "
            "(the button beside it reloads it).",
        )
    if status == 404:
        return error(
            Problem.WRONG_ENDPOINT,
            f"{who} has no chat endpoint at {base_url} (404). Check the base URL; it "
            "usually ends in /v1.",
        )
    if status == 429:
        wait = retry_after_seconds(exc.response.headers)
        when = f"in {_seconds(wait)}" if wait is not None else "in a moment"
        return error(
            Problem.RATE_LIMITED,
            f"{who} is rate limiting this key (429): too many requests. Try again {when}.",
            retry_after_s=wait,
        )
    if status in (502, 503, 504, 529):
        return error(
            Problem.OVERLOADED,
            f"{who} is overloaded or unavailable right now ({status}). Try again in a minute.",
        )
    if status >= 500:
        return error(
            Problem.SERVER_ERROR,
            f"{who} had an internal error ({status}). Try again; if it keeps happening, "
            "try another model.",
        )
    return error(Problem.BAD_REQUEST, f"{who} refused the request ({status}): {detail}")


def _bad_key_message(who: str, base_url: str, key: _SentKey) -> str:
    """A 401: which key was refused, where it came from, and what to change."""
    if not key.sent:
        message = (
            f"{who} wants an API key (401); none is saved for it: save one with “Set API key…”."
        )
        if env_key_withheld(base_url):
            message += f" {KEY_ENV} is not sent to other servers, by design."
        return message
    message = f"{who} did not accept the API key (401)."
    if key.source is KeySource.ENVIRONMENT:
        # The environment wins over the keyring: a new key saved there would not be used.
        message += (
            f" It came from {KEY_ENV} in the environment, which is used before a key saved "
            f"with “Set API key…”: correct or unset {KEY_ENV}, then restart the app."
        )
    elif key.source is KeySource.KEYRING:
        message += " It is the key saved with “Set API key…”: enter the right one there."
    else:
        message += " Check the key."
    if is_inception(base_url):
        message += f" Get a new one at {GET_KEY_URL}."
    return message


def _connection_error(exc: BaseException, base_url: str) -> MercuryError:
    who = endpoint_name(base_url)
    causes = list(_causes(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return MercuryError(
            Problem.REFUSED,
            f"Could not connect to {who}: the connection was refused. Is the server "
            "running, and is the base URL right?",
        )
    if any(isinstance(c, socket.gaierror) for c in causes):
        host = urlsplit(base_url).hostname or base_url
        return MercuryError(
            Problem.UNREACHABLE,
            f"Could not look up {host}. Check your internet connection and the base URL.",
        )
    return MercuryError(
        Problem.UNREACHABLE,
        f"Could not reach {who}. Check your internet connection and the base URL.",
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _server_message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail")
        if isinstance(message, str) and message.strip():
            return _sentence(message.strip())
    if isinstance(body, str) and body.strip() and len(body) < 300:
        return _sentence(body.strip())
    return "no reason given."


def _mentions_model(exc: openai.APIStatusError, detail: str) -> bool:
    code = (exc.code or "").lower()
    return "model" in code or "model" in detail.lower()


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = " ".join(text.split())[:300]
    return text if text.endswith((".", "!", "?")) else text + "."


def _seconds(value: float) -> str:
    value = max(0, math.ceil(value))
    if value < 120:
        return f"{value} second{'s' if value != 1 else ''}"
    return f"{math.ceil(value / 60)} minutes"

"""RemoteEngine: `studio serve`'s job API from another machine, over httpx2.

    engine = RemoteEngine("http://gpu-box:8080", token)
    job_id = engine.submit(request)
    finished = engine.follow(job_id, on_event, cancel)   # events as they come
    png = engine.image(job_id, 0)                        # the server's bytes

Every failure is a RemoteError (an EngineError) with a sentence; a job the
server cancelled raises JobCancelledError, as a local one does. Calls block:
the window runs them on a thread of its own and cancels with `cancel(job_id)`
from any thread (or sets the `cancel` event `follow` checks between events).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2

from ..engine.errors import EngineError, JobCancelledError
from ..engine.request import GenerationRequest
from ..engine.request_json import request_body
from . import TOKEN_ENV
from .events import ENDED, Cancelled, Failed, Finished, RemoteEvent, event_of
from .sse import parse_events

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 60.0  # a plain call's answer, or an upload of init images
# A quiet events stream carries a keep-alive comment every 15 s (jobs_api.KEEPALIVE_S;
# tests/test_remote_client.py keeps the two in step): four missed ones mean it is lost.
STREAM_READ_TIMEOUT_S = 60.0
# A lost stream is opened again this many times, after these pauses: well inside
# the server's grace period (JobLimits.grace_s, 30 s) before it cancels the job.
RECONNECT_PAUSES_S = (0.5, 1.0, 2.0, 4.0)
# A stream that stayed open this long before it was lost counts as recovered: the
# tries start again. (Every new stream starts with the job's state, so an event
# alone does not show the connection is healthy again.)
STREAM_STABLE_S = 10.0
# A busy server's Retry-After is waited for once when it is at most this long.
BUSY_WAIT_MAX_S = 10.0


class RemoteError(EngineError):
    """What went wrong with the server, as a sentence; `status` is the HTTP
    status when the server answered (None when it could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteResult:
    """A finished remote job: its PNGs exactly as the server wrote them."""

    job_id: str
    pngs: tuple[bytes, ...]
    seeds: tuple[int, ...]
    parameters: str
    cached: bool
    elapsed_s: float


OnEvent = Callable[[RemoteEvent], None]
# Told why a job's events stream was lost before it is opened again, and None
# once a stream is open again after that: the window's connection state.
OnConnection = Callable[[str | None], None]


class RemoteEngine:
    def __init__(self, url: str, token: str | None = None, *,
                 transport: httpx2.BaseTransport | None = None) -> None:  # fmt: skip
        url = url.strip()
        # "gpu-box:8080" is what people type; `studio serve` speaks plain HTTP
        # unless a proxy in front of it adds TLS (then the URL says https).
        self.url = (url if "://" in url else f"http://{url}").rstrip("/")
        self.token = token or None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = httpx2.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        try:
            parsed = httpx2.URL(self.url)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise ValueError("it needs http:// or https:// and a host")
            self._http = httpx2.Client(
                base_url=self.url, headers=headers, timeout=timeout, transport=transport
            )
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol, ValueError) as exc:
            raise RemoteError(self._bad_url(exc)) from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain calls ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Version, device ("cuda:0 NVIDIA ..."), queue length."""
        return self._call("GET", "/health").json()

    def models(self) -> dict[str, Any]:
        """What the server can run: {"image": [...], "text": ...}."""
        return self._call("GET", "/models").json()

    def submit(self, request: GenerationRequest, more_prompts: Sequence[str] = ()) -> str:
        """Queues `request` on the server; its job id. A busy server (503) is
        asked once more after its Retry-After, when that is short."""
        body = request_body(request, more_prompts)
        return self._call("POST", "/jobs", json=body, retry_busy=True).json()["id"]

    def cancel(self, job_id: str) -> None:
        """Asks the server to drop the job (waiting) or stop it at its next step."""
        self._call("DELETE", f"/jobs/{job_id}")

    def image(self, job_id: str, index: int) -> bytes:
        """Image `index` of a finished job: the PNG, with its parameters, as written there."""
        return self._call("GET", f"/jobs/{job_id}/images/{index}").content

    # -- a job's events -------------------------------------------------------------------

    def follow(self, job_id: str, on_event: OnEvent | None = None,
               cancel: threading.Event | None = None,
               on_connection: OnConnection | None = None) -> Finished:  # fmt: skip
        """Reads the job's events until it ends, handing each to `on_event`; the
        Finished event. A failed job raises RemoteError with the server's sentence,
        a cancelled one JobCancelledError. A lost stream is opened again (the
        server replays the job's state) a few times within its grace period.
        Ctrl+C (KeyboardInterrupt) cancels the job on the server, then goes on up.
        `on_connection` hears of each loss before the stream is tried again, and
        of the stream that opened again after it."""
        asked_to_cancel = False
        lost = 0
        said_lost = False
        try:
            while True:
                opened = time.monotonic()
                try:
                    with self._http.stream(
                        "GET", f"/jobs/{job_id}/events", timeout=self._stream_timeout()
                    ) as response:
                        if response.status_code != 200:
                            response.read()
                            raise self._refusal(response)
                        if said_lost and on_connection is not None:
                            said_lost = False
                            on_connection(None)
                        for raw in parse_events(response.iter_lines()):
                            event = self._event(raw)
                            if event is None:
                                continue
                            if on_event is not None:
                                on_event(event)
                            if isinstance(event, ENDED):
                                return self._ended(event)
                            if cancel is not None and cancel.is_set() and not asked_to_cancel:
                                asked_to_cancel = True
                                self.cancel(job_id)
                    why = "the stream ended before the job did"
                except httpx2.TransportError as exc:
                    why = _reason(exc)
                if time.monotonic() - opened > STREAM_STABLE_S:
                    lost = 0
                if lost == len(RECONNECT_PAUSES_S):
                    raise RemoteError(
                        f"Lost the progress of job {job_id} on the server at {self.url} ({why}) "
                        f"and could not get it back after {lost} tries; the server cancels the "
                        "job once nobody follows it. Check the connection and generate again."
                    )
                if on_connection is not None and not said_lost:
                    said_lost = True
                    on_connection(why)
                time.sleep(RECONNECT_PAUSES_S[lost])
                lost += 1
        except KeyboardInterrupt:
            self._cancel_quietly(job_id)
            raise

    def run(self, request: GenerationRequest, on_event: OnEvent | None = None,
            cancel: threading.Event | None = None,
            more_prompts: Sequence[str] = ()) -> RemoteResult:  # fmt: skip
        """Submit, follow and fetch: the finished job with its PNGs."""
        started = time.monotonic()
        job_id = self.submit(request, more_prompts)
        finished = self.follow(job_id, on_event, cancel)  # Ctrl+C: it cancels the job
        pngs = tuple(self.image(job_id, n) for n in range(len(finished.images)))
        return RemoteResult(
            job_id,
            pngs,
            finished.seeds,
            finished.parameters,
            finished.cached,
            time.monotonic() - started,
        )

    # -- the details ----------------------------------------------------------------------

    def _stream_timeout(self) -> httpx2.Timeout:
        return httpx2.Timeout(STREAM_READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)

    def _cancel_quietly(self, job_id: str) -> None:
        # Failing that, the server cancels a job nobody follows after its grace period.
        with contextlib.suppress(RemoteError, KeyboardInterrupt):
            self.cancel(job_id)

    def _event(self, raw: Any) -> RemoteEvent | None:
        try:
            return event_of(raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise RemoteError(
                f"The server at {self.url} sent a {raw.name!r} event this client cannot read; "
                "is it a `studio serve` of a matching version?"
            ) from None

    def _ended(self, event: RemoteEvent) -> Finished:
        if isinstance(event, Failed):
            raise RemoteError(event.message, event.status)
        if isinstance(event, Cancelled):
            raise JobCancelledError(event.message)
        assert isinstance(event, Finished)
        return event

    def _call(self, method: str, path: str, *, json: Any = None,
              retry_busy: bool = False) -> httpx2.Response:  # fmt: skip
        waited = False
        while True:
            try:
                response = self._http.request(method, path, json=json)
            except httpx2.TransportError as exc:
                raise RemoteError(self._unreachable(exc)) from None
            if response.status_code < 400:
                return response
            wait = _retry_after(response)
            if (
                response.status_code == 503
                and retry_busy
                and not waited
                and wait is not None
                and wait <= BUSY_WAIT_MAX_S
            ):
                waited = True
                time.sleep(wait)
                continue
            raise self._refusal(response)

    def _refusal(self, response: httpx2.Response) -> RemoteError:
        status = response.status_code
        said = _sentence(response)
        if status == 401:
            if self.token is None:
                text = (
                    f"The server at {self.url} needs a token: give it with --token or set "
                    f"{TOKEN_ENV}."
                )
            else:
                text = (
                    f"The server at {self.url} did not accept the token; give the one it was "
                    f"started with (--token or {TOKEN_ENV})."
                )
        elif status == 503:
            wait = _retry_after(response)
            later = f"try again in {wait:g} s" if wait is not None else "try again later"
            text = f"The server at {self.url} is busy: {said.rstrip('.')}; {later}."
        elif status == 404 and not said:
            text = (
                f"The server at {self.url} has no {response.request.url.path}; is it a "
                "`studio serve` with the job API?"
            )
        elif 400 <= status < 500:
            text = said  # the engine's own sentence, as a local run says it
        else:
            text = f"The server at {self.url} failed ({status}): {said or response.reason_phrase}"
        return RemoteError(text, status)

    def _unreachable(self, exc: Exception) -> str:
        return (
            f"Could not reach the server at {self.url}: {_reason(exc)}; is `studio serve` "
            "running there?"
        )

    def _bad_url(self, exc: Exception) -> str:
        return (
            f"{self.url!r} is not a server address this client can use ({exc}); give one "
            "like http://HOST:8080."
        )


def _sentence(response: httpx2.Response) -> str:
    """The server's sentence: the "error" of its JSON answer, else its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return str(body)[:300]


def _retry_after(response: httpx2.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _reason(exc: Exception) -> str:
    """An httpx2 error in words: its message, or its kind when it has none."""
    text = str(exc).strip().rstrip(".")
    if isinstance(exc, httpx2.TimeoutException):
        return f"no answer in time ({text or type(exc).__name__})"
    return text or type(exc).__name__

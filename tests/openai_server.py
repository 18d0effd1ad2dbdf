"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the Mercury tests.

The tests point the real `openai` SDK at it, so what is checked is what goes
over the wire: SSE `data:` lines, `[DONE]`, chunked bodies, error bodies in
OpenAI's shape, headers such as `retry-after`. Each chat request takes the
next scripted reply from a queue (an echo when the queue is empty) and is
recorded, so a test can assert on what the client really sent.

Only the standard library: one thread per connection, every wait bounded and
interruptible, so stopping the server never hangs a test run.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class TextReply:
    """An answer: streamed in chunks of `chunk_chars` when the request streams."""

    text: str
    chunk_chars: int = 6
    delay_s: float = 0.0
    finish_reason: str = "stop"


@dataclass
class FramesReply:
    """Mercury's diffusing mode: every chunk carries the whole current text."""

    frames: list[str]
    delay_s: float = 0.0


@dataclass
class ErrorReply:
    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class CutReply:
    """Streams `text`, then drops the connection in the middle of the body."""

    text: str
    chunk_chars: int = 6


@dataclass
class EarlyEndReply:
    """Streams `text`, then ends the body cleanly but without a finish or [DONE]."""

    text: str
    chunk_chars: int = 6


@dataclass
class StreamErrorReply:
    """Streams `text`, then an error event inside the stream (the status was 200)."""

    text: str
    message: str
    chunk_chars: int = 6


@dataclass
class MalformedReply:
    """Streams `text`, then a `data:` line that is not JSON (a broken proxy or server)."""

    text: str
    data: str = "{this is not json"
    chunk_chars: int = 6


@dataclass
class StallReply:
    """Sends nothing for `seconds` (the client's timeout should fire first)."""

    seconds: float


Reply = (
    TextReply
    | FramesReply
    | ErrorReply
    | CutReply
    | EarlyEndReply
    | StreamErrorReply
    | MalformedReply
    | StallReply
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def diffusion_frames(text: str, steps: int) -> list[str]:
    """Frames that denoise `text`: masked words resolve a few more per frame."""
    words = text.split(" ")
    order = sorted(range(len(words)), key=lambda i: (i * 7919) % len(words))
    frames = []
    for step in range(1, steps + 1):
        revealed = set(order[: len(words) * step // steps])
        frames.append(" ".join(w if i in revealed else "░" * len(w) for i, w in enumerate(words)))
    return frames


class OpenAIServer:
    """Start with `with OpenAIServer() as server:`; point a client at `server.base_url`."""

    def __init__(self, models: list[str] | None = None) -> None:
        self.models: list[str] | ErrorReply = list(models or ["mercury-2", "mercury-coder"])
        self.models_delay_s = 0.0  # how long GET /models takes to answer
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        # Streams the client went away from before the end (Stop, cancel).
        self.abandoned_streams = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def last_chat_body(self) -> dict[str, Any]:
        body = self.chat_requests()[-1].body
        assert body is not None
        return body

    def wait_for_abandoned_stream(self, timeout_s: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.abandoned_streams:
                return True
            time.sleep(0.01)
        return False

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Called from handler threads.
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.replies:
                return self.replies.popleft()
        messages = body.get("messages") or [{}]
        return TextReply(f"You said: {messages[-1].get('content', '')}")

    def _note_abandoned(self) -> None:
        with self._lock:
            self.abandoned_streams += 1

    def _sleep(self, seconds: float) -> bool:
        """Sleeps unless the server is stopping; False when it is."""
        return not self._stopping.wait(seconds)


def _make_handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIServer
    protocol_version = "HTTP/1.1"  # chunked bodies, so a cut stream is detectable

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.owner._record(RecordedRequest("GET", self.path, dict(self.headers), None))
        if self.path.rstrip("/") != "/v1/models":
            self._send_json(404, error_body(f"No route {self.path}", "not_found", None))
            return
        self.owner._stopping.wait(self.owner.models_delay_s)  # bounded; ends with the server
        models = self.owner.models
        if isinstance(models, ErrorReply):
            self._send_error(models)
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in models]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        self.owner._record(RecordedRequest("POST", self.path, dict(self.headers), body))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, error_body(f"No route {self.path}", "not_found", None))
            return
        if body is None:
            self._send_json(400, error_body("Body is not JSON", "invalid_request_error", None))
            return
        reply = self.owner._next_reply(body)
        model = body.get("model", "mercury-2")
        try:
            self._answer(reply, model, bool(body.get("stream")))
        except (BrokenPipeError, ConnectionResetError):
            self.owner._note_abandoned()
            self.close_connection = True

    def _answer(self, reply: Reply, model: str, stream: bool) -> None:
        if isinstance(reply, ErrorReply):
            self._send_error(reply)
        elif isinstance(reply, StallReply):
            self.owner._sleep(reply.seconds)
            self.close_connection = True
        elif not stream:
            text = reply.frames[-1] if isinstance(reply, FramesReply) else reply.text
            finish = reply.finish_reason if isinstance(reply, TextReply) else "stop"
            self._send_json(200, _completion(model, text, finish))
        elif isinstance(reply, FramesReply):
            self._stream_frames(reply, model)
        else:
            self._stream_text(reply, model)

    def _stream_text(
        self,
        reply: TextReply | CutReply | EarlyEndReply | StreamErrorReply | MalformedReply,
        model: str,
    ) -> None:
        self._start_stream()
        self._write_event(_chunk(model, {"role": "assistant", "content": ""}, None))
        text, step = reply.text, reply.chunk_chars
        delay = reply.delay_s if isinstance(reply, TextReply) else 0.0
        for start in range(0, len(text), step):
            if delay and not self.owner._sleep(delay):
                return
            self._write_event(_chunk(model, {"content": text[start : start + step]}, None))
        if isinstance(reply, CutReply):
            # No terminating zero-length chunk: the body is incomplete on the wire.
            self.wfile.flush()
            self.close_connection = True
            return
        if isinstance(reply, StreamErrorReply):
            self._write_event(error_body(reply.message, "server_error", None))
        if isinstance(reply, MalformedReply):
            self._write_data(reply.data)
        if isinstance(reply, TextReply):
            self._write_event(_chunk(model, {}, reply.finish_reason))
            self._write_data("[DONE]")
        self._end_stream()

    def _stream_frames(self, reply: FramesReply, model: str) -> None:
        self._start_stream()
        total = len(reply.frames)
        for step, frame in enumerate(reply.frames, start=1):
            if reply.delay_s and step > 1 and not self.owner._sleep(reply.delay_s):
                return
            chunk = _chunk(model, {"role": "assistant", "content": frame}, None)
            chunk["diffusion_meta"] = {"step": step, "total_steps": total}
            if step == total:
                chunk["choices"][0]["finish_reason"] = "stop"
            self._write_event(chunk)
        self._write_data("[DONE]")
        self._end_stream()

    def _send_error(self, reply: ErrorReply) -> None:
        self._send_json(
            reply.status, error_body(reply.message, reply.type, reply.code), reply.headers
        )

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _write_event(self, payload: dict[str, Any]) -> None:
        self._write_data(json.dumps(payload))

    def _write_data(self, data: str) -> None:
        frame = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _completion(model: str, text: str, finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }

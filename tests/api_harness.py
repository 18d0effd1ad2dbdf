"""A real API server on 127.0.0.1 over a JobQueue whose events the test sees.

`EventLog` records every job event on the engine thread; it can slow each
denoising step (so a job lasts many steps of wall time) or hold the engine at
the start of the first job (so the queue fills deterministically). `Client`
speaks HTTP with the standard library, and `RawClient` sends a request on a
bare socket so a test can walk away from it mid-job."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2

from studio.engine.jobs import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobQueue,
    JobStarted,
    JobStep,
)
from studio.engine.options import EngineOptions, ServiceOptions
from studio.server.runner import ApiServer
from studio.server.text import TextService

WAIT_S = 60.0  # every wait in these tests is bounded by this


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class EventLog:
    """The job events of a queue, in order, with bounded waits on them."""

    def __init__(self, step_delay_s: float = 0.0, hold_first_job: bool = False) -> None:
        self.events: list[JobEvent] = []
        self.step_delay_s = step_delay_s
        self.release = threading.Event()
        if not hold_first_job:
            self.release.set()
        self._changed = threading.Condition()

    def __call__(self, event: JobEvent) -> None:  # on the engine thread
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()
        if isinstance(event, JobStarted):
            self.release.wait(WAIT_S)
        elif isinstance(event, JobStep) and self.step_delay_s:
            time.sleep(self.step_delay_s)

    def wait_for(self, condition: Callable[[list[JobEvent]], bool], what: str) -> None:
        """Waits until `condition(events)` holds; it is also re-checked every few
        milliseconds, since it may look at more than the events (the queue, replies)."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while not condition(self.events):
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}; events: {self.events}")
                self._changed.wait(0.01)

    def snapshot(self) -> list[JobEvent]:
        with self._changed:
            return list(self.events)

    def steps(self, job_id: int) -> int:
        return sum(isinstance(e, JobStep) and e.job_id == job_id for e in self.snapshot())

    def ended(self, job_id: int) -> JobEvent | None:
        for event in self.snapshot():
            ended = isinstance(event, JobFinished | JobFailed | JobCancelled)
            if ended and event.job_id == job_id:
                return event
        return None

    def start_of(self, job_id: int) -> JobStarted | None:
        events = self.snapshot()
        return next((e for e in events if isinstance(e, JobStarted) and e.job_id == job_id), None)


@dataclass
class ServedQueue:
    """A JobQueue served on a thread, reporting to `log`."""

    log: EventLog
    services: ServiceOptions = field(default_factory=lambda: ServiceOptions(cache=False))

    def __post_init__(self) -> None:
        self.queue = JobQueue(self.log, EngineOptions(), self.services)
        self._thread = threading.Thread(target=self.queue.serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.log.release.set()
        self.queue.stop()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the engine thread did not stop"


@dataclass
class Client:
    url: str

    def call(self, method, path, payload=None, headers=None, raw=None, timeout=WAIT_S) -> Reply:
        data = raw if raw is not None else None if payload is None else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={**sent, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())


class RawClient:
    """A POST sent on its own socket; the test may close it before the answer."""

    def __init__(self, url: str, path: str, payload: dict, headers: dict | None = None) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
        body = json.dumps(payload).encode()
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def close(self) -> None:
        self.sock.close()

    def status_line(self) -> str:
        """The first line of the answer (waits for it)."""
        data = b""
        while b"\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0].decode()


class ServedApi:
    """An ApiServer on 127.0.0.1 (a free port) over a ServedQueue reporting to
    `log` (or over `queue`, never served: no engine). `restart` binds the same
    port again; `state` reads a job's state through the job API."""

    def __init__(self, sd_model, *, token=None, step_delay_s=0.0, hold_first_job=False,
                 max_queue=16, limits=None, text=None, queue=None) -> None:  # fmt: skip
        self.token = token
        self.log = EventLog(step_delay_s=step_delay_s, hold_first_job=hold_first_job)
        self.engine = ServedQueue(self.log) if queue is None else None
        self._queue = queue or self.engine.queue
        self._options = {
            "token": token,
            "default_model": str(sd_model),
            # never called unless a test serves text itself
            "text": text or TextService("http://127.0.0.1:9/v1", api_key="k"),
            "max_queue": max_queue,
            "jobs": limits,
        }
        self.server = self._start(port=0)

    def _start(self, port: int):
        server = ApiServer(self._queue, port=port, **self._options)
        server.start()
        return server

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        self.server = self._start(port=self.server.port)

    def state(self, job_id: str) -> str:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx2.Client(base_url=self.url, timeout=WAIT_S, headers=headers) as http:
            return http.get(f"/jobs/{job_id}").json()["state"]

    def stop(self) -> None:
        self.server.stop()
        if self.engine is not None:
            self.engine.stop()

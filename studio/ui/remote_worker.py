"""The window's engine on another machine: RemoteWorker has EngineWorker's
signals and methods over `studio serve`'s job API (studio.remote), so the
window's job bookkeeping (job_controller.py) reads the same either way.

Jobs are sent (POST /jobs) in the order they were submitted by one sending
thread, so the server queues them in that order; each is then followed on a
thread of its own. No network call runs on the GUI thread: signals are
emitted from these threads and Qt queues them to the receivers' thread.
"""

from __future__ import annotations

import io
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage

from ..engine.batch import plan_batch
from ..engine.errors import EngineError, JobCancelledError
from ..engine.infotext import parse_infotext, request_from_infotext
from ..engine.options import DIRECT_SERVICES, ServiceOptions
from ..engine.request import MAX_BATCH, MAX_SIDE, GenerationRequest, GenerationResult
from ..engine.safety import prompt_filter
from ..engine.worker import EngineSignals
from ..remote.client import RemoteEngine, RemoteError
from ..remote.events import Finished, Loading, RemoteEvent, Started, Step

log = logging.getLogger(__name__)

# A memory budget no request reaches: a plan here is limited only by the images
# one POST may ask for; the server splits each job again by its own budget.
_NO_BUDGET_MP = MAX_BATCH * MAX_SIDE * MAX_SIDE / 1e6
SHUTTING_DOWN = "The engine is shutting down; the job was not queued."
# How long shutdown waits for the threads by default: it runs on the GUI thread,
# and a server that does not answer must not freeze the window. Threads still
# waiting on it are daemons, and the server cancels a job nobody follows after
# its grace period.
SHUTDOWN_WAIT_MS = 2_000


@dataclass(eq=False)
class _RemoteJob:
    job_id: int
    request: GenerationRequest
    notices: tuple[str, ...]  # the local check's; the server's check says the same
    cancel: threading.Event = field(default_factory=threading.Event)
    sending: bool = False
    server_id: str | None = None
    started_at: float | None = None
    submitted_at: float = field(default_factory=time.monotonic)


def checked(request: GenerationRequest) -> tuple[GenerationRequest, list[str]]:
    """The request validated here and its notices. LoRA files are the server's
    (as a model folder is), so they are left to its own check."""
    if not request.loras:
        return request.validated()
    plain, notices = request.replace(loras=()).validated()
    return plain.replace(loras=request.loras), notices


class RemoteQueue:
    """What the window asks of `worker.queue`, for jobs on a server: the local
    check and plan of a request (the server checks again), and which of the
    jobs not yet ended wait and which one runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, _RemoteJob] = {}  # not ended, in the order submitted
        self._running: int | None = None
        self._services = DIRECT_SERVICES

    def set_services(self, services: ServiceOptions) -> None:
        """The window's preferences, from the next job on: its prompt filter
        refuses here, before anything is sent, and its watermark marks requests
        that name none. The cache, image checker and batch budget are the
        server's own (`studio serve` options there)."""
        with self._lock:
            self._services = services

    def check(self, request: GenerationRequest) -> GenerationRequest:
        return self._prepared(request)[0]

    def _prepared(self, request: GenerationRequest) -> tuple[GenerationRequest, list[str]]:
        """The request as it is sent, and the notices of its check."""
        with self._lock:
            services = self._services
        request, notices = checked(request)
        prompt_filter(services).check(request.prompts)
        if request.watermark is None and services.watermark is not None:
            # What the local engine's plan does (plan.py): the request then carries it.
            request = request.replace(watermark=services.watermark.validated())
        return request, notices

    def plan(self, request: GenerationRequest, prompts: list[str]) -> list[GenerationRequest]:
        return plan_batch(request, prompts, _NO_BUDGET_MP)

    def pending(self) -> list[tuple[int, GenerationRequest]]:
        """Jobs submitted and not yet started: here, being sent, or in the server's queue."""
        with self._lock:
            return [(j.job_id, j.request) for j in self._jobs.values() if j.started_at is None]

    @property
    def running_id(self) -> int | None:
        with self._lock:
            return self._running

    # -- the worker's bookkeeping -------------------------------------------------------

    def _add(self, job: _RemoteJob) -> None:
        with self._lock:
            self._jobs[job.job_id] = job

    def _get(self, job_id: int) -> _RemoteJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _all(self) -> list[_RemoteJob]:
        with self._lock:
            return list(self._jobs.values())

    def _start(self, job: _RemoteJob) -> bool:
        """Marks the job running; False when it already was (a stream opened
        again replays the job's state)."""
        with self._lock:
            if job.started_at is not None:
                return False
            job.started_at = time.monotonic()
            self._running = job.job_id
            return True

    def _end(self, job: _RemoteJob) -> None:
        with self._lock:
            self._jobs.pop(job.job_id, None)
            if self._running == job.job_id:
                self._running = None


class RemoteWorker(EngineSignals):
    """EngineWorker's interface over a `studio serve` at `url`. A bad address
    raises RemoteError here; everything else is a job's failure sentence."""

    def __init__(
        self,
        url: str,
        token: str | Callable[[], str | None] | None = None,
        parent: QObject | None = None,
    ):
        """`token` may be a function (the window's reads the keyring, which can
        block): it is called once, on the first thread that talks to the server."""
        super().__init__(parent)
        with RemoteEngine(url) as engine:  # no network: checks the address
            self.url = engine.url
        self._token_source = token
        self._token_lock = threading.Lock()
        self.queue = RemoteQueue()
        self._ids = itertools.count(1)
        self._server_ids: dict[int, str] = {}
        self._outbox: queue.Queue[_RemoteJob | None] = queue.Queue()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._sender = threading.Thread(target=self._send_all, name="remote-send", daemon=True)
        self._stopping = False
        self._lost: set[int] = set()  # jobs whose events stream is being opened again
        self._lost_lock = threading.Lock()

    def start(self) -> None:
        self._sender.start()

    def submit(self, request: GenerationRequest) -> int:
        if self._stopping:
            raise EngineError(SHUTTING_DOWN)
        request, notices = self.queue._prepared(request)
        job = _RemoteJob(next(self._ids), request, tuple(notices))
        self.queue._add(job)
        self._outbox.put(job)
        self.queue_changed.emit()
        return job.job_id

    def cancel(self, job_id: int) -> bool:
        """Drops a job not yet sent at once; asks the server (DELETE) to drop a
        waiting job or stop the running one at its next step."""
        job = self.queue._get(job_id)
        if job is None:
            return False
        with self.queue._lock:
            job.cancel.set()
            unsent = not job.sending
            server_id = job.server_id
        if unsent:  # the sending thread skips it
            self._cancelled(job)
        elif server_id is not None:
            self._in_thread(self._delete, server_id, name="remote-cancel")
        # else: being sent now; the sending thread cancels it once it has the id
        return True

    def cancel_all(self) -> None:
        for job in self.queue._all():
            self.cancel(job.job_id)

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Cancels the jobs on the server and here, and joins the threads for at
        most `timeout_ms`; False when some still wait on the server."""
        self._stopping = True
        self.cancel_all()
        self._outbox.put(None)
        deadline = time.monotonic() + timeout_ms / 1000
        if self._sender.ident is not None:
            self._sender.join(max(0.0, deadline - time.monotonic()))
        # Followers end once the server says their jobs were cancelled.
        while time.monotonic() < deadline:
            with self._threads_lock:
                threads = list(self._threads)
            if not threads:
                break
            threads[0].join(max(0.0, deadline - time.monotonic()))
        with self._threads_lock:
            return not self._sender.is_alive() and not self._threads

    def server_job_id(self, job_id: int) -> str | None:
        """The server's id of one of this worker's jobs, once it was sent."""
        return self._server_ids.get(job_id)

    # -- the threads ----------------------------------------------------------------------

    def _engine(self) -> RemoteEngine:
        with self._token_lock:
            if callable(self._token_source):
                self._token_source = self._token_source()
            token = self._token_source
        return RemoteEngine(self.url, token)

    def _in_thread(self, target: Callable[..., None], *args: object, name: str) -> None:
        thread = threading.Thread(target=self._forgetting, args=(target, *args), name=name)
        thread.daemon = True
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _forgetting(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def _send_all(self) -> None:
        with self._engine() as engine:
            while (job := self._outbox.get()) is not None:
                with self.queue._lock:
                    if job.cancel.is_set():
                        continue  # cancelled before it was sent: said already
                    job.sending = True
                try:
                    server_id = engine.submit(job.request, job.request.extra_prompts)
                except Exception as exc:
                    if job.cancel.is_set():  # cancelled while it was being sent: as asked
                        self._cancelled(job)
                    else:
                        self._failed(job, exc)
                    continue
                self._server_ids[job.job_id] = server_id
                with self.queue._lock:
                    job.server_id = server_id
                    cancelled = job.cancel.is_set()
                if cancelled:  # cancel() came while it was being sent
                    self._delete(server_id, engine)
                self._in_thread(self._follow, job, name=f"remote-job-{job.job_id}")

    def _delete(self, server_id: str, engine: RemoteEngine | None = None) -> None:
        try:
            if engine is not None:
                engine.cancel(server_id)
            else:
                with self._engine() as own:
                    own.cancel(server_id)
        except RemoteError as exc:
            # The job's stream says how it ended: lost, finished, or failed.
            log.warning("cancelling job %s on %s: %s", server_id, self.url, exc)

    def lost_sentence(self) -> str:
        return f"Lost the connection to {self.url}; reconnecting…"

    def _on_connection(self, job: _RemoteJob, why: str | None) -> None:
        """Says the loss once however many jobs notice it, and its end once
        every job that lost it is back (or ended: its own sentence says how)."""
        with self._lost_lock:
            was_lost = bool(self._lost)
            if why is None:
                self._lost.discard(job.job_id)
            else:
                self._lost.add(job.job_id)
            lost = bool(self._lost)
        if lost and not was_lost:
            log.warning("lost the connection to %s: %s", self.url, why)
            self.connection_changed.emit(self.lost_sentence())
        elif was_lost and not lost:
            self.connection_changed.emit("")

    def _follow(self, job: _RemoteJob) -> None:
        try:
            self._follow_job(job)
        finally:
            self._on_connection(job, None)

    def _follow_job(self, job: _RemoteJob) -> None:
        assert job.server_id is not None
        with self._engine() as engine:
            try:
                finished = engine.follow(
                    job.server_id,
                    lambda event: self._on_event(job, event),
                    on_connection=lambda why: self._on_connection(job, why),
                )
                pngs = [engine.image(job.server_id, n) for n in range(len(finished.images))]
                result = self._result(job, finished, pngs)
            except JobCancelledError:
                self._cancelled(job)
            except Exception as exc:
                self._failed(job, exc)
            else:
                self.queue._end(job)
                self.job_finished.emit(job.job_id, result)

    def _cancelled(self, job: _RemoteJob) -> None:
        self.queue._end(job)
        self.job_cancelled.emit(job.job_id)
        self.queue_changed.emit()

    def _failed(self, job: _RemoteJob, exc: Exception) -> None:
        if isinstance(exc, RemoteError) and exc.status == 401:
            message = self._token_refused()
        elif isinstance(exc, EngineError):
            message = str(exc)
        else:  # a bug here must not leave the job hanging in the window
            log.exception("remote job %s failed", job.job_id)
            message = f"Unexpected error: {exc}. Details are in the log."
        self.queue._end(job)
        self.job_failed.emit(job.job_id, message)

    def _token_refused(self) -> str:
        """The server's 401 as the window says it: the token lives in Settings
        (the client's own sentence names the CLI's --token)."""
        with self._token_lock:
            had = bool(self._token_source)
        if not had:
            return (
                f"The server at {self.url} needs a token: save the one it was started with "
                "in Settings → General → Engine server token."
            )
        return (
            f"The server at {self.url} did not accept the token; save the one it was started "
            "with in Settings → General → Engine server token."
        )

    def _on_event(self, job: _RemoteJob, event: RemoteEvent) -> None:
        if isinstance(event, Started | Loading | Step) and self.queue._start(job):
            self.job_started.emit(job.job_id, job.request)
            self.queue_changed.emit()
        if isinstance(event, Loading):
            self.job_loading.emit(job.job_id, event.model)
        elif isinstance(event, Step):
            # One POST of many prompts runs as `parts` engine jobs: one bar for them all.
            step = event.part * event.total + event.step
            preview = _qimage(event.preview_png)
            self.job_step.emit(job.job_id, step, event.total * event.parts, preview, event.region)

    def _result(self, job: _RemoteJob, finished: Finished, pngs: list[bytes]) -> GenerationResult:
        """The server's images as the engine's result. Saving them with their
        infotexts (pngfile.save_png) writes the pixels and parameters of the
        server's PNGs; with the same studio and Pillow versions, its very bytes."""
        images, infotexts = [], []
        for png in pngs:
            try:
                with Image.open(io.BytesIO(png)) as image:
                    image.load()
                    infotexts.append(str(image.info.get("parameters", finished.parameters)))
                    plain = image.copy()
            except OSError:
                raise RemoteError(
                    f"The server at {self.url} sent an image this client cannot read; is it a "
                    "`studio serve` of a matching version?"
                ) from None
            plain.info.clear()  # save_png writes the chunks; none of the file's ride along
            images.append(plain)
        resolved = job.request.replace(seed=finished.seeds[0] if finished.seeds else None)
        label = job.request.model
        try:
            # Steps, size, scheduler and seed as the server resolved them.
            restored, _notices = request_from_infotext(finished.parameters, job.request)
            resolved = restored.replace(
                model=job.request.model,
                prompt=job.request.prompt,
                negative_prompt=job.request.negative_prompt,
            )
            label = parse_infotext(finished.parameters).params.get("Model") or label
        except EngineError:
            pass  # an unreadable text: the request as sent, with its seed
        began = job.started_at if job.started_at is not None else job.submitted_at
        return GenerationResult(
            images=tuple(images),
            seeds=finished.seeds,
            request=resolved,
            model_label=label,
            infotexts=tuple(infotexts),
            elapsed_s=time.monotonic() - began,
            notices=job.notices,
            cached=finished.cached,
        )


def _qimage(png: bytes | None) -> QImage:
    """A step's preview as the local worker sends it; a null image when none came."""
    if not png:
        return QImage()
    image = QImage.fromData(png, "PNG")
    return image.convertToFormat(QImage.Format.Format_RGB888) if not image.isNull() else image

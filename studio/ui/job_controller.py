"""The window's jobs: requests built from the panel and the canvas, what the
status bar says while they wait, load and run, and where their results go.

The window owns the widgets; this object owns the bookkeeping (which jobs are
the window's, which one runs) so the window stays glue."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar

from ..atomicfile import write_problem
from ..canvas import CanvasDocument, CanvasView
from ..engine.errors import EngineError
from ..engine.request import GenerationRequest, GenerationResult
from .canvas_request import (
    model_name,
    native_size_notice,
    place_on_canvas,
    request_from_canvas,
    split_into_jobs,
)
from .engine_port import EnginePort
from .generation_panel import GenerationPanel
from .history import HistoryStrip
from .message_bar import MessageBar
from .queue_view import QueueView
from .status_line import StatusLine

PROMPT_SHOWN = 60  # characters of the prompt the status bar repeats


class JobController(QObject):
    idle = Signal()  # the last of the window's own jobs has ended

    def __init__(
        self,
        *,
        panel: GenerationPanel,
        document: CanvasDocument,
        view: CanvasView,
        history: HistoryStrip,
        queue_view: QueueView,
        message_bar: MessageBar,
        status: StatusLine,
        progress: QProgressBar,
        place_results: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.document, self.view = panel, document, view
        self.history, self.queue_view, self.message_bar = history, queue_view, message_bar
        self.status, self.progress = status, progress
        self._place_results = place_results
        self.worker: EnginePort | None = None
        # The window's own jobs (API jobs share the queue but not the canvas),
        # with when each started running.
        self.active: dict[int, GenerationRequest] = {}
        self._started_at: dict[int, float] = {}
        self.running: int | None = None
        self._noticed: tuple | None = None  # the last size notice, said once

    def attach(self, worker: EnginePort) -> None:
        self.worker = worker
        worker.job_started.connect(self._on_started)
        worker.job_loading.connect(self._on_loading)
        worker.job_step.connect(self._on_step)
        worker.job_finished.connect(self._on_finished)
        worker.job_failed.connect(self._on_failed)
        worker.job_cancelled.connect(self._on_cancelled)
        worker.queue_changed.connect(self.refresh_queue)

    def busy(self) -> bool:
        return bool(self.active)

    # -- what the user asks for ----------------------------------------------------------

    def submit(self, force: bool = False) -> list[int]:
        """Queues the panel's request built from the canvas; returns the job ids.
        `force` bypasses the result cache."""
        worker = self.worker
        if worker is None:
            return []
        try:
            request = request_from_canvas(self.panel.request(), self.document)
            if force:
                request = request.replace(force_regenerate=True)
            prompts = self.panel.batch_prompts()
            # One prompt per line: prompts that fit in memory run in one pipeline call.
            jobs = worker.queue.plan(request, prompts) if prompts else split_into_jobs(request)
            # All or nothing: a refusal of the third image must not leave the
            # first two queued, their results arriving for ids nobody knows.
            # submit() runs the same check, on the same services, so none of
            # the submits below can be refused once these pass; it does not
            # validate the checked (validated) jobs again.
            jobs = [worker.queue.check(job) for job in jobs]
        except EngineError as exc:
            self.message_bar.show_message(str(exc))
            return []
        ids = [worker.submit(job) for job in jobs]
        self.active.update(zip(ids, jobs, strict=True))
        self._tell_size(request)
        self.panel.set_busy(True)
        return ids

    def _tell_size(self, request: GenerationRequest) -> None:
        """Says, once per model and size, when the size is far from the model's."""
        notice = native_size_notice(request, self.panel.model.current_defaults())
        seen = (request.model, request.width, request.height)
        if notice is None or seen == self._noticed:
            self.message_bar.hide()
            return
        self._noticed = seen
        self.message_bar.show_message(notice, "info")

    def stop(self) -> None:
        if self.worker is not None and self.running is not None:
            self.worker.cancel(self.running)

    def stop_after_current(self) -> None:
        if self.worker is None:
            return
        for job_id, _request in self.worker.queue.pending():
            self.worker.cancel(job_id)

    def remove(self, job_id: int) -> None:
        if self.worker is not None:
            self.worker.cancel(job_id)

    # -- what the engine says ------------------------------------------------------------

    def _on_started(self, job_id: int, request: GenerationRequest) -> None:
        self.running = job_id
        if job_id not in self.active:
            self.status.say("Serving an API request…")
            return
        self._started_at[job_id] = time.monotonic()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        self.status.say(_generating(request))

    def _on_loading(self, job_id: int, label: str) -> None:
        if job_id not in self.active:
            return
        # The loaders report no fraction done: the bar stays busy until the first step.
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Loading {label}…")
        self.status.say(f"Loading model {label}… (once per model; the steps follow)")

    def _on_step(self, job_id: int, step: int, total: int, preview, region) -> None:
        if job_id not in self.active:
            return  # an API job: its client gets the result, the canvas stays as it is
        started = self._started_at.setdefault(job_id, time.monotonic())
        if step == 1:
            self.status.say(_generating(self.active[job_id]))
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step}/{total} · {time.monotonic() - started:.1f} s")
        if not preview.isNull():
            self.view.set_preview(preview, region)
        self.view.set_busy_region(region)

    def _on_finished(self, job_id: int, result: GenerationResult) -> None:
        if self.active.pop(job_id, None) is None:
            self._ended(job_id)
            return
        self._clear_preview()
        saved = []
        for image, infotext, seed in zip(
            result.images, result.infotexts, result.seeds, strict=True
        ):
            try:
                path = self.history.store.save(image, infotext, seed)
            except OSError as exc:
                problem = write_problem(exc, self.history.store.root / "x.png")
                self.message_bar.show_message(
                    f"The result could not be saved in {self.history.store.root}: {problem}. "
                    "The output folder is set in Preferences."
                )
                break
            saved.append(path)
            self.history.add(path)
        self.panel.note_seed(result.seeds[0])
        if self._place_results() and result.images:
            place_on_canvas(self.document, result.images[0], result.request.mode)
        if result.notices:
            self.message_bar.show_message(" ".join(result.notices), "info")
        how = "From the result cache" if result.cached else f"Done in {result.elapsed_s:.1f} s"
        said = f"{how} · seed {result.seeds[0]}"
        if saved:
            more = f" (+{len(saved) - 1} more)" if len(saved) > 1 else ""
            self.status.say_saved(f"{said} · saved{more}", saved[0])
        else:
            self.status.say(said)
        self._ended(job_id)

    def _on_failed(self, job_id: int, message: str) -> None:
        self.active.pop(job_id, None)
        self._clear_preview()
        self.message_bar.show_message(message)
        self.status.say("Generation failed")
        self._ended(job_id)

    def _on_cancelled(self, job_id: int) -> None:
        self.active.pop(job_id, None)
        if job_id == self.running or self.running is None:
            self._clear_preview()
            self.status.say("Cancelled")
        self._ended(job_id)

    def _clear_preview(self) -> None:
        self.view.clear_preview()
        self.view.set_busy_region(None)

    def _ended(self, job_id: int) -> None:
        self._started_at.pop(job_id, None)
        if job_id == self.running:
            self.running = None
        if not self.active:
            self.progress.hide()
            self.panel.set_busy(False)
            self.idle.emit()
        self.refresh_queue()

    def refresh_queue(self) -> None:
        if self.worker is None:
            return
        running_id = self.worker.queue.running_id
        running = None
        if running_id is not None and running_id in self.active:
            running = (running_id, self.active[running_id])
        self.queue_view.show_jobs(running, self.worker.queue.pending())


def _generating(request: GenerationRequest) -> str:
    prompt = request.prompt[:PROMPT_SHOWN] or "(no prompt)"
    return f"Generating with {model_name(request.model)}: {prompt}"

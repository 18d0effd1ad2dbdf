"""The Qt side of the engine: a long-lived QThread serving the job queue.

The only engine module that imports Qt. Job events are re-emitted as signals
carrying plain data (QImage previews, result dataclasses), which Qt queues to
the receivers' (GUI) thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtGui import QImage

from .jobs import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobLoading,
    JobQueue,
    JobStarted,
    JobStep,
)
from .options import EngineOptions
from .request import GenerationRequest


def pil_to_qimage(image) -> QImage:
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    # copy(): the QImage must own its pixels once `data` is gone.
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


class _ServeThread(QThread):
    def __init__(self, queue: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue = queue

    def run(self) -> None:
        self._queue.serve()


class EngineSignals(QObject):
    """What every engine the window drives sends: this process's (EngineWorker)
    and a server's (ui/remote_worker.py), declared once for both."""

    job_started = Signal(int, object)  # job id, GenerationRequest
    job_loading = Signal(int, str)  # job id, the label of the model being read from disk
    job_step = Signal(int, int, int, QImage, object)  # id, step, total, preview, region|None
    job_finished = Signal(int, object)  # job id, GenerationResult
    job_failed = Signal(int, str)  # job id, a sentence for the user
    job_cancelled = Signal(int)
    queue_changed = Signal()
    # A sentence when a remote engine's server is lost while a job's progress is
    # followed (its client tries again), "" once the connection is back; never
    # sent by the engine in this process.
    connection_changed = Signal(str)


class EngineWorker(EngineSignals):
    """Submit requests from the GUI thread; listen to the signals."""

    def __init__(self, options: EngineOptions | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.queue = JobQueue(self._emit, options)
        self._thread = _ServeThread(self.queue)
        self._thread.setObjectName("engine")

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: GenerationRequest) -> int:
        job_id = self.queue.submit(request)
        self.queue_changed.emit()
        return job_id

    def cancel(self, job_id: int) -> bool:
        return self.queue.cancel(job_id)

    def cancel_all(self) -> None:
        self.queue.cancel_all()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancels what runs, drops what waits, and joins the thread."""
        self.queue.stop()
        return self._thread.wait(timeout_ms)

    def _emit(self, event: JobEvent) -> None:
        # Runs on the engine thread (or the caller's, for a cancelled waiting job).
        match event:
            case JobStarted(job_id, request):
                self.job_started.emit(job_id, request)
                self.queue_changed.emit()
            case JobLoading(job_id, model_label):
                self.job_loading.emit(job_id, model_label)
            case JobStep(job_id, info):
                preview = pil_to_qimage(info.preview) if info.preview is not None else QImage()
                self.job_step.emit(job_id, info.step, info.total, preview, info.region)
            case JobFinished(job_id, result):
                self.job_finished.emit(job_id, result)
            case JobFailed(job_id, message):
                self.job_failed.emit(job_id, message)
            case JobCancelled(job_id):
                self.job_cancelled.emit(job_id)
                self.queue_changed.emit()

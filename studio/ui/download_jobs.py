"""Model downloads in the background, owned by the window so they outlive the
Models dialog that started them.

Each download plans and fetches on a Python thread of its own (the engine's
`plan_download` + `download`, which never touch Qt); the thread reports
through this object's signals, which Qt queues to the GUI thread. Progress is
throttled to a few updates a second, so a fast line does not flood the event
loop."""

from __future__ import annotations

import contextlib
import importlib.util
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, SignalInstance

from ..engine.download_meter import DownloadStatus, SpeedMeter
from ..engine.downloads import (
    DownloadCancelledError,
    DownloadError,
    DownloadProgress,
    download,
    plan_download,
    remove_model,
    update_available,
    update_ref,
)

PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress signals a second per download
JOIN_TIMEOUT_S = 5.0  # how long quitting waits for each cancelled download


def cuda_likely() -> bool:
    """Whether torch will find a CUDA device, without importing torch when the
    process has not yet (that costs the GUI thread a second): a CUDA build of
    torch (its version.py names a CUDA version) and an NVIDIA driver."""
    # The engine thread may be importing torch right now: a half-made module
    # has no cuda yet, and then the files answer.
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    if cuda is not None and hasattr(cuda, "is_available"):
        return bool(cuda.is_available())
    try:
        spec = importlib.util.find_spec("torch")
    except ValueError:  # a module in sys.modules without a spec: no files to read
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    version = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version.read_text(encoding="utf-8")
    except OSError:
        return False
    cuda_build = any(line.startswith("cuda") and "None" not in line for line in text.splitlines())
    driver = Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None
    return cuda_build and driver


def fetch_device(choice: str) -> str:
    """The device a download fetches weights for: where the engine will run with
    the Device setting `choice`. Imports torch: call it off the GUI thread."""
    from ..engine.errors import EngineError
    from ..engine.pipelines import pick_device

    try:
        return pick_device(choice)
    except EngineError:  # a GPU chosen that is not here: the engine will say so
        return "cpu"


def runs_on_cpu(device: str) -> bool:
    """Whether the engine's device choice ends on the CPU path, where the speed
    pack (the tiny decoder) is worth offering."""
    if device == "cpu":
        return True
    if device != "auto":
        return False  # cuda or mps: a GPU decodes fast enough
    apple_gpu = sys.platform == "darwin" and platform.machine() == "arm64"
    return not apple_gpu and not cuda_likely()


@dataclass
class _Job:
    name: str
    cancel: threading.Event
    thread: threading.Thread | None = None


class DownloadJobs(QObject):
    """Starts, cancels and reports the window's model downloads by catalog name."""

    started = Signal(str)
    cancelling = Signal(str)  # asked to stop; it ends (cancelled) at its next chunk
    planned = Signal(str, int)  # name, bytes the whole download has
    progressed = Signal(str, object)  # name, DownloadStatus
    finished = Signal(str)
    failed = Signal(str, str)  # name, the sentence that says why and what to do
    cancelled = Signal(str)
    removed = Signal(str, int)  # name, bytes freed
    updates_checked = Signal(object)  # the names with a newer version on the hub
    update_check_failed = Signal(str)  # the sentence
    # From a download's thread to this object's (the GUI) thread: (name, outcome, sentence).
    _ended = Signal(str, str, str)
    # The names the hub answered for, those with an update, the failure's sentence ("": none).
    _checked = Signal(object, object, str)

    def __init__(self, device: Callable[[], str] = lambda: "cpu", parent=None) -> None:
        super().__init__(parent)
        # Which precision to fetch follows the device the engine will run on
        # (the fp16 files alone on CUDA); called on the download's thread.
        self._device = device
        self._jobs: dict[str, _Job] = {}
        self._status: dict[str, DownloadStatus] = {}
        self._totals: dict[str, int] = {}
        self._measuring: set[str] = set()  # sizes being asked for (measure)
        self._unmeasured: set[str] = set()  # the hub gave no size: not asked again
        self._measurers: list[threading.Thread] = []
        self._errors: dict[str, str] = {}
        self._updates: set[str] = set()
        self._checker: threading.Thread | None = None
        self._ended.connect(self._on_ended)
        self._checked.connect(self._on_checked)

    # -- what a view reads -------------------------------------------------------

    def running(self, name: str) -> bool:
        return name in self._jobs

    def names(self) -> list[str]:
        return list(self._jobs)

    def status(self, name: str) -> DownloadStatus | None:
        """The latest progress of a running download (or of the last one)."""
        return self._status.get(name)

    def planned_total(self, name: str) -> int | None:
        """The download size of `name` once a download of it was planned."""
        return self._totals.get(name)

    def has_update(self, name: str) -> bool:
        """Whether the last check found a newer version of `name` on the hub."""
        return name in self._updates

    def checking(self) -> bool:
        return self._checker is not None

    def error(self, name: str) -> str | None:
        """Why the last download of `name` failed; None after a new start."""
        return self._errors.get(name)

    # -- what a user does --------------------------------------------------------

    def start(self, name: str) -> bool:
        """Plans and fetches `name` in the background; False when it already runs."""
        if name in self._jobs:
            return False
        job = _Job(name, threading.Event())
        self._unmeasured.discard(name)
        self._errors.pop(name, None)
        self._status.pop(name, None)
        job.thread = threading.Thread(
            target=self._run, args=(job,), name=f"download-{name}", daemon=True
        )
        self._jobs[name] = job
        self.started.emit(name)
        job.thread.start()
        return True

    def cancel(self, name: str) -> None:
        """Stops at the next chunk; what arrived stays, for Resume."""
        job = self._jobs.get(name)
        if job is not None and not job.cancel.is_set():
            job.cancel.set()
            self.cancelling.emit(name)

    def is_cancelling(self, name: str) -> bool:
        """Asked to stop and not yet stopped: the cancel is seen between reads of
        1 MB (downloads.READ_SIZE), so on a slow line this can last seconds."""
        job = self._jobs.get(name)
        return job is not None and job.cancel.is_set()

    def measure(self, names: list[str]) -> None:
        """Asks the hub, in the background, what downloading each of `names` would
        fetch, so the size shows before Download is clicked; `planned` says it.
        Names measured or downloading are skipped; offline nothing is asked."""
        from ..engine.hub_cache import hub_offline

        wanted = [n for n in names if n not in self._totals and n not in self._jobs]
        wanted = [n for n in wanted if n not in self._measuring | self._unmeasured]
        if not wanted or hub_offline():
            return
        self._measuring.update(wanted)
        thread = threading.Thread(target=self._measure, args=(wanted,), name="measure", daemon=True)
        self._measurers = [t for t in self._measurers if t.is_alive()] + [thread]
        thread.start()

    def _measure(self, names: list[str]) -> None:
        for name in names:
            try:
                plan = plan_download(name, update_ref(name), device=self._device())
            except Exception:  # the size stays unknown; Download says what is wrong
                self._unmeasured.add(name)  # not asked again until a download of it
                continue
            finally:
                self._measuring.discard(name)
            self._totals.setdefault(name, plan.total)
            self._send(self.planned, name, plan.total)

    def check_updates(self, names: list[str]) -> bool:
        """Asks the hub, in the background, which of `names` have a newer version
        than the one here; False when a check already runs."""
        if self._checker is not None:
            return False
        self._checker = threading.Thread(
            target=self._check, args=(list(names),), name="update-check", daemon=True
        )
        self._checker.start()
        return True

    def remove(self, name: str) -> int:
        """Deletes `name` from the hub cache (not while it downloads); returns the
        bytes freed. Raises DownloadError with the sentence."""
        if name in self._jobs:
            raise DownloadError(f"{name} is downloading; cancel it first, then remove it.")
        freed = remove_model(name)
        self._updates.discard(name)
        self._status.pop(name, None)
        self._errors.pop(name, None)
        self.removed.emit(name, freed)
        return freed

    def shutdown(self, timeout_s: float = JOIN_TIMEOUT_S) -> bool:
        """Cancels every download and waits for their threads (the parts stay,
        so the next start resumes); False when one did not stop in time."""
        for job in self._jobs.values():
            job.cancel.set()
        deadline = time.monotonic() + timeout_s
        stopped = True
        threads = [job.thread for job in self._jobs.values()] + [self._checker, *self._measurers]
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                stopped = stopped and not thread.is_alive()
        return stopped

    # -- the download's thread ---------------------------------------------------

    @staticmethod
    def _send(signal: SignalInstance, *args: object) -> None:
        """Emits from a download's thread. The window may be gone by the time a
        cancelled download ends (quitting waits only so long): then nobody listens."""
        with contextlib.suppress(RuntimeError):  # "Signal source has been deleted"
            signal.emit(*args)

    def _run(self, job: _Job) -> None:
        try:
            # An update follows the branch or tag of the version here, not main.
            revision = update_ref(job.name)
            plan = plan_download(job.name, revision, device=self._device())
            self._totals[job.name] = plan.total
            self._send(self.planned, job.name, plan.total)
            download(plan, progress=self._reporter(job.name, plan.total), cancel=job.cancel)
        except DownloadCancelledError:
            self._send(self._ended, job.name, "cancelled", "")
        except DownloadError as exc:
            self._send(self._ended, job.name, "failed", str(exc))
        except Exception as exc:  # a user sees a sentence, never a traceback
            self._send(
                self._ended,
                job.name,
                "failed",
                f"Downloading {job.name} failed unexpectedly ({type(exc).__name__}: {exc}); "
                "try again, and report it if it happens again.",
            )
        else:
            self._send(self._ended, job.name, "finished", "")

    def _check(self, names: list[str]) -> None:
        answered: list[str] = []  # what was answered before a failure still counts
        found: list[str] = []
        try:
            for name in names:
                if update_available(name):
                    found.append(name)
                answered.append(name)
        except DownloadError as exc:
            self._send(self._checked, answered, found, str(exc))
        except Exception as exc:  # a sentence, never a traceback
            self._send(
                self._checked,
                answered,
                found,
                f"Checking for updates failed unexpectedly ({type(exc).__name__}: {exc}); "
                "try again.",
            )
        else:
            self._send(self._checked, answered, found, "")

    def _on_checked(self, answered: list[str], found: list[str], sentence: str) -> None:
        if self._checker is not None:
            self._checker.join(1.0)  # it has emitted its last signal: it is ending
        self._checker = None
        # A model updated meanwhile (the CLI) is current now: an old mark goes.
        self._updates.difference_update(answered)
        self._updates.update(found)
        if sentence:
            self.update_check_failed.emit(sentence)
        else:
            self.updates_checked.emit(found)

    def _reporter(self, name: str, total: int) -> Callable[[DownloadProgress], None]:
        meter = SpeedMeter()
        last = [0.0, -1]  # when the last signal went, and the bytes it said

        def report(progress: DownloadProgress) -> None:
            if last[1] < 0 or progress.done < last[1]:
                meter.restart(progress.done)  # the first report counts what was on disk
            speed = meter.add(progress.done)
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL_S and progress.done < progress.total:
                return
            last[:] = [now, progress.done]
            status = DownloadStatus(progress.done, progress.total or total, speed)
            self._status[name] = status
            self._send(self.progressed, name, status)

        return report

    def _on_ended(self, name: str, outcome: str, sentence: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None and job.thread is not None:
            job.thread.join(1.0)  # it has emitted its last signal: it is ending
        if outcome == "finished":
            self._updates.discard(name)
            total = self._totals.get(name, 0)
            self._status[name] = DownloadStatus(total, total, 0.0)
            self.finished.emit(name)
        elif outcome == "cancelled":
            self.cancelled.emit(name)
        else:
            self._errors[name] = sentence
            self.failed.emit(name, sentence)

"""Driving the shown window: one txt2img job with the default model through the
real engine worker, then the checks, then closing the window."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ..engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL
from ..engine.request import GenerationRequest
from .checks import app_dir, check_environment, image_problems, versions
from .report import Report, write_report

# The window's first example: the screenshot shows what a new user's first try gives.
PROMPT = CATALOG[DEFAULT_IMAGE_MODEL].example_prompts[0]
NEGATIVE = "blurry"
SEED = 1234
DEFAULT_TIMEOUT_S = 300.0


def first_request() -> GenerationRequest:
    """What the self-test asks the window for: the default model at its own
    steps, guidance, sampler and size, one image at a fixed seed."""
    d = CATALOG[DEFAULT_IMAGE_MODEL].defaults
    return GenerationRequest(
        PROMPT,
        negative_prompt=NEGATIVE,
        model=DEFAULT_IMAGE_MODEL,
        scheduler=d.scheduler,
        steps=d.steps,
        guidance_scale=d.guidance_scale,
        width=d.width,
        height=d.height,
        seed=SEED,
        batch_count=1,
    )


class _Session:
    """Drives the shown window: one txt2img job, then the checks, then close."""

    def __init__(self, report: Report, timeout_s: float, artefacts: Path | None) -> None:
        self.report = report
        self.timeout_s = timeout_s
        self.artefacts = artefacts  # where the image and a screenshot are kept
        self.window = None
        self.job_id: int | None = None
        self.steps = 0
        self.previews = 0
        self.done = False
        self.t0 = time.monotonic()
        self.t_shown = 0.0

    def begin(self, window) -> None:
        from PySide6.QtCore import QTimer

        self.window = window
        self.t_shown = time.monotonic()
        r = self.report
        r.timings_s["window_shown"] = round(self.t_shown - self.t0, 2)
        r.check("window", window.isVisible(), f"{window.windowTitle()!r} shown offscreen")
        r.check(
            "window before torch",
            "torch" not in sys.modules,
            "torch was not imported when the window appeared"
            if "torch" not in sys.modules
            else "torch was already imported when the window appeared (slow start)",
        )
        try:
            check_environment(r)
            r.model = DEFAULT_IMAGE_MODEL
            window.panel.apply_request(first_request())
            worker = window.worker
            if worker is None:
                self.fail("The engine worker did not start.")
                return
            worker.job_step.connect(self._on_step)
            worker.job_finished.connect(self._on_finished)
            worker.job_failed.connect(self._on_failed)
            worker.job_cancelled.connect(self._on_cancelled)
            QTimer.singleShot(int(self.timeout_s * 1000), self._on_timeout)
            ids = window.generate()
            if len(ids) != 1:
                message = window.message_bar.text() or "no job was queued"
                self.fail(f"Generate queued {len(ids)} jobs: {message}")
                return
            self.job_id = ids[0]
        except Exception as exc:
            self.fail(f"The self-test could not start a job: {exc!r}", traceback.format_exc())

    def _on_step(self, job_id: int, step: int, total: int, preview, region) -> None:
        if job_id == self.job_id:
            if self.steps == 0:
                self.report.timings_s["first_step"] = round(time.monotonic() - self.t0, 2)
            self.steps += 1
            self.previews += 0 if preview.isNull() else 1

    def _on_finished(self, job_id: int, result) -> None:
        if job_id != self.job_id or self.done:
            return
        r = self.report
        try:
            r.timings_s["job_finished"] = round(time.monotonic() - self.t0, 2)
            r.timings_s["generation"] = round(result.elapsed_s, 2)
            req = result.request
            r.info["request"] = {
                "width": req.width,
                "height": req.height,
                "steps": req.steps,
                "scheduler": req.scheduler,
                "guidance": req.guidance_scale,
            }
            r.check(
                "engine",
                self.steps >= 1 and not getattr(result, "cached", False),
                f"{self.steps} step events ({self.previews} previews) from the worker, "
                f"{result.elapsed_s:.2f} s"
                + (" — answered from the result cache, not generated" if result.cached else ""),
            )
            paths = self.window.history.paths()
            if not r.check("saved", bool(paths), f"{paths[0]}" if paths else "nothing was saved"):
                return self._close()
            path = paths[0]
            problems = image_problems(path, req.width, req.height, PROMPT, SEED)
            r.check(
                "image",
                not problems,
                "; ".join(problems) or f"{req.width}×{req.height}, parameters in tEXt, not blank",
            )
            r.image = str(path)
            if self.artefacts is not None:
                kept = self.artefacts.with_suffix(".png")
                shutil.copyfile(path, kept)
                r.image = str(kept)
                shot = self.artefacts.with_name(self.artefacts.stem + "-window.png")
                if self.window.grab().save(str(shot)):
                    r.screenshot = str(shot)
        except Exception as exc:
            self.fail(f"Checking the result failed: {exc!r}", traceback.format_exc())
        self._close()

    def _on_failed(self, job_id: int, message: str) -> None:
        if job_id == self.job_id:
            self.fail(f"The job failed: {message}")

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self.job_id:
            self.fail("The job was cancelled.")

    def _on_timeout(self) -> None:
        if not self.done:
            self.fail(
                f"No result after {self.timeout_s:.0f} s ({self.steps} steps seen); "
                "the engine is stuck or very slow."
            )

    def fail(self, reason: str, details: str | None = None) -> None:
        if self.report.reason is None:
            self.report.reason = reason
        if details:
            self.report.info["traceback"] = details
        self._close()

    def _close(self) -> None:
        if self.done:
            return
        self.done = True
        self.report.timings_s["total"] = round(time.monotonic() - self.t0, 2)
        if self.window is not None:
            from PySide6.QtCore import QTimer

            # The result on the canvas is the self-test's own: quit without asking to save it.
            self.window.document.undo_stack.setClean()
            QTimer.singleShot(0, self.window.close)


def run_self_test(report_path: str | None = None, timeout_s: float | None = None) -> int:
    """Runs the self-test; returns the exit status (0: passed)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    temp_data = None
    if not os.environ.get("STUDIO_DATA_DIR"):
        temp_data = tempfile.mkdtemp(prefix="studio-selftest-")
        os.environ["STUDIO_DATA_DIR"] = temp_data
    if timeout_s is None:
        timeout_s = float(os.environ.get("STUDIO_SELFTEST_TIMEOUT", DEFAULT_TIMEOUT_S))
    target = Path(report_path).resolve() if report_path else None
    report = Report(app_dir=str(app_dir()))
    session = _Session(report, timeout_s, target)
    try:
        report.versions = versions()
        if target is not None:
            # Replaced at the end; left behind if native code kills the process first.
            target.parent.mkdir(parents=True, exist_ok=True)
            log = os.environ.get("STUDIO_LOG_FILE")
            ended = Report(
                reason="The app ended before the self-test finished (it crashed or was "
                "killed); " + (f"its log is {log}." if log else "see its output."),
                app_dir=report.app_dir,
                versions=report.versions,
            )
            target.write_text(ended.to_json() + "\n", encoding="utf-8")
        from ..gui import run_gui

        run_gui(on_shown=session.begin)
        if not session.done:
            report.reason = report.reason or "The window closed before the job finished."
    except Exception as exc:
        report.reason = report.reason or f"The app could not start: {exc!r}"
        report.info["traceback"] = traceback.format_exc()
    finally:
        report.timings_s.setdefault("total", round(time.monotonic() - session.t0, 2))
        if temp_data is not None:
            shutil.rmtree(temp_data, ignore_errors=True)
            if report.image and Path(report.image).is_relative_to(temp_data):
                report.image = None  # it went with the temporary data folder
    report.finish()
    return write_report(report, target)

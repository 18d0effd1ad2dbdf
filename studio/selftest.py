"""`studio --self-test`: open the real window offscreen, generate one image with
the default model through the real engine worker, check it, write a report.

Made for the frozen app (does the build hold everything it needs?) and just as
usable from a checkout. Exit status 0 when every check passed, 1 otherwise;
the report (JSON) says which check failed and why. Nothing of the user's is
touched: unless STUDIO_DATA_DIR is set, the window runs on a fresh temporary
data folder that is removed afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .engine.models import CATALOG, DEFAULT_IMAGE_MODEL

# The window's first example: the screenshot shows what a new user's first try gives.
PROMPT = CATALOG[DEFAULT_IMAGE_MODEL].example_prompts[0]
NEGATIVE = "blurry"
SEED = 1234
DEFAULT_TIMEOUT_S = 300.0
# A generated picture varies; a broken one (NaNs decoded to black, a constant
# fill) does not. Tiny and demo models both stay far above these.
MIN_STD = 2.0
MIN_COLOURS = 16


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    ok: bool = False
    reason: str | None = None
    frozen: bool = bool(getattr(sys, "frozen", False))
    model: str | None = None
    image: str | None = None
    screenshot: str | None = None
    data_dir: str | None = None
    app_dir: str | None = None
    checks: list[Check] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def finish(self) -> None:
        failed = [c for c in self.checks if not c.ok]
        if not self.checks and self.reason is None:
            self.reason = "No check ran."
        if failed and self.reason is None:
            self.reason = f"{failed[0].name}: {failed[0].detail}"
        self.ok = bool(self.checks) and not failed and self.reason is None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def app_dir() -> Path:
    """The folder the app runs from: the frozen bundle, or the checkout."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)).resolve()
    return Path(__file__).resolve().parent.parent


def default_model() -> str:
    """The model `studio generate` uses when none is named."""
    from .app import build_parser

    return build_parser().parse_args(["generate"]).model


# -- checking a result -------------------------------------------------------------------


def png_text_chunks(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG, read from the file itself (not through Pillow):
    the parameters must be a tEXt chunk, which other tools read."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    chunks: dict[str, str] = {}
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length] or b"\0\0\0\0")
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"damaged {kind.decode('latin-1')} chunk")
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        if kind == b"IEND":
            break
        pos += 12 + length
    return chunks


def image_problems(path: Path, width: int, height: int, prompt: str, seed: int) -> list[str]:
    """What is wrong with a generated PNG; empty when it is right."""
    import numpy as np
    from PIL import Image

    if not path.is_file():
        return [f"{path} was not written"]
    problems = []
    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        text = png_text_chunks(path).get("parameters")
    except (OSError, ValueError) as exc:
        return [f"{path.name} is not a readable PNG ({exc})"]
    if size != (width, height):
        problems.append(f"size {size[0]}×{size[1]}, expected {width}×{height}")
    if not np.isfinite(pixels).all():
        problems.append("pixels are not finite")
    std = float(pixels.std())
    colours = len(np.unique(pixels.reshape(-1, 3).astype(np.uint8), axis=0))
    if std < MIN_STD or colours < MIN_COLOURS:
        problems.append(
            f"the picture is blank (pixel deviation {std:.2f}, {colours} colours); "
            "the model produced no image"
        )
    if text is None:
        problems.append("no 'parameters' tEXt chunk")
    else:
        if prompt not in text:
            problems.append("the parameters do not hold the prompt")
        if f"Seed: {seed}" not in text:
            problems.append(f"the parameters do not hold 'Seed: {seed}'")
    return problems


# -- the environment -----------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from importlib import metadata

    from . import __version__

    found = {"studio": __version__, "python": platform.python_version()}
    for dist in ("torch", "diffusers", "transformers", "PySide6-Essentials", "openai", "numpy"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "no metadata"
    return found


def _platform_plugins() -> list[str]:
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _missing_libs(library: Path) -> list[str]:
    """Shared libraries `library` needs that this system lacks (Linux, ldd)."""
    if not sys.platform.startswith("linux") or not library.is_file() or not shutil.which("ldd"):
        return []
    import subprocess

    try:
        out = subprocess.run(
            ["ldd", str(library)], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def check_environment(report: Report) -> None:
    """What the window alone would not notice: TLS certificates for Mercury,
    the platform plugins a desktop needs, a data folder outside the app."""
    import platformdirs

    from .paths import APP_NAME, data_dir

    try:
        import certifi
        import openai  # noqa: F401  (the Mercury client's SDK)

        bundle = Path(certifi.where())
        report.check(
            "tls certificates",
            bundle.is_file() and bundle.stat().st_size > 1000,
            f"{bundle} ({bundle.stat().st_size if bundle.is_file() else 0} bytes)",
        )
    except Exception as exc:
        report.check("tls certificates", False, f"openai/certifi could not be loaded: {exc}")

    plugins = _platform_plugins()
    needed = {"linux": ("offscreen", "xcb"), "win32": ("windows",), "darwin": ("cocoa",)}
    wanted = needed.get("linux" if sys.platform.startswith("linux") else sys.platform, ())
    missing = [w for w in wanted if not any(w in name for name in plugins)]
    report.check(
        "qt platform plugins",
        not missing,
        f"present: {', '.join(plugins) or 'none'}" + (f"; missing: {missing}" if missing else ""),
    )
    if sys.platform.startswith("linux"):
        from PySide6.QtCore import QLibraryInfo

        xcb = (
            Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
            / "platforms"
            / "libqxcb.so"
        )
        # A system library (e.g. libxcb-cursor0), not ours to ship: reported, not failed.
        report.info["xcb_missing_system_libs"] = _missing_libs(xcb)

    report.data_dir = str(data_dir().resolve())
    # Where a user's settings, models and outputs go when STUDIO_DATA_DIR is unset.
    default = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)).resolve()
    inside = default.is_relative_to(app_dir()) if report.frozen else False
    report.check(
        "data folder",
        not inside,
        f"{default}" + (" is inside the app folder, which may be read-only" if inside else ""),
    )


# -- driving the window ----------------------------------------------------------------------


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

        from .engine.request import Mode

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
            spec = default_model()
            r.model = spec
            panel = window.panel
            panel.mode.setCurrentIndex(max(panel.mode.findData(Mode.TXT2IMG.value), 0))
            panel.model.set_spec(spec)  # the model's own steps, size, sampler
            panel.prompt.setPlainText(PROMPT)
            panel.negative.setPlainText(NEGATIVE)
            panel.lock.setChecked(False)
            panel.seed.setText(str(SEED))
            panel.batch.setValue(1)
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
        report.versions = _versions()
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
        from .gui import run_gui

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
    return _write(report, target)


def _write(report: Report, target: Path | None) -> int:
    text = report.to_json()
    summary = (
        f"self-test passed in {report.timings_s.get('total', 0):.1f} s"
        if report.ok
        else f"self-test FAILED: {report.reason}"
    )
    if target is not None:
        try:
            target.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            summary += f" (the report could not be written to {target}: {exc})"
            report.ok = False
    out = sys.stdout if sys.stdout is not None else None
    if out is not None:
        if target is None:
            print(text, file=out)
        print(summary + (f" — report: {target}" if target else ""), file=out, flush=True)
    return 0 if report.ok else 1

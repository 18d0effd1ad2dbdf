"""The frozen app's entry point (build.spec freezes this file, not studio/__main__.py).

A double-clicked app has no terminal: on Windows and macOS `sys.stdout` and
`sys.stderr` are None, and anything that writes to them (transformers'
logging handler does so while it is imported, tqdm on every progress bar)
raises inside a thread nobody watches. So before anything else is imported:

- `multiprocessing.freeze_support()`: a child process started by
  multiprocessing runs this program again; it must not open a window;
- a log file, `<data folder>/logs/last-run.log` (rewritten at each start),
  receives: missing standard streams, Python logging (the engine logs job
  failures there), Qt's warnings and fatal messages (a missing platform
  plugin), and faulthandler's stack dump when native code crashes (a
  segfault in torch's libraries would otherwise end the app without a word);
- an error that escapes the app is written there and shown in a message box
  that names the log.

Nothing heavy is imported here (the standard library, platformdirs, QtCore):
the window must still appear before torch is imported.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import sys
import tempfile
import traceback
from pathlib import Path

LOG_NAME = "last-run.log"
CRASH_EXIT = 70  # EX_SOFTWARE


def log_folder() -> Path:
    """`<data folder>/logs`, or a temporary folder when that is not writable."""
    try:
        from studio.paths import data_dir

        folder = data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".writable"
        probe.write_text("")
        probe.unlink()
        return folder
    except Exception:
        folder = Path(tempfile.gettempdir()) / "DiffusionStudio-logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def open_log(folder: Path):
    # Line-buffered, so what was written before a native crash is on disk.
    return open(folder / LOG_NAME, "w", encoding="utf-8", errors="replace", buffering=1)


def prepare_streams(log) -> None:
    """Gives missing standard streams (windowed apps) the log file instead."""
    if sys.stdout is None:
        sys.stdout = log
    if sys.stderr is None:
        sys.stderr = log


def install_logging(log) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(log)]
    if sys.stderr is not log:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def install_qt_message_handler(log) -> None:
    """Qt's own messages (e.g. 'Could not load the Qt platform plugin "xcb"',
    which ends the app) go to stderr, which a double-clicked app does not have."""
    try:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    except Exception:  # no Qt: the app reports that itself
        return
    names = {
        QtMsgType.QtDebugMsg: "debug",
        QtMsgType.QtInfoMsg: "info",
        QtMsgType.QtWarningMsg: "warning",
        QtMsgType.QtCriticalMsg: "critical",
        QtMsgType.QtFatalMsg: "FATAL",
    }
    echo = sys.stderr if sys.stderr is not log else None

    def handler(kind, _context, message) -> None:
        if kind in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg):
            return
        line = f"Qt {names.get(kind, kind)}: {message}\n"
        try:
            log.write(line)
            if echo is not None:
                echo.write(line)
                echo.flush()
        except Exception:
            pass

    qInstallMessageHandler(handler)


def show_error(title: str, text: str) -> None:
    """A message box when Qt can show one; stderr always."""
    if sys.stderr is not None:
        print(f"{title}: {text}", file=sys.stderr)
    if "--self-test" in sys.argv or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return  # nobody would see a box; the report and the log say it
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox

        _app = QApplication.instance() or QApplication(sys.argv[:1])
        QMessageBox.critical(None, title, text)
    except Exception:
        pass


def report_crash(log, log_path: Path) -> None:
    details = traceback.format_exc()
    try:
        log.write("\nThe app stopped with an error:\n" + details)
        log.flush()
    except Exception:
        pass
    last = details.strip().splitlines()[-1] if details.strip() else "unknown error"
    show_error(
        "Diffusion Studio stopped",
        f"Diffusion Studio stopped because of an error it did not expect:\n\n{last}\n\n"
        f"The details are in {log_path}. Please include that file when you report it.",
    )


def main() -> int:
    multiprocessing.freeze_support()
    folder = log_folder()
    log = open_log(folder)
    log_path = folder / LOG_NAME
    os.environ["STUDIO_LOG_FILE"] = str(log_path)  # the self-test's report names it
    prepare_streams(log)
    faulthandler.enable(file=log, all_threads=True)
    install_logging(log)
    install_qt_message_handler(log)
    log.write(f"Diffusion Studio, arguments {sys.argv[1:]}, executable {sys.executable}\n")
    try:
        from studio.app import main as studio_main

        code = studio_main()
    except SystemExit as exc:  # argparse and --help end this way
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        report_crash(log, log_path)
        code = CRASH_EXIT
    log.write(f"exit status {code}\n")
    log.flush()
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Before the window opens on X11: are the libraries Qt's xcb plugin needs there?

Without one of them Qt names only libxcb-cursor0, whichever is missing, and
aborts. This check names exactly the missing ones and the command that
installs them, from one declaration shared with the Linux installer
(resources/linux/x11-libraries.txt). No Qt is imported here: it runs before
the QApplication exists.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .paths import resources_dir


@dataclass(frozen=True)
class SystemLibrary:
    soname: str  # what the loader looks for, e.g. libxcb-icccm.so.4
    debian: str  # the Debian/Ubuntu package that has it
    fedora: str


def libraries_file() -> Path:
    return resources_dir() / "linux" / "x11-libraries.txt"


def declared_libraries(path: Path | None = None) -> list[SystemLibrary]:
    """The declared libraries; none when the list is not shipped (a bare pip install)."""
    try:
        text = (path or libraries_file()).read_text(encoding="utf-8")
    except OSError:
        return []
    rows = (line.split() for line in text.splitlines() if not line.startswith("#"))
    return [SystemLibrary(*row) for row in rows if len(row) == 3]


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds `soname`, as it will for Qt's plugin."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt would start on X11: QT_QPA_PLATFORM's first usable platform,
    else Wayland in a Wayland session and X11 otherwise (Qt's own choice)."""
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        names = [name.split(":")[0].strip().lower() for name in chosen.split(";")]
    elif environ.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        names = ["wayland", "xcb"]
    else:
        names = ["xcb"]
    wayland_here = bool(environ.get("WAYLAND_DISPLAY")) or (
        environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"
    )
    for name in filter(None, names):
        if name.startswith("wayland") and not wayland_here:
            continue  # Qt falls through to the next one
        return name == "xcb"
    return False


def missing_libraries_message(
    environ: Mapping[str, str] | None = None,
    find: Callable[[str], bool] | None = None,
    platform: str = sys.platform,
) -> str | None:
    """The sentence to stop with when the window would open on X11 without
    libraries it needs; None when it can start (or will not use X11)."""
    environ = os.environ if environ is None else environ
    if not platform.startswith("linux") or not uses_xcb(environ):
        return None
    find = find or loadable
    missing = [library for library in declared_libraries() if not find(library.soname)]
    if not missing:
        return None
    one = len(missing) == 1
    return (
        f"The window cannot open on X11: the system {'library' if one else 'libraries'} "
        f"{_listed([library.soname for library in missing])} {'is' if one else 'are'} missing. "
        f"Install {'it' if one else 'them'} with "
        f"`sudo apt install {_packages(library.debian for library in missing)}` (Debian, Ubuntu) "
        f"or `sudo dnf install {_packages(library.fedora for library in missing)}` (Fedora), "
        "then start Diffusion Studio again."
    )


def _packages(names: Iterable[str]) -> str:
    """Each package once (Fedora's libxcb holds many of the libraries), in order."""
    return " ".join(dict.fromkeys(names))


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

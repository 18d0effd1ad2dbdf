"""Starting on a Linux desktop that lacks X11 libraries Qt's xcb plugin needs:
the app names exactly the missing ones and the command that installs them,
before Qt can abort with its own message (which names only libxcb-cursor0).
The library lookup is faked, so these run the same on any machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest

from studio import x11_libraries
from studio.gui import MISSING_LIBRARIES_EXIT
from studio.x11_libraries import declared_libraries, missing_libraries_message, uses_xcb

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "packaging" / "linux" / "install.sh"
APP_NAME = "Diffusion Studio"
WITHOUT_ICCCM_AND_KEYSYMS = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
PYSIDE = Path(PySide6.__file__).resolve().parent
# Qt's xcb plugin and the library it is a thin wrapper of.
XCB_BINARIES = ("Qt/plugins/platforms/libqxcb.so", "Qt/lib/libQt6XcbQpa.so.6")
X11_SONAME = re.compile(r"lib(xcb|X11|xkbcommon)[.-]")


def _lookup_without(missing: set[str]):
    return lambda soname: soname not in missing


@pytest.mark.parametrize(
    ("environ", "xcb"),
    [
        ({"DISPLAY": ":0"}, True),
        ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, True),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
        ({"QT_QPA_PLATFORM": "xcb:nograb"}, True),
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "wayland"}, False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, True),  # no Wayland here: Qt falls to xcb
        ({"QT_QPA_PLATFORM": "wayland;xcb", "WAYLAND_DISPLAY": "wayland-0"}, False),
    ],
)
def test_when_the_window_would_use_x11(environ, xcb):
    assert uses_xcb(environ) is xcb


def test_the_missing_libraries_and_their_packages_are_named_exactly():
    message = missing_libraries_message(
        {"DISPLAY": ":0"}, _lookup_without(WITHOUT_ICCCM_AND_KEYSYMS), platform="linux"
    )
    assert message == (
        "The window cannot open on X11: the system libraries libxcb-icccm.so.4 and "
        "libxcb-keysyms.so.1 are missing. Install them with "
        "`sudo apt install libxcb-icccm4 libxcb-keysyms1` (Debian, Ubuntu) or "
        "`sudo dnf install xcb-util-wm xcb-util-keysyms` (Fedora), then start Diffusion "
        "Studio again."
    )
    one = missing_libraries_message(
        {"DISPLAY": ":0"}, _lookup_without({"libxcb-cursor.so.0"}), platform="linux"
    )
    assert "the system library libxcb-cursor.so.0 is missing. Install it with" in one


def test_a_package_holding_several_missing_libraries_is_named_once():
    message = missing_libraries_message(
        {"DISPLAY": ":0"},
        _lookup_without({"libxcb-randr.so.0", "libxcb-shape.so.0"}),
        platform="linux",
    )
    assert "`sudo apt install libxcb-randr0 libxcb-shape0` (Debian, Ubuntu)" in message
    assert "`sudo dnf install libxcb` (Fedora)" in message


def _system_x11_libraries(binary: Path) -> set[str]:
    """The xcb, X11 and xkbcommon libraries `binary` loads that PySide6 does not ship."""
    listed = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    found = set()
    for line in listed.splitlines():
        soname, _, where = line.strip().partition(" => ")
        if not X11_SONAME.match(soname):
            continue
        path = where.split(" (")[0]
        if path != "not found" and Path(path).resolve().is_relative_to(PYSIDE):
            continue
        found.add(soname)
    return found


def test_every_x11_library_the_xcb_plugin_links_is_declared():
    """What ldd says the installed PySide6's xcb plugin needs is what the app
    checks for: a library left off the list is one Qt aborts without."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Qt's xcb plugin and ldd are Linux's")
    if shutil.which("ldd") is None:
        pytest.skip("ldd is not installed, so the plugin's libraries cannot be listed")
    needed = set()
    for part in XCB_BINARIES:
        binary = PYSIDE / part
        if not binary.is_file():
            pytest.skip(f"this PySide6 ships no {part} (an install without the xcb plugin)")
        needed |= _system_x11_libraries(binary)
    assert "libxcb.so.1" in needed  # the listing was read at all
    declared = {library.soname for library in declared_libraries()}
    assert sorted(needed - declared) == []


@pytest.mark.parametrize(
    ("environ", "platform"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux"),
        ({}, "darwin"),
        ({}, "win32"),
    ],
)
def test_no_check_where_x11_is_not_used(environ, platform):
    everything_missing = _lookup_without({lib.soname for lib in declared_libraries()})
    assert missing_libraries_message(environ, everything_missing, platform) is None


def test_nothing_to_say_when_every_library_is_there():
    assert missing_libraries_message({"DISPLAY": ":0"}, lambda _: True, "linux") is None


def test_the_window_stops_with_the_sentence_before_qt_starts(tmp_path):
    """The real start path (run_gui) in a fresh process, with the lookup faked."""
    script = (
        "import sys, studio.x11_libraries as x\n"
        f"x.loadable = lambda soname: soname not in {sorted(WITHOUT_ICCCM_AND_KEYSYMS)!r}\n"
        "from studio.gui import run_gui\n"
        "sys.exit(run_gui())\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "STUDIO_DATA_DIR": str(tmp_path)}
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == MISSING_LIBRARIES_EXIT
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("The window cannot open on X11")
    assert "libxcb-icccm4 libxcb-keysyms1" in lines[0] and "libxcb-cursor" not in lines[0]
    assert done.stdout == ""


def test_the_real_lookup_finds_a_library_every_linux_has():
    if not sys.platform.startswith("linux"):
        pytest.skip("the dynamic loader names are Linux's")
    assert x11_libraries.loadable("libc.so.6")
    assert not x11_libraries.loadable("libdoes-not-exist.so.9")


def test_the_installer_names_the_missing_libraries_from_the_same_list(tmp_path):
    """install.sh reads the app's own list: the packages of exactly what ldd misses."""
    folder = tmp_path / "unpacked"
    internal = folder / APP_NAME / "_internal"
    shutil.copytree(
        ROOT / "studio" / "resources" / "icons", internal / "studio" / "resources" / "icons"
    )
    shutil.copytree(
        ROOT / "studio" / "resources" / "linux", internal / "studio" / "resources" / "linux"
    )
    plugin = internal / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"")
    app = folder / APP_NAME / APP_NAME
    app.write_text("#!/bin/sh\n")
    app.chmod(0o755)
    shutil.copy(INSTALL, folder / "install.sh")
    shutil.copy(INSTALL.parent / "diffusion-studio.desktop.in", folder)
    tools = tmp_path / "bin"
    tools.mkdir()
    ldd = tools / "ldd"  # what ldd says on a system without the two libraries
    ldd.write_text(
        "#!/bin/sh\n"
        "printf '\\tlibxcb-icccm.so.4 => not found\\n\\tlibxcb-keysyms.so.1 => not found\\n'\n"
        "printf '\\tlibxcb-randr.so.0 => not found\\n\\tlibxcb-shape.so.0 => not found\\n'\n"
        "printf '\\tlibxcb-cursor.so.0 => /lib/libxcb-cursor.so.0 (0x1)\\n'\n"
    )
    ldd.chmod(0o755)
    env = {"HOME": str(tmp_path / "home"), "PATH": f"{tools}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", str(folder / "install.sh"), "--prefix", str(tmp_path / "apps")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    missing = "libxcb-icccm.so.4 libxcb-keysyms.so.1 libxcb-randr.so.0 libxcb-shape.so.0"
    assert f"  {missing}\n" in done.stdout
    apt = "libxcb-icccm4 libxcb-keysyms1 libxcb-randr0 libxcb-shape0"
    assert f"Debian/Ubuntu: sudo apt install {apt} \n" in done.stdout
    # Fedora's libxcb holds both randr and shape: named once
    dnf = "xcb-util-wm xcb-util-keysyms libxcb"
    assert f"Fedora:        sudo dnf install {dnf} \n" in done.stdout


def _readme_command(section: str, command: str) -> list[str]:
    """The packages of the README's `sudo apt install ...` (or dnf) line."""
    joined = section.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if line.startswith(command))
    return line.removeprefix(command).split("#")[0].split()


def test_the_readme_lists_every_package_once():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_section = readme.split("\n## ")[1]
    libraries = declared_libraries()
    assert len(libraries) >= 18
    apt = _readme_command(first_section, "sudo apt install ")
    dnf = _readme_command(first_section, "sudo dnf install ")
    assert apt == list(dict.fromkeys(library.debian for library in libraries))
    assert dnf == list(dict.fromkeys(library.fedora for library in libraries))

"""What the self-test checks besides the window: a generated PNG, and the
environment (TLS certificates, Qt's platform plugins, the data folder)."""

from __future__ import annotations

import platform
import shutil
import struct
import sys
import zlib
from pathlib import Path

from .report import Report

# A generated picture varies; a broken one (NaNs decoded to black, a constant
# fill) does not. Tiny and demo models both stay far above these.
MIN_STD = 2.0
MIN_COLOURS = 16


def app_dir() -> Path:
    """The folder the app runs from: the frozen bundle, or the checkout."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)).resolve()
    return Path(__file__).resolve().parents[2]


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


def versions() -> dict[str, str]:
    from importlib import metadata

    from .. import __version__

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

    from ..paths import APP_NAME, data_dir

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

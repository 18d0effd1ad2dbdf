"""Image files and the clipboard: what comes into the canvas and goes out."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication, QImage

from .errors import ImageFileError
from .imageconv import to_qimage

READABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
WRITABLE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def read_image(path: Path) -> Image.Image:
    """An opened image file, turned upright by its EXIF orientation, as RGBA."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            return image.convert("RGBA")
    except FileNotFoundError:
        raise ImageFileError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise ImageFileError(f"{path} is a folder, not an image.") from None
    except UnidentifiedImageError:
        raise ImageFileError(
            f"{path.name} is not an image the canvas can open (PNG, JPEG or WebP)."
        ) from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageFileError(f"{path.name} could not be read: {error}.") from None


def write_image(image: Image.Image, path: Path) -> None:
    """Saves an image atomically; the format follows the file's suffix."""
    image_format = WRITABLE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        known = ", ".join(sorted(WRITABLE_FORMATS))
        raise ImageFileError(f"Cannot save {path.name}: use one of {known}.")
    if image_format == "JPEG":
        image = image.convert("L" if image.mode == "L" else "RGB")  # JPEG has no alpha
    try:
        with atomic_file(path) as handle:
            image.save(handle, format=image_format)
    except OSError as error:
        raise ImageFileError(f"Could not save {path}: {error.strerror or error}.") from None


@contextlib.contextmanager
def atomic_file(path: Path):
    """A binary file handle whose contents replace `path` only when the block
    succeeds: a crash never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Our own name opened with "x", not mkstemp: mkstemp makes every file 0600,
    # this gives the user's umask, like any other program's new file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as handle:
            if path.is_file():  # saving over a file keeps who may read it
                os.chmod(handle.fileno(), stat.S_IMODE(path.stat().st_mode))
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def copy_image(image: Image.Image) -> None:
    QGuiApplication.clipboard().setImage(to_qimage(image))


def clipboard_image() -> Image.Image | QImage | None:
    """The clipboard's image: copied pixels, or a copied image file."""
    source = image_source(QGuiApplication.clipboard().mimeData())
    return read_image(source) if isinstance(source, Path) else source


def image_source(data: QMimeData | None) -> Path | QImage | None:
    """What dragged or copied data offers as an image: a local image file
    (opened later, so a drag over the canvas reads nothing), or pixels."""
    if data is None:
        return None
    if data.hasUrls():
        for url in data.urls():
            path = Path(url.toLocalFile())
            if url.isLocalFile() and path.suffix.lower() in READABLE_SUFFIXES:
                return path
    if data.hasImage():
        image = QImage(data.imageData())
        if not image.isNull():
            return image
    return None

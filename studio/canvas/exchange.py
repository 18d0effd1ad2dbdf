"""Image files and the clipboard: what comes into the canvas and goes out."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication, QImage

from ..atomicfile import atomic_file, write_problem
from ..image_formats import IMAGE_SUFFIXES, pillow_format, suffix_list
from .errors import ImageFileError
from .imageconv import to_qimage


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
    image_format = pillow_format(path)
    if image_format is None:
        raise ImageFileError(f"Cannot save {path.name}: use one of {suffix_list()}.")
    if image_format == "JPEG":
        image = image.convert("L" if image.mode == "L" else "RGB")  # JPEG has no alpha
    try:
        with atomic_file(path) as handle:
            image.save(handle, format=image_format)
    except OSError as error:
        raise ImageFileError(f"Could not save {path}: {write_problem(error, path)}.") from None


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
            if url.isLocalFile() and path.suffix.lower() in IMAGE_SUFFIXES:
                return path
    if data.hasImage():
        image = QImage(data.imageData())
        if not image.isNull():
            return image
    return None

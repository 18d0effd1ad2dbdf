"""A result saved as the file the user named: PNG, JPEG or WebP, chosen by the
name's suffix, each carrying its recipe where A1111 and the tools that read
A1111's files look for it, and marked as AI-generated.

- PNG: the `parameters` text chunk, marker and XMP of pngfile.py.
- JPEG and WebP: the recipe in EXIF UserComment laid out as A1111 writes it with
  piexif: a big-endian TIFF block whose Exif IFD holds tag 0x9286 of type
  UNDEFINED, b"UNICODE\\0" followed by the text in UTF-16-BE; plus the same XMP
  as the PNG (IPTC digital source type "trainedAlgorithmicMedia").

Files are written atomically (studio/atomicfile.py). No torch and no Qt here.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from PIL import Image, TiffImagePlugin, TiffTags
from PIL.ExifTags import IFD, Base

from ..atomicfile import atomic_file, check_can_write, write_problem
from ..image_formats import pillow_format, suffix_list
from .errors import EngineError
from .pngfile import png_info, xmp_packet

if TYPE_CHECKING:
    from .request import GenerationRequest

QUALITY = 95  # JPEG and lossy WebP: artefacts invisible at normal viewing, a third of a PNG
USER_COMMENT_UNICODE = b"UNICODE\x00"  # the Exif character code A1111 (piexif) writes
_EXIF_HEADER = b"Exif\x00\x00"
_TIFF_HEADER = b"MM\x00\x2a\x00\x00\x00\x08"  # big-endian, first IFD at 8: as piexif writes
# A JPEG marker segment holds at most 65,535 bytes, two of them its length.
JPEG_MAX_EXIF_BYTES = 65533
_LARGEST_SIDE = 1024  # pixels: the largest side a catalog model picks by itself


def output_format(path: str | Path) -> str:
    """The Pillow format the name asks for; an EngineError names the ones we write."""
    found = pillow_format(path)
    if found is None:
        raise EngineError(
            f"{path} names no image format this app writes; end the name with {suffix_list()}."
        )
    return found


def exif_with_parameters(infotext: str) -> bytes:
    """An EXIF block (with its b"Exif\\0\\0" header) holding `infotext` in
    UserComment as A1111 writes it through piexif and reads it back."""
    comment = USER_COMMENT_UNICODE + infotext.encode("utf-16-be")
    exif_ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=_TIFF_HEADER)
    # Pillow would type bytes as BYTE, which piexif (and so A1111) reads back as a
    # tuple of numbers; the Exif standard and piexif type UserComment UNDEFINED.
    exif_ifd.tagtype[Base.UserComment] = TiffTags.UNDEFINED
    exif_ifd[Base.UserComment] = comment
    first_ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=_TIFF_HEADER)
    first_ifd.tagtype[IFD.Exif] = TiffTags.LONG
    first_ifd[IFD.Exif] = 0  # a placeholder of the same size, to measure the first IFD
    exif_offset = len(_TIFF_HEADER) + len(first_ifd.tobytes(len(_TIFF_HEADER)))
    first_ifd[IFD.Exif] = exif_offset
    return (
        _EXIF_HEADER
        + _TIFF_HEADER
        + first_ifd.tobytes(len(_TIFF_HEADER))
        + exif_ifd.tobytes(exif_offset)
    )


# How much recipe fits in a JPEG: what is left of a marker segment, in UTF-16 units.
JPEG_MAX_RECIPE_CHARS = (JPEG_MAX_EXIF_BYTES - len(exif_with_parameters(""))) // 2


def write_image(image: Image.Image, file: BinaryIO, infotext: str, image_format: str) -> None:
    """Encodes `image` with its recipe and AI marking into an open file."""
    if image_format == "PNG":
        image.save(file, format="PNG", pnginfo=png_info(infotext))
        return
    exif = exif_with_parameters(infotext)
    if image_format == "JPEG":
        if len(exif) > JPEG_MAX_EXIF_BYTES:
            raise EngineError(
                f"The recipe ({len(infotext):,} characters) is too long for a JPEG file, "
                f"which holds at most {JPEG_MAX_RECIPE_CHARS:,}; save a .png or .webp instead."
            )
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")  # JPEG has no alpha
    xmp = xmp_packet().encode("utf-8")
    image.save(file, format=image_format, quality=QUALITY, exif=exif, xmp=xmp)


def save_image(image: Image.Image, path: str | Path, infotext: str) -> Path:
    """Writes `image` in the format its name asks for (output_format), with its
    recipe, atomically: a failure leaves any older file and no temporary file."""
    found = output_format(path)
    with atomic_file(path) as file:
        write_image(image, file, infotext, found)
    return Path(path)


def write_error(path: str | Path, exc: OSError) -> EngineError:
    """A failed write of `path` as the sentence a user reads."""
    return EngineError(f"Cannot write {path}: {write_problem(exc, path)}.")


def check_result_files(paths: Sequence[Path], jobs: Sequence[GenerationRequest] = ()) -> None:
    """Raises the EngineError that saving `jobs`' images to `paths` would meet, so
    that it comes before the work, not after: a name in no format we write, a
    folder where a file should go, a name too long for the disk, a folder that
    cannot be written, a disk too full for the images. The prompts of a valid
    request always fit in a JPEG (test_image_files checks), so only a recipe
    made long by dozens of LoRAs is refused late, by write_image."""
    for path in paths:
        try:
            folder = check_can_write(path)  # creates and removes the file's real temp name
        except OSError as exc:
            raise write_error(path, exc) from None
        output_format(path)
    try:
        free = shutil.disk_usage(folder).free  # a batch shares one folder
    except OSError as exc:
        raise write_error(paths[0], exc) from None
    # At most the raw pixels plus metadata: the model's own size is not known yet.
    needed = sum(
        job.image_count * ((job.width or _LARGEST_SIDE) * (job.height or _LARGEST_SIDE) * 3 + 2**16)
        for job in jobs
    )
    if free < needed:
        raise EngineError(
            f"Cannot write {paths[0]}: its disk has {free / 2**20:.1f} MB free and the "
            f"images may need up to {needed / 2**20:.1f} MB; free some space and try again."
        )

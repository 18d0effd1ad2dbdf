"""The image files the app writes and reads, chosen by the name's suffix: one
list for the engine's results, the canvas's exports and the window's file
dialogs. It imports nothing from the app, so the engine and the canvas, which
may not import each other, both import it."""

from __future__ import annotations

from pathlib import PurePath

# Suffix -> Pillow format. Each carries a recipe where A1111 keeps it (PNG: a
# text chunk; JPEG and WebP: EXIF), which the canvas reads back as well.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
IMAGE_SUFFIXES = tuple(IMAGE_FORMATS)
# "Images (*.png *.jpg *.jpeg *.webp)": a Qt file dialog's filter.
IMAGE_FILE_FILTER = f"Images ({' '.join('*' + suffix for suffix in IMAGE_SUFFIXES)})"


def suffix_list() -> str:
    """The suffixes for a sentence: ".png, .jpg, .jpeg or .webp"."""
    return f"{', '.join(IMAGE_SUFFIXES[:-1])} or {IMAGE_SUFFIXES[-1]}"


def pillow_format(path: str | PurePath) -> str | None:
    """The Pillow format a file name's suffix asks for, None for any other."""
    return IMAGE_FORMATS.get(PurePath(path).suffix.lower())

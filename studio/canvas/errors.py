"""Errors the canvas raises: each message is a sentence a user can act on."""

from __future__ import annotations


class CanvasError(Exception):
    """Something the user asked of the canvas could not be done."""


class ImageFileError(CanvasError):
    """An image file could not be opened or written."""


class ProjectError(CanvasError):
    """A canvas project file could not be opened or saved."""

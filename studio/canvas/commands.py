"""Undo commands. Each one is a single user action: a stroke, a mask fill, an
opened image. Pixel edits store only the rectangles they changed; only a
change of document size stores whole layers (as cheap shallow QImage copies)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PySide6.QtGui import QImage, QUndoCommand

from .layers import LayerName
from .strokes import TilePatch


@dataclass(frozen=True)
class LayerPatch:
    layer: LayerName
    patch: TilePatch


@dataclass(frozen=True)
class DocumentState:
    """The whole document at one moment; QImage copies share pixels until written."""

    width: int
    height: int
    layers: dict[LayerName, QImage]


class EditableDocument(Protocol):
    """What the commands need of a CanvasDocument: writes that are not undo
    steps themselves, because a command is the undo step."""

    def write_pixels(self, name: LayerName, left: int, top: int, values: np.ndarray) -> None: ...

    def restore_state(self, state: DocumentState) -> None: ...

    def set_visible(self, name: str | LayerName, visible: bool) -> None: ...

    def announce_layers(self, names: Iterable[LayerName]) -> None: ...


class PatchCommand(QUndoCommand):
    """Replaces rectangles of pixels in one or more layers."""

    def __init__(
        self,
        document: EditableDocument,
        text: str,
        patches: list[LayerPatch],
        *,
        already_applied: bool = False,
    ) -> None:
        super().__init__(text)
        self._document = document
        self._patches = patches
        # A stroke is painted live, so pushing it must not paint it again.
        self._skip_redo = already_applied

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            self._document.announce_layers({p.layer for p in self._patches})
            return
        for item in self._patches:
            patch = item.patch
            self._document.write_pixels(item.layer, patch.left, patch.top, patch.after)
        self._document.announce_layers({p.layer for p in self._patches})

    def undo(self) -> None:
        for item in reversed(self._patches):
            patch = item.patch
            self._document.write_pixels(item.layer, patch.left, patch.top, patch.before)
        self._document.announce_layers({p.layer for p in self._patches})


class StateCommand(QUndoCommand):
    """Swaps the whole document (size and every layer) between two states."""

    def __init__(
        self, document: EditableDocument, text: str, before: DocumentState, after: DocumentState
    ) -> None:
        super().__init__(text)
        self._document = document
        self._before = before
        self._after = after

    def redo(self) -> None:
        self._document.restore_state(self._after)

    def undo(self) -> None:
        self._document.restore_state(self._before)


class VisibilityCommand(QUndoCommand):
    """Shows or hides a layer as part of an action, so undoing the action
    shows the layer again (hiding the sketch that went into a result)."""

    def __init__(self, document: EditableDocument, name: LayerName, visible: bool) -> None:
        super().__init__(f"{'Show' if visible else 'Hide'} {name.value}")
        self._document = document
        self._name = name
        self._visible = visible

    def redo(self) -> None:
        self._document.set_visible(self._name, self._visible)

    def undo(self) -> None:
        self._document.set_visible(self._name, not self._visible)

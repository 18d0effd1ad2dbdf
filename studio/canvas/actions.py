"""The canvas's actions, with their shortcuts: tools, brush size, undo, zoom,
mask and layer operations. The window may put the same QAction objects in
its menus; their shortcuts act while the canvas (or its toolbar) has focus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence

from . import icons
from .document import CanvasDocument
from .layers import LayerName
from .tools import Tool, ToolSettings


class ActionTarget(Protocol):
    """What the actions drive: a CanvasView is one."""

    document: CanvasDocument
    settings: ToolSettings

    def zoom_in(self) -> None: ...

    def zoom_out(self) -> None: ...

    def fit_to_window(self) -> None: ...

    def actual_size(self) -> None: ...

    def copy_to_clipboard(self) -> None: ...

    def paste_from_clipboard(self) -> None: ...

    def addAction(self, action: QAction) -> None: ...


class CanvasActions(QObject):
    """Made by the view it drives (`view.canvas_actions`), which it adds its
    actions to so their shortcuts act while the view has focus."""

    def __init__(self, view: ActionTarget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view = view
        document, settings = view.document, view.settings
        sketch, mask = LayerName.SKETCH, LayerName.MASK

        self.brush = self._tool(
            "Brush", "B", icons.brush_icon(), Tool.BRUSH, sketch, "Paint the sketch"
        )
        self.mask_brush = self._tool(
            "Mask brush",
            "M",
            icons.mask_brush_icon(),
            Tool.BRUSH,
            mask,
            "Paint the area inpainting may change",
        )
        self.eraser = self._tool(
            "Eraser",
            "E",
            icons.eraser_icon(),
            Tool.ERASER,
            None,
            "Erase the sketch or the mask, whichever you last painted",
        )
        self.picker = self._tool(
            "Colour picker",
            "I",
            icons.picker_icon(),
            Tool.PICKER,
            None,
            "Pick the brush colour from the canvas (or Alt+click)",
        )
        self.tools = QActionGroup(self)
        for action in (self.brush, self.mask_brush, self.eraser, self.picker):
            self.tools.addAction(action)

        self.smaller_brush = self._action("Smaller brush", ["["], settings.shrink_size)
        self.larger_brush = self._action("Larger brush", ["]"], settings.grow_size)
        self.undo = self._action(
            "Undo", [QKeySequence.StandardKey.Undo], document.undo, icons.undo_icon()
        )
        self.redo = self._action(
            "Redo",
            [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")],
            document.redo,
            icons.redo_icon(),
        )
        self.zoom_in = self._action("Zoom in", ["Ctrl++", "Ctrl+="], view.zoom_in)
        self.zoom_out = self._action("Zoom out", ["Ctrl+-"], view.zoom_out)
        self.zoom_fit = self._action(
            "Fit to window", ["Ctrl+0"], view.fit_to_window, icons.fit_icon()
        )
        self.zoom_actual = self._action("Actual size (100 %)", ["Ctrl+1"], view.actual_size)
        self.clear_mask = self._action(
            "Clear mask", ["Ctrl+Shift+M"], lambda: document.clear_layer(mask), icons.clear_icon()
        )
        self.fill_mask = self._action("Fill mask", [], document.fill_mask, icons.fill_mask_icon())
        self.invert_mask = self._action(
            "Invert mask", ["Ctrl+Shift+I"], document.invert_mask, icons.invert_mask_icon()
        )
        self.clear_sketch = self._action(
            "Clear sketch",
            ["Ctrl+Shift+Backspace"],
            lambda: document.clear_layer(sketch),
            icons.clear_icon(),
        )
        self.flatten_sketch = self._action(
            "Flatten sketch onto image", [], document.flatten_sketch, icons.flatten_icon()
        )
        self.copy = self._action(
            "Copy image", [QKeySequence.StandardKey.Copy], view.copy_to_clipboard
        )
        self.paste = self._action(
            "Paste image", [QKeySequence.StandardKey.Paste], view.paste_from_clipboard
        )

        document.undo_stack.canUndoChanged.connect(self.undo.setEnabled)
        document.undo_stack.canRedoChanged.connect(self.redo.setEnabled)
        self.undo.setEnabled(document.undo_stack.canUndo())
        self.redo.setEnabled(document.undo_stack.canRedo())
        settings.changed.connect(self._show_tool)
        self._show_tool()

    def all(self) -> list[QAction]:
        return [value for value in vars(self).values() if isinstance(value, QAction)]

    def _tool(
        self, text: str, key: str, icon: QIcon, tool: Tool, target: LayerName | None, tip: str
    ) -> QAction:
        action = self._action(text, [key], lambda: self._view.settings.select(tool, target), icon)
        action.setCheckable(True)
        action.setToolTip(f"{text} ({key}): {tip}")
        return action

    def _action(
        self,
        text: str,
        keys: list[str | QKeySequence | QKeySequence.StandardKey],
        slot: Callable[[], object],
        icon: QIcon | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(icon)
        sequences = [QKeySequence(key) for key in keys]
        action.setShortcuts(sequences)
        # Only while the canvas has focus: Ctrl+Z in a text field undoes text.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        if sequences:
            shown = sequences[0].toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{text} ({shown})")
        action.triggered.connect(lambda _checked=False: slot())
        self._view.addAction(action)
        return action

    def _show_tool(self) -> None:
        settings = self._view.settings
        current = {
            Tool.PICKER: self.picker,
            Tool.ERASER: self.eraser,
            Tool.BRUSH: self.mask_brush if settings.target == LayerName.MASK else self.brush,
        }[settings.tool]
        current.setChecked(True)

"""The active tool and its settings: one small observable object that the
view paints with and the toolbar edits. It knows nothing of widgets."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from .brush import BrushSpec
from .layers import LayerName

MIN_BRUSH_SIZE = 1
MAX_BRUSH_SIZE = 500
SIZE_STEP = 1.2  # `[` and `]` scale the brush by this factor


class Tool(StrEnum):
    BRUSH = "brush"
    ERASER = "eraser"
    PICKER = "picker"


PAINT_TARGETS = (LayerName.SKETCH, LayerName.MASK)


class ToolSettings(QObject):
    """The tool, the layer it paints on (sketch or mask) and the brush.

    Every setter clamps to the valid range and emits its own signal and
    `changed` only when the value really changes."""

    tool_changed = Signal(str)
    target_changed = Signal(str)
    size_changed = Signal(int)
    hardness_changed = Signal(float)
    opacity_changed = Signal(float)
    color_changed = Signal(QColor)
    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tool = Tool.BRUSH
        self._target = LayerName.SKETCH
        self._size = 24
        self._hardness = 0.8
        self._opacity = 1.0
        self._color = QColor(20, 20, 20)
        self.pressure_size = True

    @property
    def tool(self) -> Tool:
        return self._tool

    @tool.setter
    def tool(self, tool: Tool | str) -> None:
        tool = Tool(tool)
        if tool != self._tool:
            self._tool = tool
            self.tool_changed.emit(tool.value)
            self.changed.emit()

    @property
    def target(self) -> LayerName:
        """The layer the brush and the eraser work on."""
        return self._target

    @target.setter
    def target(self, target: LayerName | str) -> None:
        target = LayerName(target)
        if target not in PAINT_TARGETS:
            raise ValueError(f"tools paint on the sketch or the mask, not the {target.value}")
        if target != self._target:
            self._target = target
            self.target_changed.emit(target.value)
            self.changed.emit()

    def select(self, tool: Tool | str, target: LayerName | str | None = None) -> None:
        """Switches tool (and layer, if given) in one go: B, M, E and I do this."""
        if target is not None:
            self.target = target
        self.tool = tool

    @property
    def size(self) -> int:
        """The brush diameter in document pixels."""
        return self._size

    @size.setter
    def size(self, size: float) -> None:
        size = int(min(MAX_BRUSH_SIZE, max(MIN_BRUSH_SIZE, round(size))))
        if size != self._size:
            self._size = size
            self.size_changed.emit(size)
            self.changed.emit()

    def grow_size(self) -> None:
        self.size = max(self._size + 1, self._size * SIZE_STEP)

    def shrink_size(self) -> None:
        self.size = min(self._size - 1, self._size / SIZE_STEP)

    @property
    def hardness(self) -> float:
        return self._hardness

    @hardness.setter
    def hardness(self, hardness: float) -> None:
        hardness = min(1.0, max(0.0, float(hardness)))
        if hardness != self._hardness:
            self._hardness = hardness
            self.hardness_changed.emit(hardness)
            self.changed.emit()

    @property
    def opacity(self) -> float:
        return self._opacity

    @opacity.setter
    def opacity(self, opacity: float) -> None:
        opacity = min(1.0, max(0.0, float(opacity)))
        if opacity != self._opacity:
            self._opacity = opacity
            self.opacity_changed.emit(opacity)
            self.changed.emit()

    @property
    def color(self) -> QColor:
        """The sketch brush colour (the mask always paints in the mask colour)."""
        return QColor(self._color)

    @color.setter
    def color(self, color: QColor) -> None:
        color = QColor(color)
        if not color.isValid():
            raise ValueError("the brush colour is not a valid colour")
        color.setAlpha(255)
        if color != self._color:
            self._color = color
            self.color_changed.emit(QColor(color))
            self.changed.emit()

    def brush_spec(self) -> BrushSpec:
        """The brush the current tool strokes with."""
        return BrushSpec(
            size=self._size,
            hardness=self._hardness,
            opacity=self._opacity,
            color=(self._color.red(), self._color.green(), self._color.blue()),
            erase=self._tool == Tool.ERASER,
            pressure_size=self.pressure_size,
        )

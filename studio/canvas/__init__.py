"""The painting canvas: a document of image, sketch and mask layers, the view
that paints on it, its tools and its toolbar. Knows nothing of diffusion."""

from .brush import BrushSpec
from .document import CanvasDocument, CanvasStroke
from .errors import CanvasError, ImageFileError, ProjectError
from .layers import MASK_COLOR, LayerName
from .sizing import MAX_SIZE, SIZE_MULTIPLE
from .toolbar import CanvasToolBar
from .tools import Tool, ToolSettings
from .view import CanvasView

__all__ = [
    "MASK_COLOR",
    "MAX_SIZE",
    "SIZE_MULTIPLE",
    "BrushSpec",
    "CanvasDocument",
    "CanvasError",
    "CanvasStroke",
    "CanvasToolBar",
    "CanvasView",
    "ImageFileError",
    "LayerName",
    "ProjectError",
    "Tool",
    "ToolSettings",
]

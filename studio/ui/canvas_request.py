"""Turning the canvas into the images a request needs, and results back onto it."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from ..canvas.document import CanvasDocument
from ..engine.catalog import CATALOG, ModelDefaults
from ..engine.request import GenerationRequest, Mode

# A size whose side (the square root of its area) is more than this many times
# the model's native side, or less than its inverse, earns a notice.
FAR_FROM_NATIVE = 2.0


def request_from_canvas(panel: GenerationRequest, document: CanvasDocument) -> GenerationRequest:
    """The panel's settings plus what the mode takes from the canvas: the image
    (with the sketch on it) for img2img and as the ControlNet source, and the
    mask for inpainting. Those modes work at the canvas size."""
    mode = panel.mode
    if mode is Mode.TXT2IMG:
        return panel
    size = {"width": document.width(), "height": document.height()}
    init = document.init_image()
    if mode is Mode.IMG2IMG:
        return panel.replace(init_image=init, **size)
    if mode is Mode.INPAINT:
        # Raw mask: the engine feathers it (mask_blur) so feather is one setting.
        mask = document.mask_image() if document.has_mask() else None
        return panel.replace(init_image=init, mask_image=mask, **size)
    return panel.replace(control_image=init, **size)


def split_into_jobs(request: GenerationRequest) -> list[GenerationRequest]:
    """One job per image, so each image shows up (and can be kept) as soon as it
    is done, and a batch can stop after any image. A set seed counts up; a random
    one stays random per image (so the result cache never serves it)."""
    count = request.batch_count
    if request.seed is None:
        return [request.replace(batch_count=1) for _ in range(count)]
    return [request.replace(batch_count=1, seed=request.seed + i) for i in range(count)]


def place_on_canvas(document: CanvasDocument, image: Image.Image, mode: Mode) -> None:
    """Puts a result on the image layer, as one undoable step: undoing it also
    shows the sketch again if placing it hid the sketch."""
    with document.single_step("Place result"):
        if image.size == (document.width(), document.height()):
            document.place_result(image)
        else:
            document.set_image(image, fit="canvas")
        if mode in (Mode.IMG2IMG, Mode.CONTROLNET_CANNY) and document.layer_has_content("sketch"):
            # The sketch went into the result; left visible it would hide it.
            document.set_visible("sketch", False, undoable=True)


def model_name(spec: str) -> str:
    """What a user calls the model: its catalog name, or its folder or file name."""
    return spec if spec in CATALOG else Path(spec).name


def native_size_notice(request: GenerationRequest, native: ModelDefaults | None) -> str | None:
    """A sentence when the request's size is far from the size the model was
    trained at (slow, and pictures it never learned); None when it is close."""
    if native is None or request.width is None or request.height is None:
        return None
    width, height = request.width, request.height
    area_ratio = (width * height) / (native.width * native.height)
    if 1 / FAR_FROM_NATIVE <= math.sqrt(area_ratio) <= FAR_FROM_NATIVE:
        return None
    name, size = model_name(request.model), f"{native.width}×{native.height}"
    where = "the Size fields" if request.mode is Mode.TXT2IMG else "File → New canvas"
    if area_ratio > 1:
        effect = (
            f"{width}×{height} is {area_ratio:.0f}× its pixels: much slower, and a picture "
            "it never learned to draw"
        )
    else:
        effect = f"{width}×{height} gives it too few pixels to draw with"
    return f"{name} was trained at {size}; {effect}. For its best results use {size} ({where})."

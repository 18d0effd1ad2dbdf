"""Turning the canvas into the images a request needs, and results back onto it."""

from __future__ import annotations

from PIL import Image

from ..canvas.document import CanvasDocument
from ..engine.request import GenerationRequest, Mode


def request_from_canvas(fields: GenerationRequest, document: CanvasDocument) -> GenerationRequest:
    """The panel's settings plus what the mode takes from the canvas: the image
    (with the sketch on it) for img2img and as the ControlNet source, and the
    mask for inpainting. Those modes work at the canvas size."""
    mode = Mode(fields.mode)
    if mode is Mode.TXT2IMG:
        return fields
    size = {"width": document.width(), "height": document.height()}
    init = document.init_image()
    if mode is Mode.IMG2IMG:
        return fields.replace(init_image=init, **size)
    if mode is Mode.INPAINT:
        # Raw mask: the engine feathers it (mask_blur) so feather is one setting.
        mask = document.mask_image() if document.has_mask() else None
        return fields.replace(init_image=init, mask_image=mask, **size)
    return fields.replace(control_image=init, **size)


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

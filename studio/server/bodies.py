"""From an API body to an engine request, and from results to the answer: a
PNG with its parameters in headers, or JSON with base64 PNGs."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from fastapi.responses import JSONResponse, Response
from PIL import Image, UnidentifiedImageError
from starlette.requests import Request

from ..engine.pngfile import png_bytes
from ..engine.request import FIELDS, MAX_SIDE, GenerationRequest, GenerationResult, LoraSpec
from ..engine.watermark import Watermark
from .errors import ApiError
from .limits import (
    MAX_IMAGE_FIELD,
    MAX_IMAGE_FILE,
    MAX_IMAGES_PER_REQUEST,
    MAX_INPUT_PIXELS,
    size_text,
)
from .schemas import ImageOut, ImageRequest, ImageResponse


def prompts_of(body: ImageRequest) -> list[str]:
    """The request's prompts; 413 when they make more images than one request may."""
    prompts = [body.prompt, *(body.prompts or [])]
    count = len(prompts) * body.batch_count
    if count > MAX_IMAGES_PER_REQUEST:
        raise ApiError(
            413,
            f"{len(prompts)} prompts × batch_count {body.batch_count} make {count} images; one "
            f"request makes at most {MAX_IMAGES_PER_REQUEST}. Split them over several requests.",
        )
    return prompts


def decode_image(data: str | None, what: str) -> Image.Image | None:
    if data is None:
        return None
    if len(data) > MAX_IMAGE_FIELD:
        raise ApiError(413, f"The {what} is too large; send at most {size_text(MAX_IMAGE_FILE)}.")
    if data.startswith("data:"):  # a data: URL from a browser
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"The {what} is not valid base64.") from None
    readable = "Send a PNG, JPEG or WebP file, base64-encoded."
    try:
        with Image.open(io.BytesIO(raw)) as image:  # reads the header only
            width, height = image.size
            if width * height > MAX_INPUT_PIXELS:
                raise ApiError(413, _too_many_pixels(what, f"is {width}×{height}"))
            image.load()
            return image.copy()
    except Image.DecompressionBombError:  # Pillow's own, larger limit, checked in open()
        raise ApiError(
            413, _too_many_pixels(what, f"has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels")
        ) from None
    except UnidentifiedImageError:  # its message names an in-memory file object
        raise ApiError(
            400, f"The {what} is not an image this server can read. {readable}"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged inside
        raise ApiError(
            400, f"The {what} could not be decoded ({_reason(exc)}). {readable}"
        ) from None


def _too_many_pixels(what: str, size: str) -> str:
    return (
        f"The {what} {size}; this server takes images of at most {MAX_INPUT_PIXELS:,} pixels "
        f"({MAX_SIDE}×{MAX_SIDE}, the largest it makes). Scale it down and send it again."
    )


def _reason(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[:200]


def request_from_body(body: ImageRequest, default_model: str) -> GenerationRequest:
    """The engine request an API body describes (images decoded, not yet validated)."""
    values: dict[str, Any] = {}
    for f in FIELDS:
        if f.api is None:
            continue
        value = getattr(body, f.api)
        if f.kind is Image.Image:
            value = decode_image(value, f.api)
        elif f.kind is Watermark:
            value = None if value is None else Watermark.from_dict(value.model_dump())
        elif f.name == "loras":
            value = tuple(LoraSpec(lora.path, lora.weight) for lora in value)
        elif f.spec.random_alias is not None and value == f.spec.random_alias:
            value = None
        values[f.name] = value
    values["model"] = values["model"] or default_model
    return GenerationRequest(**values)


def wants_json(body: ImageRequest, request: Request, count: int) -> bool:
    if body.response_format == "png" and count > 1:
        raise ApiError(
            400,
            f"This request makes {count} images and a PNG holds one; "
            'ask for "response_format": "json".',
        )
    if body.response_format != "auto":
        return body.response_format == "json"
    accept = request.headers.get("accept", "")
    return count > 1 or ("application/json" in accept and "image/png" not in accept)


def _parameters(result: GenerationResult) -> dict[str, Any]:
    r = result.request
    return {
        "model": r.model,
        "mode": str(r.mode),
        "prompts": list(r.prompts),
        "negative_prompt": r.negative_prompt,
        "num_inference_steps": r.steps,
        "guidance_scale": r.guidance_scale,
        "scheduler": r.scheduler,
        "width": r.width,
        "height": r.height,
        "seed": r.seed,
        "strength": r.strength,
        "batch_count": r.batch_count,
        "watermark": r.watermark.to_dict() if r.watermark else None,
    }


def image_response(results: list[GenerationResult], as_json: bool) -> Response:
    images = [
        (image, seed, text)
        for result in results
        for image, seed, text in zip(result.images, result.seeds, result.infotexts, strict=True)
    ]
    first = results[0]
    cached = all(result.cached for result in results)
    elapsed = round(sum(result.elapsed_s for result in results), 4)
    if not as_json:
        image, seed, text = images[0]
        headers = {
            "X-Seed": str(seed),
            "X-Cached": "true" if cached else "false",
            "X-Elapsed-S": str(elapsed),
            "X-Model": first.model_label.encode("ascii", "replace").decode(),
        }
        return Response(png_bytes(image, text), media_type="image/png", headers=headers)
    notices = list(dict.fromkeys(n for result in results for n in result.notices))
    payload = ImageResponse(
        images=[
            ImageOut(
                seed=seed,
                png_base64=base64.b64encode(png_bytes(image, text)).decode("ascii"),
                parameters=text,
            )
            for image, seed, text in images
        ],
        model=first.model_label,
        cached=cached,
        elapsed_s=elapsed,
        notices=notices,
        parameters=_parameters(first),
    )
    return JSONResponse(payload.model_dump())

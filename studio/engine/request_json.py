"""A request as the JSON body of the HTTP API (POST /generate/image, /jobs),
derived from the fields' declarations: the inverse of the server's
bodies.request_from_body, for a client of a server elsewhere (studio.remote).

Images travel as base64 PNG (lossless, so the server sees the pixels given
here); enums as their values; None stays null (the model's default, a random
seed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from .request import FIELDS, GenerationRequest
from .request_fields import RequestField
from .watermark import Watermark


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def json_value(f: RequestField, value: Any) -> Any:
    """One field's value as the API's JSON carries it."""
    if value is None:
        return None
    if f.kind is Image.Image:
        return png_base64(value)
    if f.kind is Watermark:
        return value.to_dict()
    if f.name == "loras":
        return [{"path": lora.path, "weight": lora.weight} for lora in value]
    if f.is_enum:
        return value.value
    return value


def request_body(request: GenerationRequest, more_prompts: Sequence[str] = ()) -> dict[str, Any]:
    """The body of POST /jobs for `request`; `more_prompts` go into "prompts", a
    batch with the same settings that the server plans as it would its own."""
    body = {f.api: json_value(f, getattr(request, f.name)) for f in FIELDS if f.api is not None}
    if more_prompts:
        body["prompts"] = list(more_prompts)
    return body

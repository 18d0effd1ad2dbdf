"""What the HTTP API accepts and answers, as pydantic models (and so the
OpenAPI page). ImageRequest is derived from the request's field declarations.
Types are checked here; ranges and combinations are checked by the engine's own
validation, so the API and the CLI say the same sentences."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..engine.request import FIELDS
from ..engine.request_fields import RequestField
from ..engine.watermark import Watermark
from .option_models import model_of


class _Strict(BaseModel):
    # JSON types as sent ("5" is not a number); unknown fields are mistakes.
    model_config = ConfigDict(extra="forbid", strict=True)


# The JSON of a watermark: Watermark's own fields, each as the engine declares it.
WatermarkIn = model_of(Watermark, "WatermarkIn", base=_Strict)


class LoraIn(_Strict):
    path: str = Field(description="a .safetensors LoRA file on the server's machine")
    weight: float = 1.0


def _field(f: RequestField) -> tuple[Any, Any]:
    """The JSON type and pydantic Field of a request field. Ranges go into the
    OpenAPI page only: the engine refuses out-of-range values with its sentence."""
    description = f.spec.api_help or f.spec.help
    default = f.default
    if f.is_enum:
        kind: Any = Literal[f.choices]
        default = default.value
    elif f.kind is Image.Image:
        kind = str
    elif f.kind is Watermark:
        kind = WatermarkIn
    elif f.name == "loras":
        return list[LoraIn], Field(default_factory=list, description=description)
    else:
        kind = f.kind
    if f.optional or f.name == "model":  # model null: the server's default
        kind, default = kind | None, None
    if default is dataclasses.MISSING:
        default = ...
    schema = {}
    if f.spec.low is not None and f.spec.random_alias is None:
        schema = {"minimum": f.spec.low, "maximum": f.spec.high}
    return kind, Field(default, description=description, json_schema_extra=schema or None)


ImageRequest = create_model(
    "ImageRequest",
    __base__=_Strict,
    __doc__="Seed 000's fields, plus this app's modes and services.",
    **{f.api: _field(f) for f in FIELDS if f.api is not None},
    # Not request fields: a batch of prompts becomes several jobs; the answer's format.
    prompts=(
        list[str] | None,
        Field(
            None,
            description="a batch: more prompts with the same settings (prompt comes first); "
            "they share pipeline calls as memory allows",
        ),
    ),
    response_format=(
        Literal["auto", "png", "json"],
        Field(
            "auto",
            description="auto: a PNG for one image unless Accept asks for JSON; "
            "JSON (base64 PNGs) for more",
        ),
    ),
)


class ImageOut(BaseModel):
    seed: int
    png_base64: str
    parameters: str = Field(description="the A1111-style parameters text stored in the PNG")


class ImageResponse(BaseModel):
    images: list[ImageOut]
    model: str
    cached: bool = Field(description="every image came from the result cache")
    elapsed_s: float
    notices: list[str]
    parameters: dict[str, object] = Field(description="the settings used, defaults filled in")


class TextRequest(_Strict):
    prompt: str
    model: str | None = Field(None, description="null: mercury-2")
    max_tokens: int = 1000
    temperature: float = 0.7
    system: str | None = Field(None, description="an optional system message")


class TextResponse(BaseModel):
    text: str
    model: str
    finish_reason: str | None
    elapsed_s: float


class ErrorResponse(BaseModel):
    error: str = Field(description="what went wrong and what to do, in a sentence")

"""What the HTTP API accepts and answers, as pydantic models (and so the
OpenAPI page). Types are checked here; ranges and combinations are checked by
the engine's own validation, so the API and the CLI say the same sentences."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    # JSON types as sent ("5" is not a number); unknown fields are mistakes.
    model_config = ConfigDict(extra="forbid", strict=True)


class WatermarkIn(_Strict):
    text: str = Field(description="the text to draw")
    position: Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"] = (
        "bottom-right"
    )
    opacity: float = Field(0.7, description="0 (invisible) to 1 (solid)")
    font_size: int | None = Field(None, description="pixels; null: from the image size")
    color: str | list[int] = Field("white", description="a name, '#rrggbb', or [r, g, b]")
    margin: int = Field(10, description="pixels between the text and the edges")


class LoraIn(_Strict):
    path: str = Field(description="a .safetensors LoRA file on the server's machine")
    weight: float = 1.0


class ImageRequest(_Strict):
    """Seed 000's fields, plus this app's modes and services."""

    prompt: str = Field(description="what to draw")
    negative_prompt: str = ""
    model: str | None = Field(
        None,
        description="what `studio generate --model` takes: a catalog name (sd15, sd21, sdxl, "
        "sd-turbo, ..., tiny-random), a diffusers folder, a .safetensors file or a cached hub "
        "id; null: the server's default",
    )
    num_inference_steps: int | None = Field(None, description="null: the model's default")
    guidance_scale: float | None = Field(None, description="null: the model's default")
    width: int | None = Field(None, description="pixels, rounded to a multiple of 8")
    height: int | None = None
    seed: int | None = Field(None, description="null or -1: random (reported back)")
    mode: Literal["txt2img", "img2img", "inpaint", "controlnet-canny"] = "txt2img"
    scheduler: str | None = Field(None, description="euler, euler-a, dpm++2m, ...")
    strength: float = Field(0.75, description="img2img / inpaint: how much changes")
    batch_count: int = Field(1, description="images per prompt")
    prompts: list[str] | None = Field(
        None,
        description="a batch: more prompts with the same settings (prompt comes first); "
        "they share pipeline calls as memory allows",
    )
    init_image: str | None = Field(None, description="base64 PNG/JPEG (img2img, inpaint)")
    mask_image: str | None = Field(None, description="base64; white = change (inpaint)")
    control_image: str | None = Field(None, description="base64 (controlnet-canny)")
    control_is_edges: bool = False
    controlnet: str | None = None
    controlnet_scale: float = 1.0
    canny_low: int = 100
    canny_high: int = 200
    mask_blur: int = 4
    inpaint_area: Literal["whole", "masked"] = "whole"
    inpaint_padding: int = 32
    loras: list[LoraIn] = Field(default_factory=list)
    watermark: WatermarkIn | None = Field(
        None, description="null: the server's watermark setting (usually none)"
    )
    force_regenerate: bool = Field(False, description="skip the result cache")
    response_format: Literal["auto", "png", "json"] = Field(
        "auto",
        description="auto: a PNG for one image unless Accept asks for JSON; "
        "JSON (base64 PNGs) for more",
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

"""The HTTP API (FastAPI): seed 000's endpoints over the engine and Mercury.

    POST /generate/image   a PNG, or JSON with base64 PNGs and the parameters
    POST /generate/text    an answer from Mercury (or any OpenAI-compatible server)
    GET  /health           liveness and the queue
    GET  /models           the image model catalog and the text model default
    GET  /docs             the OpenAPI page

Errors are JSON `{"error": "<a sentence>"}` with a 4xx/5xx status; the
sentences are the engine's, as the CLI prints them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import ipaddress
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from PIL import Image, UnidentifiedImageError
from starlette.exceptions import HTTPException

from .. import __version__
from ..engine.errors import EngineError, JobCancelled, ModelNotFoundError, RequestError
from ..engine.models import (
    CATALOG,
    DEFAULT_IMAGE_MODEL,
    Kind,
    catalog_status,
    resolve_model,
)
from ..engine.pngfile import png_bytes
from ..engine.request import GenerationRequest, GenerationResult, LoraSpec
from ..engine.watermark import Watermark
from ..mercury.settings import DEFAULT_MODEL, FALLBACK_MODELS
from .engine_link import EngineLink, JobFailedError
from .errors import ApiError
from .schemas import (
    ErrorResponse,
    ImageOut,
    ImageRequest,
    ImageResponse,
    TextRequest,
    TextResponse,
)
from .text import TextService

MAX_IMAGE_FIELD = 40 * 2**20  # base64 characters of one input image
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
# Module level: FastAPI reads the dependency from the (string) annotation.
BEARER = HTTPBearer(auto_error=False, description="the token given to `studio serve`")


@dataclass(frozen=True)
class ApiConfig:
    default_model: str = DEFAULT_IMAGE_MODEL
    token: str | None = None
    loopback_only: bool = True  # refuse Host headers other than this machine's names


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _is_loopback_host(host_header: str) -> bool:
    host = host_header.strip()
    if host.startswith("["):  # [::1]:8080
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validation_sentence(exc: RequestValidationError) -> tuple[int, str]:
    first = exc.errors()[0]
    kind = first.get("type", "")
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(where)
    if kind == "json_invalid":
        return 400, "The request body is not valid JSON."
    if kind == "extra_forbidden":
        return 422, f"Unknown field {field!r}; the fields are listed at /docs."
    if kind == "missing":
        return 422, f"The field {field!r} is required."
    if not field:
        return 422, "The request body must be a JSON object; the fields are listed at /docs."
    message = str(first.get("msg", "is not valid")).rstrip(".")
    return 422, f"The field {field!r} is not valid: {message[0].lower()}{message[1:]}."


def _decode_image(data: str | None, what: str) -> Image.Image | None:
    if data is None:
        return None
    if len(data) > MAX_IMAGE_FIELD:
        raise ApiError(413, f"The {what} is too large; send at most 30 MB.")
    if data.startswith("data:"):  # a data: URL from a browser
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            return image.copy()
    except (binascii.Error, ValueError):
        raise ApiError(400, f"The {what} is not valid base64.") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ApiError(
            400, f"The {what} is not an image this server can read (PNG, JPEG, WebP): {exc}."
        ) from None


def _watermark(body: ImageRequest) -> Watermark | None:
    if body.watermark is None:
        return None
    return Watermark.from_dict(body.watermark.model_dump())


def request_from_body(body: ImageRequest, config: ApiConfig) -> GenerationRequest:
    """The engine request an API body describes (images decoded, not yet validated)."""
    return GenerationRequest(
        prompt=body.prompt,
        mode=body.mode,
        negative_prompt=body.negative_prompt,
        model=body.model or config.default_model,
        controlnet=body.controlnet,
        scheduler=body.scheduler,
        steps=body.num_inference_steps,
        guidance_scale=body.guidance_scale,
        strength=body.strength,
        width=body.width,
        height=body.height,
        seed=None if body.seed in (None, -1) else body.seed,
        batch_count=body.batch_count,
        init_image=_decode_image(body.init_image, "init_image"),
        mask_image=_decode_image(body.mask_image, "mask_image"),
        control_image=_decode_image(body.control_image, "control_image"),
        control_is_edges=body.control_is_edges,
        canny_low=body.canny_low,
        canny_high=body.canny_high,
        controlnet_scale=body.controlnet_scale,
        inpaint_context=body.inpaint_area,
        inpaint_padding=body.inpaint_padding,
        mask_blur=body.mask_blur,
        loras=tuple(LoraSpec(lora.path, lora.weight) for lora in body.loras),
        watermark=_watermark(body),
        force_regenerate=body.force_regenerate,
    )


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


def _wants_json(body: ImageRequest, request: Request, count: int) -> bool:
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


def create_app(link: EngineLink, text: TextService, config: ApiConfig | None = None) -> FastAPI:
    config = config or ApiConfig()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await text.aclose()  # the HTTP clients belong to this loop

    app = FastAPI(
        lifespan=lifespan,
        title="Diffusion Studio API",
        version=__version__,
        description="Image generation on this machine and text from Mercury. "
        "Send `Authorization: Bearer <token>` when the server was started with a token.",
        responses={
            400: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
        },
    )

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        if config.token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), config.token.encode()):
            what = "The token is wrong" if given else "This server needs a token"
            raise ApiError(401, f"{what}: send the header 'Authorization: Bearer <token>'.")

    guarded = [Depends(require_token)]

    @app.middleware("http")
    async def check_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A web page the user visits could reach 127.0.0.1 through a DNS name of its
        # own (DNS rebinding) or a form post; neither gets past these two checks.
        if config.loopback_only and not _is_loopback_host(request.headers.get("host", "")):
            return _error(400, "This server answers only requests addressed to this machine.")
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and not content_type.startswith("application/json"):
            return _error(415, "Send the request body as JSON (Content-Type: application/json).")
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
        return _error(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*_validation_sentence(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"There is no {request.method} {request.url.path} here; see /docs."
        elif exc.status_code == 405:
            message = f"{request.url.path} does not take {request.method}; see /docs."
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.get("/health", summary="Liveness, version and the queue")
    async def health() -> dict[str, Any]:
        queue = link.queue
        return {
            "status": "ok",
            "version": __version__,
            "running_job": queue.running_id,
            "waiting_jobs": len(queue.pending()),
        }

    @app.get("/models", summary="Image models and the text model", dependencies=guarded)
    async def models() -> dict[str, Any]:
        def image_models() -> list[dict[str, Any]]:
            return [
                {
                    "name": entry.name,
                    "title": entry.title,
                    "architecture": entry.architecture.value,
                    "status": catalog_status(entry),
                    "hub_id": entry.hub_id or None,
                    "default_steps": entry.defaults.steps,
                    "default_size": [entry.defaults.width, entry.defaults.height],
                }
                for entry in CATALOG.values()
                if entry.kind is Kind.PIPELINE
            ]

        return {
            "image": await asyncio.to_thread(image_models),
            "default_image_model": config.default_model,
            "text": {"default": DEFAULT_MODEL, "known": list(FALLBACK_MODELS)},
            "note": "model also takes a diffusers folder, a .safetensors file or a cached hub id.",
        }

    @app.post(
        "/generate/image",
        summary="Generate images (txt2img, img2img, inpaint, ControlNet canny, batches)",
        dependencies=guarded,
        response_model=ImageResponse,
        responses={200: {"content": {"image/png": {}}}},
    )
    async def generate_image(body: ImageRequest, request: Request) -> Response:
        job = await asyncio.to_thread(request_from_body, body, config)
        prompts = [body.prompt, *(body.prompts or [])]
        wants_json = _wants_json(body, request, len(prompts) * body.batch_count)
        job.validated()  # a bad request is a 4xx now, before it waits in the queue
        options = link.queue.options
        await asyncio.to_thread(
            resolve_model,
            job.model,
            allow_pickle=options.allow_pickle,
            model_dirs=options.model_dirs,
            models_root=options.models_root,
        )
        try:
            if len(prompts) == 1:
                results = [await link.run(job)]
            else:
                results = await link.run_batch(job, prompts)
        except JobFailedError as exc:
            status = 400 if isinstance(exc.cause, RequestError) else 500
            raise ApiError(status, str(exc)) from None
        except JobCancelled:
            raise ApiError(
                503, "The job was cancelled (the engine stopped, or it was cancelled in the app)."
            ) from None
        return await asyncio.to_thread(_image_response, results, wants_json)

    @app.post(
        "/generate/text",
        summary="Generate text with Mercury (or the configured OpenAI-compatible server)",
        dependencies=guarded,
        response_model=TextResponse,
    )
    async def generate_text(body: TextRequest) -> TextResponse:
        started = time.perf_counter()
        answer = await text.complete(body)
        return TextResponse(
            text=answer.text,
            model=answer.model,
            finish_reason=answer.finish_reason,
            elapsed_s=round(time.perf_counter() - started, 4),
        )

    @app.exception_handler(EngineError)
    async def engine_error(_request: Request, exc: EngineError) -> JSONResponse:
        # Raised before queueing: validation, a refusal, a model that is not here.
        return _error(404 if isinstance(exc, ModelNotFoundError) else 400, str(exc))

    return app


def _image_response(results: list[GenerationResult], wants_json: bool) -> Response:
    images = [
        (image, seed, text)
        for result in results
        for image, seed, text in zip(result.images, result.seeds, result.infotexts, strict=True)
    ]
    first = results[0]
    cached = all(result.cached for result in results)
    elapsed = round(sum(result.elapsed_s for result in results), 4)
    if not wants_json:
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

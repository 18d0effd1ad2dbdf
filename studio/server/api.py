"""The HTTP API (FastAPI): seed 000's endpoints over the engine and Mercury.

    POST /generate/image   a PNG, or JSON with base64 PNGs and the parameters
    POST /generate/text    an answer from Mercury (or any OpenAI-compatible server)
    GET  /health           liveness, the device and the queue
    GET  /models           the image model catalog and the text model default
    /jobs                  the same generation as a job to follow and cancel (jobs_api.py)
    GET  /docs             the OpenAPI page

Errors are JSON `{"error": "<a sentence>"}` with a 4xx/5xx status (errors.py);
the sentences are the engine's, as the CLI prints them. Bodies are checked
against limits.py before they are parsed (body_allowance.py), and a request
whose client disconnects stops waiting and cancels its jobs (disconnect.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from .. import __version__
from ..engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL, Kind
from ..engine.errors import EngineError, JobCancelledError
from ..engine.resolve import catalog_status
from ..mercury.settings import DEFAULT_MODEL, FALLBACK_MODELS
from .bodies import image_response, prompts_of, request_from_body, wants_json
from .body_allowance import BodyAllowance
from .disconnect import ClientGone, unless_disconnected
from .engine_link import EngineLink, JobFailedError, QueueFullError, ServerStoppingError
from .errors import ApiError, status_for
from .health import device_words
from .jobs_api import jobs_router
from .limits import (
    IMAGE_PATH,
    QUEUE_RETRY_AFTER_S,
    JobLimits,
    too_large_sentence,
)
from .schemas import (
    ErrorResponse,
    ImageRequest,
    ImageResponse,
    TextRequest,
    TextResponse,
)
from .text import TextService

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
CLIENT_CLOSED = 499  # nginx's status for a client that left; nobody receives it
# Module level: FastAPI reads the dependency from the (string) annotation.
BEARER = HTTPBearer(auto_error=False, description="the token given to `studio serve`")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiConfig:
    default_model: str = DEFAULT_IMAGE_MODEL
    token: str | None = None
    loopback_only: bool = True  # refuse Host headers other than this machine's names
    jobs: JobLimits = field(default_factory=JobLimits)


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
    if kind == "missing" and not field:
        return 422, 'The request body is empty; send a JSON object such as {"prompt": "..."}.'
    if kind == "missing":
        return 422, f"The field {field!r} is required."
    if not field:
        return 422, "The request body must be a JSON object; the fields are listed at /docs."
    message = str(first.get("msg", "is not valid")).rstrip(".")
    return 422, f"The field {field!r} is not valid: {message[0].lower()}{message[1:]}."


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
            413: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
            503: {"model": ErrorResponse},
        },
    )
    # Inside check_request (added later, so outside it): a bad Host is refused unread.
    app.add_middleware(BodyAllowance)

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
        elif exc.status_code == 413:  # BodyAllowance, while the body arrived
            message = too_large_sentence(request.url.path)
        elif exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, cut off)
            message = "The request body could not be read; send JSON in UTF-8."
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.get("/health", summary="Liveness, version, the device and the queue")
    async def health() -> dict[str, Any]:
        queue = link.queue
        return {
            "status": "ok",
            "version": __version__,
            "device": await asyncio.to_thread(device_words, queue.started_store),
            "running_job": queue.running_id,
            "waiting_jobs": len(queue.pending()),
            "max_waiting_jobs": link.max_waiting,
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
        IMAGE_PATH,
        summary="Generate images (txt2img, img2img, inpaint, ControlNet canny, batches)",
        dependencies=guarded,
        response_model=ImageResponse,
        responses={200: {"content": {"image/png": {}}}},
    )
    async def generate_image(body: ImageRequest, request: Request) -> Response:
        try:
            return await unless_disconnected(request, make_images(body, request))
        except ClientGone:
            log.info("a client went away before its images were ready; its jobs were cancelled")
            return Response(status_code=CLIENT_CLOSED)

    async def make_images(body: ImageRequest, request: Request) -> Response:
        prompts = prompts_of(body)
        as_json = wants_json(body, request, len(prompts) * body.batch_count)
        try:
            # A full or stopping server says so before any work: decoding the
            # images, validating, looking for the model. run_all asks again.
            link.admit()
            job = await asyncio.to_thread(request_from_body, body, config.default_model)
            results = await link.run_all(await link.prepare(job, prompts))
        except JobFailedError as exc:
            raise ApiError(status_for(exc.cause), str(exc)) from None
        except QueueFullError as exc:
            raise ApiError(503, str(exc), {"Retry-After": str(QUEUE_RETRY_AFTER_S)}) from None
        except ServerStoppingError as exc:
            raise ApiError(503, f"{exc} Send it again once the server is back.") from None
        except JobCancelledError:
            raise ApiError(
                503, "The job was cancelled (the engine stopped, or it was cancelled in the app)."
            ) from None
        return await asyncio.to_thread(image_response, results, as_json)

    @app.post(
        "/generate/text",
        summary="Generate text with Mercury (or the configured OpenAI-compatible server)",
        dependencies=guarded,
        response_model=TextResponse,
    )
    async def generate_text(body: TextRequest, request: Request) -> Response | TextResponse:
        try:
            return await unless_disconnected(request, answer_text(body))
        except ClientGone:  # the upstream stream is closed with the cancelled task
            return Response(status_code=CLIENT_CLOSED)

    async def answer_text(body: TextRequest) -> TextResponse:
        started = time.perf_counter()
        answer = await text.complete(body)
        return TextResponse(
            text=answer.text,
            model=answer.model,
            finish_reason=answer.finish_reason,
            elapsed_s=round(time.perf_counter() - started, 4),
        )

    app.include_router(jobs_router(link, config.default_model, config.jobs, guarded))

    @app.exception_handler(EngineError)
    async def engine_error(_request: Request, exc: EngineError) -> JSONResponse:
        # Raised before queueing: validation, a refusal, a model that is not here.
        return _error(status_for(exc), str(exc))

    return app

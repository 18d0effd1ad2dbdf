"""The one error type of the HTTP layer (a status and a sentence), and the
status each engine failure gets: 4xx where a different request would succeed,
5xx where this server cannot help now. A 500 is left for our own bugs."""

from __future__ import annotations

from ..engine.errors import (
    EngineError,
    EngineStartError,
    ModelLoadError,
    ModelNotFoundError,
    OutOfMemoryError,
    RequestError,
    RequestTooLargeError,
    UnsafeModelError,
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


# Most specific first: RequestTooLargeError is a RequestError.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (RequestTooLargeError, 413),
    (RequestError, 400),  # the engine's checks, a strict-filter refusal, a LoRA that does not fit
    (ModelNotFoundError, 404),
    (UnsafeModelError, 403),  # a pickle checkpoint this server does not allow
    (ModelLoadError, 422),  # the named model is there but damaged or of the wrong kind
    (OutOfMemoryError, 503),
    (EngineStartError, 503),
    # Any other sentence of the engine: the request ran into something it cannot do
    # here (an inpainting model in another mode, a ControlNet the model lacks).
    (EngineError, 422),
)


def status_for(error: BaseException | None) -> int:
    """The HTTP status of an engine failure; 500 only for an unexpected one (a bug)."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500

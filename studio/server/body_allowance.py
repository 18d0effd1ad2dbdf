"""`BodyAllowance`: a request body is read only as far as its fields allow.

Every endpoint takes at most MAX_TEXT_BODY of text; /generate/image (and POST
/jobs, which takes the same body) takes one image's worth more for each image
field the body has named so far. A JSON key
comes before its value, so an image's allowance always arrives before the
image, and a 10 MB prompt is refused after about 1 MB, unparsed. A body whose
Content-Length already says more than the endpoint could take is refused
before a byte of it is read. Refusals are 413 with a JSON sentence (FastAPI's
own max_body_size answers in plain text, so it is not used).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .limits import (
    IMAGE_BODY_PATHS,
    IMAGE_FIELD_WIRE_BYTES,
    IMAGE_FIELDS,
    MAX_IMAGE_BODY,
    MAX_TEXT_BODY,
    too_large_sentence,
)

_IMAGE_KEYS = tuple(f'"{name}"'.encode() for name in IMAGE_FIELDS)
_LONGEST_KEY = max(map(len, _IMAGE_KEYS))


def _declared_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None


class BodyAllowance:
    """ASGI middleware. The rest of a body refused midway is read and dropped
    (up to the endpoint's whole cap), so a client that sends its whole body
    before reading the answer still gets the sentence."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        images = path in IMAGE_BODY_PATHS
        cap = MAX_IMAGE_BODY if images else MAX_TEXT_BODY
        declared = _declared_length(scope)
        if declared is not None and declared > cap:
            response = JSONResponse(
                {"error": too_large_sentence(path)}, 413, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        named: set[bytes] = set()
        total = 0
        tail = b""  # the end of the previous chunk: a key may straddle two

        async def receive_within_allowance() -> Message:
            nonlocal total, tail
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            total += len(chunk)
            if images:
                window = tail + chunk[: _LONGEST_KEY - 1]
                named.update(key for key in _IMAGE_KEYS if key in chunk or key in window)
                tail = chunk[-(_LONGEST_KEY - 1) :]
            if total > MAX_TEXT_BODY + len(named) * IMAGE_FIELD_WIRE_BYTES:
                more = message.get("more_body", False)
                while more and total <= cap:
                    message = await receive()
                    total += len(message.get("body", b""))
                    more = message["type"] == "http.request" and message.get("more_body", False)
                raise HTTPException(413, too_large_sentence(path))
            return message

        await self.app(scope, receive_within_allowance, send)

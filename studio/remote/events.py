"""A remote job's events, as plain values: what `GET /jobs/{id}/events`
says, one dataclass per event name (studio/server/jobs_api.py documents
them). The window can hand them to its own thread as they are."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from .sse import ServerEvent


@dataclass(frozen=True)
class Queued:
    position: int  # jobs ahead of this one (0: next)


@dataclass(frozen=True)
class Started:
    part: int = 0  # one POST may run as several engine jobs (a batch of prompts)
    parts: int = 1


@dataclass(frozen=True)
class Loading:
    model: str  # the model whose weights the server is reading


@dataclass(frozen=True)
class Step:
    step: int
    total: int
    part: int = 0
    parts: int = 1
    preview_png: bytes | None = field(default=None, repr=False)  # a small PNG, when sent
    region: tuple[int, ...] | None = None  # where the preview goes (inpainting a region)


@dataclass(frozen=True)
class Finished:
    images: tuple[str, ...]  # the images' paths on the server, in order
    seeds: tuple[int, ...]
    parameters: str  # the first image's parameters text
    cached: bool = False


@dataclass(frozen=True)
class Failed:
    message: str  # the server's sentence
    status: int = 500  # the HTTP status the failure would have had


@dataclass(frozen=True)
class Cancelled:
    message: str = "The job was cancelled."


RemoteEvent = Queued | Started | Loading | Step | Finished | Failed | Cancelled
ENDED = (Finished, Failed, Cancelled)


def _preview(data: dict[str, Any]) -> bytes | None:
    text = data.get("preview")
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None  # a damaged preview is not worth stopping the job for


def event_of(raw: ServerEvent) -> RemoteEvent | None:
    """The event a server event describes; None for a name this client does not
    know (a newer server may say more). KeyError, TypeError, AttributeError: a malformed one."""
    d = raw.data
    name = raw.name
    if name == "queued":
        return Queued(int(d["position"]))
    if name == "started":
        return Started(int(d.get("part", 0)), int(d.get("parts", 1)))
    if name == "loading":
        return Loading(str(d["model"]))
    if name == "step":
        region = d.get("region")
        return Step(
            int(d["step"]),
            int(d["total"]),
            int(d.get("part", 0)),
            int(d.get("parts", 1)),
            _preview(d),
            tuple(region) if region is not None else None,
        )
    if name == "finished":
        return Finished(
            tuple(d["images"]), tuple(d["seeds"]), str(d["parameters"]), bool(d.get("cached"))
        )
    if name == "failed":
        return Failed(str(d["message"]), int(d.get("status", 500)))
    if name == "cancelled":
        return Cancelled(str(d.get("message", Cancelled.message)))
    return None

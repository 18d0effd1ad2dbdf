"""The engine's errors: each one is a sentence a user can act on."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine reports to a user (never a traceback)."""


class RequestError(EngineError, ValueError):
    """A generation request that cannot run as given."""


class RequestTooLargeError(RequestError):
    """A request past a size limit (prompt length, images per request): HTTP 413."""


class ModelNotFoundError(EngineError):
    """The named model is not on this machine."""


class ModelLoadError(EngineError):
    """The model is there but could not be loaded (corrupt, incomplete, wrong kind)."""


class UnsafeModelError(EngineError):
    """A pickle checkpoint the user has not allowed."""


class OutOfMemoryError(EngineError):
    """The device ran out of memory during a job."""


class EngineStartError(EngineError):
    """torch/diffusers could not be imported or the device set up; kept, not retried."""


class JobCancelledError(Exception):
    """Raised inside a job when the user cancelled it; the job ends as cancelled."""

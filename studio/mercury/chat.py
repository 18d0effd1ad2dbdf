"""What one chat request sends, and how a stream of chunks becomes an answer.

Pure data and pure functions: the network side lives in client.py, so the
rules here (diffusing frames replace, ordinary deltas append, a stream is
only finished when a choice says why it finished) are testable on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .settings import MercurySettings, supports_reasoning_effort

Message = Mapping[str, str]  # {"role": "user" | "assistant" | "system", "content": ...}


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    model: str
    max_tokens: int
    temperature: float
    diffusing: bool = False
    reasoning_effort: str = ""
    response_format: Mapping[str, Any] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: MercurySettings,
        messages: Sequence[Message],
        response_format: Mapping[str, Any] | None = None,
    ) -> ChatRequest:
        settings = settings.normalized()
        return cls(
            messages=tuple(dict(m) for m in messages),
            model=settings.model,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            diffusing=settings.diffusing,
            reasoning_effort=settings.reasoning_effort,
            response_format=response_format,
        )

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `chat.completions.create(...)`, streaming."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": True,
        }
        if self.reasoning_effort and supports_reasoning_effort(self.model):
            kwargs["reasoning_effort"] = self.reasoning_effort
        if self.response_format is not None:
            kwargs["response_format"] = dict(self.response_format)
        if self.diffusing:
            # Not an OpenAI parameter: Mercury reads it from the body.
            kwargs["extra_body"] = {"diffusing": True}
        return kwargs


@dataclass(frozen=True)
class ReplyProgress:
    """The answer as it stands after a chunk: always the whole text so far."""

    text: str
    chunks: int
    finish_reason: str | None = None
    # (step, total) when a diffusing frame's diffusion_meta says so.
    denoising_step: tuple[int, int] | None = None


@dataclass
class ReplyAccumulator:
    """Folds chunks into the answer.

    In diffusing mode each chunk carries the whole current text, which
    replaces what was there (the user watches the answer being denoised).
    A server that ignores `diffusing` sends ordinary deltas and no
    diffusion_meta; off Inception those are appended, so a local server with
    the toggle on still shows a readable answer.
    """

    diffusing: bool = False
    frames_replace_by_default: bool = True
    text: str = ""
    chunks: int = 0
    finish_reason: str | None = None
    denoising_step: tuple[int, int] | None = None
    _saw_frames: bool = field(default=False, repr=False)

    def add(self, chunk: Any) -> ReplyProgress:
        self.chunks += 1
        extra = getattr(chunk, "model_extra", None) or {}
        meta = extra.get("diffusion_meta")
        if meta is not None:
            self._saw_frames = True
            self.denoising_step = _read_step(meta) or self.denoising_step
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:
                continue  # we ask for one choice; ignore any others
            content = getattr(choice.delta, "content", None) if choice.delta else None
            if content is not None:
                if self._replaces():
                    self.text = content
                else:
                    self.text += content
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return self.progress()

    def progress(self) -> ReplyProgress:
        return ReplyProgress(self.text, self.chunks, self.finish_reason, self.denoising_step)

    def _replaces(self) -> bool:
        return self.diffusing and (self._saw_frames or self.frames_replace_by_default)


def _read_step(meta: object) -> tuple[int, int] | None:
    """(step, total) from diffusion_meta, whose exact keys we do not rely on."""
    if not isinstance(meta, Mapping):
        return None
    step = _first_int(meta, ("step", "current_step", "diffusion_step", "iteration"))
    total = _first_int(meta, ("total_steps", "num_steps", "steps", "max_steps"))
    if step is None or total is None or total <= 0:
        return None
    return step, total


def _first_int(meta: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

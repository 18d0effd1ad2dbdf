"""The panel's settings as one typed value, with the rules for each field.

The API key is deliberately not a field: it lives in the environment or the
OS keyring (see keys.py), so saving these settings can never leak it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ..option_spec import labelled, option

INCEPTION_BASE_URL = "https://api.inceptionlabs.ai/v1"
INCEPTION_HOST = "api.inceptionlabs.ai"
BASE_URL_ENV = "INCEPTION_BASE_URL"
DEFAULT_MODEL = "mercury-2"
# Shown when /v1/models cannot be listed; names change, so the live list wins.
FALLBACK_MODELS = ("mercury-2", "mercury", "mercury-coder")
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.5, 1.0  # the range Mercury accepts
MAX_TOKENS_MIN, MAX_TOKENS_MAX = 16, 32_000
TIMEOUT_MIN, TIMEOUT_MAX = 1.0, 600.0
# "" lets the server choose; "instant" is Inception's own, the rest are OpenAI's.
REASONING_EFFORTS = ("", "instant", "low", "medium", "high")


@dataclass(frozen=True)
class MercurySettings:
    base_url: str = option(
        "",  # empty: INCEPTION_BASE_URL from the environment, else Inception
        label="Base URL",
        help="Any OpenAI-compatible server, e.g. a local one at http://localhost:8080/v1. "
        f"Empty: {BASE_URL_ENV}, else Inception's API.",
    )
    model: str = option(DEFAULT_MODEL, label="Model", help="the model that answers")
    max_tokens: int = option(
        2048,
        label="Max tokens",
        help="The longest answer, in tokens (reasoning included).",
        low=MAX_TOKENS_MIN,
        high=MAX_TOKENS_MAX,
    )
    temperature: float = option(
        0.75,
        label="Temperature",
        help="Mercury accepts 0.5 to 1.0; higher is more varied.",
        low=TEMPERATURE_MIN,
        high=TEMPERATURE_MAX,
        decimals=2,
    )
    diffusing: bool = option(False, label="Show the answer diffusing")
    reasoning_effort: str = option(
        "",
        label="Reasoning",
        help="How long the model thinks before answering; “instant” is fastest.",
        choices=labelled(REASONING_EFFORTS, lambda e: e or "server default"),
    )
    timeout_s: float = option(
        60.0,
        label="Timeout",
        help="seconds to wait for an answer",
        low=TIMEOUT_MIN,
        high=TIMEOUT_MAX,
        unit=" s",
    )

    def normalized(self) -> MercurySettings:
        """The same settings with every field brought into its valid range."""
        effort = self.reasoning_effort.strip().lower()
        return replace(
            self,
            base_url=self.base_url.strip().rstrip("/"),
            model=self.model.strip() or DEFAULT_MODEL,
            max_tokens=int(_clamp(int(self.max_tokens), MAX_TOKENS_MIN, MAX_TOKENS_MAX)),
            temperature=round(_clamp(float(self.temperature), TEMPERATURE_MIN, TEMPERATURE_MAX), 2),
            reasoning_effort=effort if effort in REASONING_EFFORTS else "",
            timeout_s=_clamp(float(self.timeout_s), TIMEOUT_MIN, TIMEOUT_MAX),
        )

    def resolved_base_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The URL requests go to: the setting, else the environment, else Inception."""
        environ = os.environ if environ is None else environ
        url = self.base_url.strip() or environ.get(BASE_URL_ENV, "").strip() or INCEPTION_BASE_URL
        return url.rstrip("/")


def is_inception(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").lower() == INCEPTION_HOST


def base_url_problem(base_url: str) -> str | None:
    """A sentence saying what is wrong with a base URL, or None when it is usable."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"The base URL “{base_url}” is not a web address; it should look like "
            f"{INCEPTION_BASE_URL} or http://localhost:8080/v1."
        )
    return None


def endpoint_name(base_url: str) -> str:
    """How messages name the server: "Mercury", or "the server at host:port"."""
    if is_inception(base_url):
        return "Mercury"
    return f"the server at {urlsplit(base_url).netloc or base_url}"


def supports_reasoning_effort(model: str) -> bool:
    """Mercury 1 models ignore or refuse it; Mercury 2 and later take it.

    Other servers' models are the user's call, so the control stays enabled.
    """
    match = re.match(r"mercury(?:-coder)?(?:-(\d+))?", model.strip().lower())
    if not match:
        return True
    return match.group(1) is not None and int(match.group(1)) >= 2


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)

"""Settings rules: ranges, where the base URL comes from, reasoning support."""

from __future__ import annotations

import pytest

from studio.mercury.settings import (
    INCEPTION_BASE_URL,
    MercurySettings,
    base_url_problem,
    endpoint_name,
    supports_reasoning_effort,
)


def test_values_are_brought_into_range():
    wild = MercurySettings(
        base_url=" http://localhost:8080/v1/ ",
        model="  ",
        max_tokens=10**9,
        temperature=0.1,
        reasoning_effort="EXTREME",
    ).normalized()
    assert wild.base_url == "http://localhost:8080/v1"
    assert wild.model == "mercury-2"
    assert wild.max_tokens == 32_000
    assert wild.temperature == 0.5
    assert wild.reasoning_effort == ""
    assert MercurySettings(temperature=3, reasoning_effort="High").normalized() == (
        MercurySettings(temperature=1.0, reasoning_effort="high")
    )


def test_base_url_setting_then_environment_then_inception():
    env = {"INCEPTION_BASE_URL": "http://127.0.0.1:11434/v1/"}
    assert MercurySettings().resolved_base_url({}) == INCEPTION_BASE_URL
    assert MercurySettings().resolved_base_url(env) == "http://127.0.0.1:11434/v1"
    chosen = MercurySettings(base_url="http://box:8000/v1")
    assert chosen.resolved_base_url(env) == "http://box:8000/v1"


def test_base_url_problems_and_names():
    assert base_url_problem(INCEPTION_BASE_URL) is None
    assert "not a web address" in base_url_problem("localhost:8080")
    assert endpoint_name(INCEPTION_BASE_URL) == "Mercury"
    assert endpoint_name("http://127.0.0.1:8080/v1") == "the server at 127.0.0.1:8080"


@pytest.mark.parametrize(
    ("model", "supported"),
    [
        ("mercury-2", True),
        ("mercury-3-mini", True),
        ("mercury", False),
        ("mercury-coder", False),
        ("mercury-coder-small", False),
        ("mercury-edit-2", False),
        ("qwen3-8b", True),
    ],
)
def test_reasoning_effort_support(model, supported):
    assert supports_reasoning_effort(model) is supported

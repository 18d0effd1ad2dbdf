"""How SDK exceptions become sentences, for cases the loopback server cannot stage.

The exceptions are the SDK's own types, built the way the SDK builds them
(an httpx2 response, a cause chain); the server-driven cases are in
test_mercury_client.py and test_mercury_panel.py.
"""

from __future__ import annotations

import email.utils
import socket

import httpx2
import openai

from studio.mercury.errors import MercuryError, Problem, explain, retry_after_seconds
from studio.mercury.settings import INCEPTION_BASE_URL

REQUEST = httpx2.Request("POST", INCEPTION_BASE_URL + "/chat/completions")


def connection_error(cause: BaseException) -> openai.APIConnectionError:
    error = openai.APIConnectionError(request=REQUEST)
    error.__cause__ = cause
    return error


def test_a_name_that_does_not_resolve():
    err = explain(
        connection_error(socket.gaierror(-2, "Name or service not known")),
        base_url=INCEPTION_BASE_URL,
    )
    assert err.problem is Problem.UNREACHABLE
    assert err.message == (
        "Could not look up api.inceptionlabs.ai. Check your internet connection and the base URL."
    )


def test_other_connection_failures_and_mid_stream_breaks():
    err = explain(connection_error(OSError("network is unreachable")), base_url=INCEPTION_BASE_URL)
    assert (
        err.message == "Could not reach Mercury. Check your internet connection and the base URL."
    )
    broken = explain(
        openai.APITimeoutError(request=REQUEST), base_url=INCEPTION_BASE_URL, partial_text="Half"
    )
    assert broken.problem is Problem.STREAM_BROKEN and broken.partial_text == "Half"
    assert broken.message.startswith("Mercury stopped sending for 60 seconds")


def test_a_404_with_a_model_code_blames_the_model():
    response = httpx2.Response(404, request=REQUEST)
    body = {"message": "Not found", "code": "model_not_found"}
    err = explain(
        openai.NotFoundError("x", response=response, body=body),
        base_url=INCEPTION_BASE_URL,
        model="m-9",
    )
    assert err.problem is Problem.UNKNOWN_MODEL and "“m-9”" in err.message


def test_the_original_exception_stays_chained_and_errors_pass_through():
    cause = connection_error(ConnectionRefusedError())
    err = explain(cause, base_url="http://localhost:8080/v1")
    assert err.__cause__ is cause and err.problem is Problem.REFUSED
    assert explain(err, base_url=INCEPTION_BASE_URL) is err
    assert isinstance(err, MercuryError)


def test_retry_after_headers():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=1_000_000) == 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None

"""POST /generate/text speaks to whoever can act: the server's operator holds
the Mercury key (INCEPTION_API_KEY of the server process, or the keyring), the
caller picks the model. The window's words ("Set API key…", the model list)
stay the window's: an API client has no window."""

from __future__ import annotations

import asyncio

import pytest
from keyrings import MemoryKeyring
from openai_server import ErrorReply, OpenAIServer

from studio.mercury.keys import KEY_ENV, store_api_key
from studio.mercury.settings import BASE_URL_ENV, INCEPTION_BASE_URL
from studio.server.errors import ApiError
from studio.server.schemas import TextRequest
from studio.server.text import TextService

WINDOW_WORDS = ("Set API key", "model list", "restart the app")


@pytest.fixture
def llm(monkeypatch):
    import keyring

    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    with OpenAIServer() as server:
        yield server
    keyring.set_keyring(previous)


def _refusal(service: TextService, body: TextRequest) -> ApiError:
    async def ask() -> None:
        try:
            await service.complete(body)
        finally:
            await service.aclose()

    with pytest.raises(ApiError) as refused:
        asyncio.run(ask())
    assert not any(words in refused.value.message for words in WINDOW_WORDS), refused.value
    return refused.value


def _bad_key(llm: OpenAIServer) -> None:
    llm.reply(ErrorReply(401, "Invalid API key", "authentication_error", "invalid_api_key"))


def test_a_refused_key_from_the_environment_names_the_servers_environment(llm, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong")
    monkeypatch.setenv(BASE_URL_ENV, llm.base_url)  # the key goes to the server it names
    _bad_key(llm)
    error = _refusal(TextService(llm.base_url), TextRequest(prompt="hi"))
    assert error.status == 502
    assert error.message.endswith(
        f"did not accept the API key (401) from {KEY_ENV} in the server's environment: set "
        "the right key there and restart the server."
    )
    sent = llm.chat_requests()[-1].headers
    assert {k.lower(): v for k, v in sent.items()}["authorization"] == "Bearer sk-wrong"


def test_a_refused_key_from_the_keyring_says_where_it_was_saved(llm):
    store_api_key(llm.base_url, "sk-saved")
    _bad_key(llm)
    error = _refusal(TextService(llm.base_url), TextRequest(prompt="hi"))
    assert error.status == 502
    assert "did not accept the API key (401) saved in this machine's keyring: " in error.message
    assert f"set {KEY_ENV} in the server's environment and restart it" in error.message


def test_a_server_that_wants_a_key_nobody_gave_says_how_to_give_one(llm, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-for-inception")  # by design not sent to another server
    llm.reply(ErrorReply(401, "This server needs a key"))
    error = _refusal(TextService(llm.base_url), TextRequest(prompt="hi"))
    assert error.status == 502
    assert "wants an API key (401) and this server has none for it: set " in error.message
    assert f"{KEY_ENV} is set, but it is sent only to Inception" in error.message
    sent = llm.chat_requests()[-1].headers
    assert "sk-for-inception" not in str(sent)


def test_no_inception_key_is_503_before_anything_is_sent(llm):
    error = _refusal(TextService(INCEPTION_BASE_URL), TextRequest(prompt="hi"))
    assert error.status == 503
    assert error.message == (
        f"No Inception API key is set on this server: set {KEY_ENV} in the server's environment "
        "and restart it, or save a key in this machine's keyring (the app's Mercury panel does)."
    )


def test_an_unknown_model_points_the_caller_at_the_model_field(llm):
    llm.reply(ErrorReply(404, "The model `mercury-9` does not exist", code="model_not_found"))
    error = _refusal(
        TextService(llm.base_url, api_key="k"), TextRequest(prompt="hi", model="mercury-9")
    )
    assert error.status == 400
    assert error.message.endswith(
        "has no model named “mercury-9” (404). Send another model; GET /models lists the known "
        "ones."
    )

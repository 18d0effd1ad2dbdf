"""The API key lookup order, with a keyring backend that keeps secrets in memory."""

from __future__ import annotations

import keyring
import pytest
from keyrings import BrokenKeyring

from studio.keychain import KEYRING_SERVICE
from studio.mercury.keys import (
    ApiKey,
    KeySource,
    KeyStoreError,
    find_api_key,
    forget_api_key,
    keyring_user,
    store_api_key,
)
from studio.mercury.settings import INCEPTION_BASE_URL

LOCAL_URL = "http://127.0.0.1:8080/v1"


def test_environment_comes_first(memory_keyring):
    store_api_key(INCEPTION_BASE_URL, "sk-from-keyring")
    found = find_api_key(INCEPTION_BASE_URL, {"INCEPTION_API_KEY": "sk-from-env"})
    assert found.key == ApiKey("sk-from-env", KeySource.ENVIRONMENT)


def test_keyring_when_the_environment_has_none_or_blank(memory_keyring):
    store_api_key(INCEPTION_BASE_URL, "  sk-from-keyring\n")
    for environ in ({}, {"INCEPTION_API_KEY": "  "}):
        found = find_api_key(INCEPTION_BASE_URL, environ)
        assert found.key == ApiKey("sk-from-keyring", KeySource.KEYRING)
    assert memory_keyring.secrets == {
        (KEYRING_SERVICE, "api-key@api.inceptionlabs.ai"): "sk-from-keyring"
    }


def test_no_key_anywhere(memory_keyring):
    found = find_api_key(INCEPTION_BASE_URL, {})
    assert found.key is None and found.problem is None


def test_the_inception_key_is_not_sent_to_other_servers(memory_keyring):
    store_api_key(INCEPTION_BASE_URL, "sk-inception")
    assert find_api_key(LOCAL_URL, {"INCEPTION_API_KEY": "sk-env"}).key is None
    store_api_key(LOCAL_URL, "local-key")
    assert find_api_key(LOCAL_URL, {}).key == ApiKey("local-key", KeySource.KEYRING)
    assert find_api_key(INCEPTION_BASE_URL, {}).key.value == "sk-inception"


def test_the_environment_key_goes_to_its_paired_base_url(memory_keyring):
    environ = {"INCEPTION_API_KEY": "sk-env", "INCEPTION_BASE_URL": LOCAL_URL + "/"}
    assert find_api_key(LOCAL_URL, environ).key == ApiKey("sk-env", KeySource.ENVIRONMENT)
    assert find_api_key("http://127.0.0.1:9999/v1", environ).key is None


def test_a_failing_keyring_is_a_problem_not_a_crash():
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        found = find_api_key(INCEPTION_BASE_URL, {})
        assert found.key is None
        assert "keyring failed" in found.problem
        with pytest.raises(KeyStoreError) as info:
            store_api_key(INCEPTION_BASE_URL, "sk-secret-value")
        assert "sk-secret-value" not in str(info.value)
        assert "INCEPTION_API_KEY" in str(info.value)
    finally:
        keyring.set_keyring(previous)


def test_forget_removes_only_that_server(memory_keyring):
    store_api_key(INCEPTION_BASE_URL, "a")
    store_api_key(LOCAL_URL, "b")
    forget_api_key(INCEPTION_BASE_URL)
    forget_api_key(INCEPTION_BASE_URL)  # twice is fine
    assert find_api_key(INCEPTION_BASE_URL, {}).key is None
    assert find_api_key(LOCAL_URL, {}).key.value == "b"


def test_an_empty_key_is_refused(memory_keyring):
    with pytest.raises(KeyStoreError):
        store_api_key(INCEPTION_BASE_URL, "   ")
    assert memory_keyring.secrets == {}


def test_the_key_never_shows_in_a_repr():
    key = ApiKey("sk-very-secret", KeySource.KEYRING)
    assert "sk-very-secret" not in repr(key)
    assert keyring_user("HTTP://LocalHost:8080/v1") == "api-key@localhost:8080"

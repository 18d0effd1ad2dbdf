"""The in-app HTTP API, hosted beside the window (studio/window_api.py) as
gui.py assembles it: on and off with the preference, onto another port, a
port in use as a sentence, and gone when the window closes."""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import replace

import pytest

from studio.ui.main_window import MainWindow
from studio.ui.preferences import ApiOptions
from studio.ui.settings_store import open_store
from studio.window_api import WindowApiHost


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    monkeypatch.delenv("STUDIO_API_TOKEN", raising=False)
    settings = open_store(tmp_path / "settings.ini")
    settings.setValue("ui/output_dir", str(tmp_path / "outputs"))
    w = MainWindow(settings)
    qtbot.addWidget(w, before_close_func=lambda w: w.document.undo_stack.setClean())
    yield w
    w.document.undo_stack.setClean()
    w.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as reply:
            return reply.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_the_api_follows_the_preference_on_and_off(window):
    host = WindowApiHost(window)
    assert host.server is None
    window.apply_preferences(replace(window.prefs, api=ApiOptions(enabled=True, port=0)))
    server = host.server
    assert server is not None and _answers(server.url)
    assert f"API serving at {server.url}" in window.status_text.text()
    window.apply_preferences(replace(window.prefs, api=replace(window.prefs.api, enabled=False)))
    assert host.server is None and not _answers(server.url)


@pytest.mark.slow
def test_a_new_port_moves_the_api(window):
    host = WindowApiHost(window)
    window.apply_preferences(replace(window.prefs, api=ApiOptions(enabled=True, port=0)))
    first = host.server
    port = _free_port()
    window.apply_preferences(replace(window.prefs, api=ApiOptions(enabled=True, port=port)))
    assert host.server is not first and host.server.port == port
    assert _answers(host.server.url) and not _answers(first.url)


@pytest.mark.slow
def test_a_port_in_use_is_a_sentence_and_the_window_goes_on(window):
    host = WindowApiHost(window)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        window.apply_preferences(replace(window.prefs, api=ApiOptions(enabled=True, port=port)))
    assert host.server is None
    assert f"127.0.0.1:{port}" in window.message_bar.text()


def test_an_api_on_at_start_serves_and_stops_when_the_window_closes(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("STUDIO_API_TOKEN", raising=False)
    settings = open_store(tmp_path / "settings.ini")
    settings.setValue("ui/output_dir", str(tmp_path / "outputs"))
    settings.setValue("api/enabled", True)
    settings.setValue("api/port", _free_port())
    window = MainWindow(settings)
    qtbot.addWidget(window)
    host = WindowApiHost(window)  # the engine started before the host listened
    server = host.server
    assert server is not None and _answers(server.url)
    window.close()
    assert host.server is None and not _answers(server.url)


@pytest.mark.slow
def test_a_restarted_engine_is_served_in_place_of_the_old_one(window):
    host = WindowApiHost(window)
    window.apply_preferences(replace(window.prefs, api=ApiOptions(enabled=True, port=0)))
    old_worker, old_server = window.worker, host.server
    window._restart_engine()
    assert window.worker is not old_worker
    assert host.server is not None and host.server is not old_server
    assert host.server.link.queue is window.worker.queue
    assert not _answers(old_server.url) and _answers(host.server.url)

"""The window on a remote engine: with Settings → Engine server set, the
MainWindow's engine is a RemoteWorker on a real `studio serve` (ApiServer on
127.0.0.1 over the tiny model); its token comes from the keyring, per server.
A server that is not there, an unusable address and a refused token are
sentences in the message bar, and the window stays usable."""

from __future__ import annotations

import threading
from dataclasses import replace

import httpx2
import numpy as np
import pytest
from api_harness import WAIT_S, ServedApi
from PIL import Image

from studio.engine.catalog import DEFAULT_IMAGE_MODEL
from studio.engine.image_parameters import read_parameters
from studio.engine.infotext import parse_infotext
from studio.engine.worker import EngineWorker
from studio.keychain import read_secret, store_secret
from studio.remote.client import RemoteEngine
from studio.ui import remote_worker
from studio.ui.main_window import MainWindow
from studio.ui.preferences import RemoteOptions
from studio.ui.remote_worker import RemoteWorker
from studio.ui.server_token import server_token, token_user
from studio.ui.settings_store import load_preferences, open_store

TOKEN = "window-token"
TIMEOUT_MS = int(WAIT_S * 1000)
NOBODY = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
SETTINGS_SENTENCE = "in Settings → General → Engine server token."


@pytest.fixture
def served(sd_model):
    running = ServedApi(sd_model, token=TOKEN, step_delay_s=0.02)
    yield running
    running.stop()


@pytest.fixture
def open_window(qtbot, tmp_path, sd_model, monkeypatch, memory_keyring):
    """A MainWindow whose settings name `server_url` as its engine server."""
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    monkeypatch.delenv("STUDIO_API_TOKEN", raising=False)
    opened: list[MainWindow] = []

    def make(server_url: str, api: bool = False) -> MainWindow:
        settings = open_store(tmp_path / "settings.ini")
        settings.setValue("ui/output_dir", str(tmp_path / "outputs"))
        settings.setValue("remote/server_url", server_url)
        settings.setValue("api/enabled", api)
        window = MainWindow(settings)
        qtbot.addWidget(window, before_close_func=lambda w: w.document.undo_stack.setClean())
        window.show()
        window.document.reset(64, 64)
        window.panel.model.set_spec(str(sd_model))
        window.panel.prompt.setPlainText("a lighthouse")
        window.panel.steps.setValue(2)
        window.panel.width_box.setValue(64)
        window.panel.height_box.setValue(64)
        opened.append(window)
        return window

    yield make
    for window in opened:
        window.document.undo_stack.setClean()
        window.close()


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_a_servers_token_is_kept_for_that_server_only(memory_keyring, monkeypatch):
    monkeypatch.delenv("STUDIO_API_TOKEN", raising=False)
    assert (
        token_user("gpu-box:8080")
        == token_user("http://GPU-box:8080/")
        == ("studio-token@gpu-box:8080")
    )
    assert token_user("https://gpu.example") == "studio-token@gpu.example:443"
    store_secret(token_user("gpu-box:8080"), "secret", "the token", "")
    assert server_token("http://gpu-box:8080") == "secret"
    assert server_token("http://other-box:8080") is None
    monkeypatch.setenv("STUDIO_API_TOKEN", "from-env")
    assert server_token("http://other-box:8080") == "from-env"
    assert server_token("gpu-box:8080") == "secret"  # the one saved for it comes first


@pytest.mark.slow
def test_generate_on_the_server_lands_in_the_history_and_on_the_canvas(qtbot, served,
                                                                       open_window):  # fmt: skip
    store_secret(token_user(served.url), TOKEN, "the token", "")
    window = open_window(served.url)
    assert isinstance(window.worker, RemoteWorker)
    window.panel.seed.setText("11")
    with qtbot.waitSignal(window.jobs.idle, timeout=TIMEOUT_MS):
        (job,) = window.generate()
    (saved,) = window.history.paths()
    with RemoteEngine(served.url, TOKEN) as engine:
        assert saved.read_bytes() == engine.image(window.worker.server_job_id(job), 0)
    parsed = parse_infotext(read_parameters(saved))
    assert parsed.params["Seed"] == "11" and parsed.params["Model"] == "tiny-sd"
    assert np.array_equal(_pixels(window.document.composed_image()), _pixels(Image.open(saved)))
    assert window.message_bar.isHidden() and "seed 11" in window.status_text.text()


@pytest.mark.slow
def test_stop_cancels_the_job_on_the_server(qtbot, served, open_window, monkeypatch):
    monkeypatch.setenv("STUDIO_API_TOKEN", TOKEN)  # no token saved: the environment's
    window = open_window(served.url)
    window.panel.steps.setValue(150)  # far more than the test waits for
    with qtbot.waitSignal(window.worker.job_step, timeout=TIMEOUT_MS):
        (job,) = window.generate()
    with qtbot.waitSignal(window.jobs.idle, timeout=TIMEOUT_MS):
        window.stop()
    assert served.state(window.worker.server_job_id(job)) == "cancelled"
    assert window.history.paths() == [] and not window.jobs.busy()


def test_a_server_not_there_is_a_sentence_and_the_window_stays_usable(qtbot, open_window):
    window = open_window(NOBODY)
    with qtbot.waitSignal(window.jobs.idle, timeout=TIMEOUT_MS):
        window.generate()
    assert window.message_bar.text().startswith(f"Could not reach the server at {NOBODY}")
    assert not window.jobs.busy() and window.panel.generate_button.isEnabled()
    assert window.history.paths() == []


def test_an_unusable_address_is_a_sentence_and_this_computer_generates(open_window):
    window = open_window("ftp://gpu-box")
    assert isinstance(window.worker, EngineWorker)
    said = window.message_bar.text()
    assert "is not a server address this client can use" in said
    assert said.endswith(
        "Generating on this computer until the engine server is fixed in Settings."
    )


@pytest.mark.parametrize(
    ("saved_for", "said"),
    [
        ("served", "did not accept the token; save the one it was started with"),
        # The right token, saved for another server: it is not sent to this one.
        ("other", "needs a token: save the one it was started with"),
    ],
)
def test_a_refused_token_points_at_settings(qtbot, served, open_window, saved_for, said):
    if saved_for == "served":
        store_secret(token_user(served.url), "wrong", "the token", "")
    else:
        store_secret(token_user("http://127.0.0.1:1"), TOKEN, "the token", "")
    window = open_window(served.url)
    with qtbot.waitSignal(window.jobs.idle, timeout=TIMEOUT_MS):
        window.generate()
    assert window.message_bar.text() == f"The server at {served.url} {said} {SETTINGS_SENTENCE}"
    assert served.log.snapshot() == []


def test_changing_the_engine_server_restarts_the_engine(qtbot, served, open_window):
    window = open_window("")
    assert isinstance(window.worker, EngineWorker)
    with qtbot.waitSignal(window.engine_started, timeout=TIMEOUT_MS) as started:
        window.apply_preferences(replace(window.prefs, remote=RemoteOptions(served.url)))
    assert isinstance(started.args[0], RemoteWorker) and window.worker is started.args[0]
    assert load_preferences(window.store).remote.server_url == served.url
    with qtbot.waitSignal(window.engine_started, timeout=TIMEOUT_MS) as started:
        window.apply_preferences(replace(window.prefs, remote=RemoteOptions("")))
    assert isinstance(started.args[0], EngineWorker)


def test_the_in_app_api_stays_off_while_the_engine_is_remote(open_window):
    from studio.window_api import WindowApiHost

    window = open_window(NOBODY, api=True)
    host = WindowApiHost(window)  # as gui.py assembles it
    assert host.server is None
    assert window.message_bar.text() == (
        f"The in-app API stays off while the engine is the server at {NOBODY}; programs can "
        "use that server's API directly."
    )


def test_settings_show_the_server_and_keep_its_token_in_the_keyring(qtbot, memory_keyring):
    from studio.ui.preferences import Preferences
    from studio.ui.settings_dialog import SettingsDialog

    prefs = Preferences(remote=RemoteOptions("gpu-box:8080"))
    dialog = SettingsDialog(prefs)
    qtbot.addWidget(dialog)
    assert dialog.editors["remote.server_url"].control.text() == "gpu-box:8080"
    box = dialog.server_token
    qtbot.waitUntil(lambda: box.save_button.isEnabled(), timeout=TIMEOUT_MS)
    box.field.setText("s3cret")
    box.save_button.click()
    qtbot.waitUntil(lambda: box.status.text().startswith("Token saved."), timeout=TIMEOUT_MS)
    assert read_secret("studio-token@gpu-box:8080").value == "s3cret"
    assert box.field.text() == "" and box.forget_button.isEnabled()
    box.forget_button.click()
    qtbot.waitUntil(lambda: box.status.text().startswith("Token removed."), timeout=TIMEOUT_MS)
    assert read_secret("studio-token@gpu-box:8080").value is None
    assert dialog.preferences().remote.server_url == "gpu-box:8080"


class _DropsOnce(httpx2.BaseTransport):
    """Loopback HTTP whose first events stream breaks after its first chunk,
    as a connection lost mid-job does; the streams after it are whole."""

    def __init__(self, dropped: threading.Event) -> None:
        self._inner = httpx2.HTTPTransport()
        self._dropped = dropped

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        if request.url.path.endswith("/events") and not self._dropped.is_set():
            self._dropped.set()
            return httpx2.Response(
                response.status_code, headers=response.headers, stream=_Broken(response)
            )
        return response

    def close(self) -> None:
        self._inner.close()


class _Broken(httpx2.SyncByteStream):
    def __init__(self, response: httpx2.Response) -> None:
        self._response = response

    def __iter__(self):
        for chunk in self._response.stream:
            yield chunk
            break
        self._response.close()
        raise httpx2.ReadError("connection reset by peer")


@pytest.mark.slow
def test_a_lost_connection_is_said_once_and_goes_when_the_stream_is_back(
    qtbot, served, open_window, monkeypatch
):
    dropped = threading.Event()
    monkeypatch.setattr(
        remote_worker,
        "RemoteEngine",
        lambda url, token=None: RemoteEngine(url, token, transport=_DropsOnce(dropped)),
    )
    store_secret(token_user(served.url), TOKEN, "the token", "")
    window = open_window(served.url)
    said: list[tuple[str, str]] = []  # (the signal, the message bar then)
    window.worker.connection_changed.connect(
        lambda sentence: said.append((sentence, window.message_bar.text()))
    )
    with qtbot.waitSignal(window.jobs.idle, timeout=TIMEOUT_MS):
        window.generate()
    lost = f"Lost the connection to {served.url}; reconnecting…"
    assert dropped.is_set()
    assert said == [(lost, lost), ("", "")]
    assert len(window.history.paths()) == 1  # the job finished after the reconnect
    assert window.message_bar.isHidden()


def test_the_model_picker_lists_the_servers_models_and_the_local_ones_come_back(
    qtbot, served, open_window, sd_model
):
    store_secret(token_user(served.url), TOKEN, "the token", "")
    window = open_window(served.url)
    picker = window.panel.model
    with RemoteEngine(served.url, TOKEN) as engine:
        models = engine.models()["image"]
    names = [m["name"] for m in models]
    qtbot.waitUntil(lambda: names[0] in _items(picker), timeout=TIMEOUT_MS)
    expected = [
        f"{m['name']}  (not downloaded)" if m["status"] == "not downloaded" else m["name"]
        for m in models
    ]
    assert _items(picker)[: len(models)] == expected
    for button in (picker.folder_button, picker.file_button, picker.models_button):
        assert not button.isEnabled()
        assert button.toolTip() == f"Models live on the server at {served.url}."
    # The status is the server's as it reports it.
    ready = next(m for m in models if m["status"] != "not downloaded")
    picker.set_spec(ready["name"])
    assert picker.status.text().replace("\N{NO-BREAK SPACE}", " ") == (
        f"{ready['title']} · {ready['status']} on {served.url}"
    )
    assert picker.current_defaults().steps == ready["default_steps"]
    missing = next(m for m in models if m["status"] == "not downloaded")
    picker.set_spec(missing["name"])
    assert f"is not downloaded on {served.url}; download it there" in picker.status.text()
    picker.set_spec(str(sd_model))  # a folder the server resolves itself
    assert picker.status.text() == f"{sd_model.name} on {served.url}"

    with qtbot.waitSignal(window.engine_started, timeout=TIMEOUT_MS):
        window.apply_preferences(replace(window.prefs, remote=RemoteOptions("")))
    assert picker.folder_button.isEnabled() and picker.models_button.isEnabled()
    assert "on http" not in picker.status.text()
    assert DEFAULT_IMAGE_MODEL in _items(picker)


def _items(picker) -> list[str]:
    return [picker.combo.itemText(i) for i in range(picker.combo.count())]

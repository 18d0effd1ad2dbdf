"""The panel's server, key and settings handling: no key, Set API key, models, exit."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
import shiboken6
from openai_server import ErrorReply
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMainWindow
from test_mercury_panel import (  # the panel tests' loop, server and keyring fixtures
    answered,
    make_panel,
    run_qt,
    secrets,
    server,
    until,
)

from studio.mercury.keys import store_api_key
from studio.mercury.settings import MercurySettings
from studio.ui.mercury_panel import MercuryPanel
from studio.ui.mercury_settings_store import load_mercury_settings, save_mercury_settings

__all__ = ["make_panel", "secrets", "server"]  # fixtures used by name


def test_without_a_key_the_panel_says_how_to_get_one(qapp, qtbot, server, secrets):
    panel = MercuryPanel(MercurySettings())  # Inception's API, no key anywhere
    qtbot.addWidget(panel)
    seen = {}

    async def body():
        await until(lambda: panel.view.notice.text(), "the no-key notice")
        seen["first"] = (panel.view.notice.level(), panel.view.notice.text())
        seen["key label"] = panel.view.options.key_label.text()
        panel.view.input.setPlainText("hello")
        panel.send()
        await answered(panel)
        seen["on send"] = (panel.view.notice.level(), panel.view.input.toPlainText())
        # Still usable: point it at another OpenAI-compatible server.
        panel.view.options.base_url_edit.setText(server.base_url)
        panel.view.options.base_url_edit.editingFinished.emit()
        await until(lambda: panel.view.model_combo.count() == 2, "the local model list")
        panel.send()
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    level, text = seen["first"]
    assert level == "info" and text.startswith("No Inception API key yet")
    assert "https://platform.inceptionlabs.ai/dashboard/api-keys" in text
    assert "https://platform.inceptionlabs.ai/dashboard/api-keys" in seen["key label"]
    assert seen["on send"] == ("error", "hello")  # nothing sent; the question waits
    assert panel.conversation.messages[-1].text == "You said: hello"
    assert server.chat_requests()[-1].headers["authorization"] == "Bearer no-key"
    assert panel.settings().base_url == server.base_url
    assert panel.view.options.key_label.text() == "No key set; local servers usually need none."


def test_set_api_key_goes_to_the_keyring_only(qapp, qtbot, server, secrets, tmp_path):
    panel = MercuryPanel(MercurySettings(base_url=server.base_url))
    qtbot.addWidget(panel)
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel.settings_changed.connect(lambda s: save_mercury_settings(s, store))
    panel.view.options_button.click()

    async def body():
        await until(lambda: panel.view.model_combo.count() == 2, "the model list")
        qtbot.mouseClick(panel.view.options.set_key_button, Qt.MouseButton.LeftButton)
        dialog = panel.findChild(QInputDialog, "mercuryKeyDialog")
        assert dialog.textEchoMode() == QLineEdit.EchoMode.Password
        dialog.setTextValue("sk-brand-new")
        dialog.accept()
        await until(lambda: "saved" in panel.view.status_label.text(), "the key to be saved")
        panel.view.options.temperature_spin.setValue(0.9)
        panel.view.input.setPlainText("hi")
        panel.send()
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    assert secrets.secrets[("diffusion-studio", f"api-key@127.0.0.1:{server.port}")] == (
        "sk-brand-new"
    )
    assert server.chat_requests()[-1].headers["authorization"] == "Bearer sk-brand-new"
    assert "keyring" in panel.view.options.key_label.text()
    store.sync()
    saved = (tmp_path / "settings.ini").read_text()
    assert "temperature=0.9" in saved and "sk-brand-new" not in saved
    assert load_mercury_settings(store).temperature == 0.9


def test_models_come_from_the_server(qapp, qtbot, server, make_panel):
    server.models = ["local-llama", "qwen3-8b"]
    panel = make_panel(model="mercury-2")

    seen = {}

    async def body():
        await until(lambda: panel.view.model_combo.count() == 2, "the model list")
        seen["status"] = panel.view.status_label.text()
        panel.view.input.setPlainText("hi")
        panel.send()
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    combo = panel.view.model_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["local-llama", "qwen3-8b"]
    assert panel.settings().model == "local-llama"
    assert seen["status"] == "“mercury-2” is not offered here; using “local-llama”."
    assert server.last_chat_body()["model"] == "local-llama"


def test_a_failed_model_list_keeps_a_usable_model(qapp, qtbot, server, make_panel):
    server.models = ErrorReply(500, "down")
    panel = make_panel(model="my-model")

    async def body():
        await until(lambda: panel.view.status_label.text(), "the list to fail")
        await panel.aclose()

    run_qt(qapp, body)
    assert panel.view.model_combo.currentText() == "my-model"
    assert "Could not list the models" in panel.view.status_label.text()


def test_shutdown_closes_the_client(qapp, qtbot, server, make_panel):
    panel = make_panel()
    closed = {}

    async def body():
        await until(lambda: panel.view.model_combo.count() == 2, "the model list")
        openai_client = panel._client.openai_client()  # the one HTTP client of this loop
        QTimer.singleShot(0, panel.shutdown)  # as the window's closeEvent calls it
        await until(openai_client.is_closed, "the client to close")
        closed["done"] = True

    run_qt(qapp, body)
    assert closed["done"] and panel._client is None


def test_settings_survive_a_restart(tmp_path):
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    chosen = MercurySettings(
        base_url="http://localhost:8080/v1",
        model="qwen3-8b",
        max_tokens=900,
        temperature=0.55,
        diffusing=True,
        reasoning_effort="low",
    )
    save_mercury_settings(chosen, store)
    store.sync()
    again = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert load_mercury_settings(again) == chosen
    store.setValue("mercury/max_tokens", "lots")
    assert load_mercury_settings(store).max_tokens == MercurySettings().max_tokens


@pytest.mark.parametrize("source", ["environment", "keyring"])
def test_a_refused_key_says_where_it_came_from(qapp, qtbot, server, secrets, monkeypatch, source):
    store_api_key(server.base_url, "sk-from-keyring")
    if source == "environment":  # the variable, paired with its server, wins over the keyring
        monkeypatch.setenv("INCEPTION_API_KEY", "sk-from-env")
        monkeypatch.setenv("INCEPTION_BASE_URL", server.base_url)
        panel = MercuryPanel(MercurySettings())
    else:
        panel = MercuryPanel(MercurySettings(base_url=server.base_url))
    qtbot.addWidget(panel)
    server.reply(ErrorReply(401, "Invalid API key", code="invalid_api_key"))

    async def body():
        await until(lambda: panel.view.model_combo.count() == 2, "the model list")
        panel.view.input.setPlainText("hi")
        panel.send()
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    notice = panel.view.notice.text()
    assert (
        notice.startswith("The server at 127.0.0.1")
        and "did not accept the API key (401)" in notice
    )
    sent = server.chat_requests()[-1].headers["authorization"]
    if source == "environment":
        assert sent == "Bearer sk-from-env"
        assert "It came from INCEPTION_API_KEY in the environment" in notice
        assert "correct or unset INCEPTION_API_KEY, then restart the app" in notice
        assert (
            panel.view.options.key_label.text() == "Using INCEPTION_API_KEY from the environment."
        )
    else:
        assert sent == "Bearer sk-from-keyring"
        assert "It is the key saved with “Set API key…”: enter the right one there." in notice
        assert "INCEPTION_API_KEY" not in notice


def test_a_typed_base_url_is_never_sent_the_environment_key(
    qapp, qtbot, server, secrets, monkeypatch
):
    monkeypatch.setenv("INCEPTION_API_KEY", "sk-paid-inception-key")
    panel = MercuryPanel(MercurySettings(base_url=server.base_url))  # typed in the panel
    qtbot.addWidget(panel)
    server.reply(ErrorReply(401, "This server needs a key"))

    async def body():
        await until(lambda: panel.view.model_combo.count() == 2, "the model list")
        panel.view.input.setPlainText("hi")
        panel.send()
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    assert server.chat_requests()[-1].headers["authorization"] == "Bearer no-key"
    by_design = "INCEPTION_API_KEY is not sent to other servers, by design"
    notice = panel.view.notice.text()
    assert notice.startswith("The server at 127.0.0.1") and "wants an API key (401)" in notice
    assert by_design in notice
    assert by_design in panel.view.options.key_label.text()


def panel_tasks() -> list[asyncio.Task]:
    """The Mercury panel's tasks that have not ended."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.startswith(("MercuryPanel.", "PanelTasks."))
    ]


class _Window(QMainWindow):
    """The panel in a window whose closeEvent shuts it down, as MainWindow's does."""

    def __init__(self, panel: MercuryPanel) -> None:
        super().__init__()
        self.panel = panel
        self.setCentralWidget(panel)

    def closeEvent(self, event) -> None:
        self.panel.shutdown()
        super().closeEvent(event)


@pytest.fixture
def faults(qapp, caplog):
    """What went wrong out of sight: asyncio's reports and the panel's logged failures."""
    caplog.set_level(logging.DEBUG, logger="asyncio")
    caplog.set_level(logging.ERROR, logger="studio")
    seen: list[str] = []

    def look() -> list[str]:
        gc.collect()  # a pending task is reported ("Task was destroyed") when it is freed
        return seen + [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    qapp.setQuitOnLastWindowClosed(False)
    yield seen, look
    qapp.setQuitOnLastWindowClosed(True)


@pytest.mark.slow
def test_quitting_right_after_clearing_the_base_url_leaves_nothing_running(
    qapp, qtbot, server, secrets, faults, monkeypatch
):
    monkeypatch.setenv("INCEPTION_BASE_URL", "http://127.0.0.1:9/v1")
    seen, look = faults
    window = _Window(MercuryPanel(MercurySettings(base_url=server.base_url)))
    panel = window.panel
    window.show()

    def quit_at_once() -> None:  # from the Qt loop, as Ctrl+Q is
        window.close()
        # The base URL field loses focus as the window goes: a refresh starts.
        panel.view.options.base_url_edit.editingFinished.emit()
        shiboken6.delete(window)  # run_gui returns and the window is freed

    async def body():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: seen.append(context["message"]))
        await until(lambda: panel.view.model_combo.count() == 2, "the model list")
        panel.view.options.base_url_edit.setText("")
        QTimer.singleShot(0, quit_at_once)
        await asyncio.sleep(0.3)
        assert not shiboken6.isValid(panel)
        assert panel_tasks() == []

    run_qt(qapp, body)
    assert look() == []


@pytest.mark.slow
def test_a_panel_deleted_mid_refresh_fails_quietly(qapp, qtbot, server, secrets, faults):
    seen, look = faults
    server.models_delay_s = 0.5  # the model list is on its way when the panel goes
    window = _Window(MercuryPanel(MercurySettings(base_url=server.base_url)))
    panel = window.panel
    window.show()

    async def body():
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: seen.append(context["message"])
        )
        await until(lambda: not panel.view.refresh_button.isEnabled(), "the refresh to start")
        shiboken6.delete(window)  # no closeEvent, no shutdown
        await asyncio.sleep(0.3)
        assert panel_tasks() == []

    run_qt(qapp, body)
    assert look() == []

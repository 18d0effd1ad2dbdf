"""The Mercury side panel: chat, Use as prompt, Enhance.

Glue only: requests, streaming, errors and keys live in studio.mercury. Every
request is an asyncio task on the qasync loop (the Qt thread never waits on
the network); one task at a time, and Stop cancels it and then awaits it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import replace

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QLineEdit, QVBoxLayout, QWidget

from ..mercury.chat import ChatRequest, ReplyProgress
from ..mercury.client import Endpoint, MercuryClient
from ..mercury.conversation import Conversation, ReplyState
from ..mercury.enhance import enhance_prompt
from ..mercury.errors import MercuryError, Problem, no_key_error
from ..mercury.keys import KeyLookup, KeyStoreError, find_api_key, forget_api_key, store_api_key
from ..mercury.settings import (
    DEFAULT_MODEL,
    FALLBACK_MODELS,
    MercurySettings,
    base_url_problem,
    endpoint_name,
    is_inception,
)
from ..mercury.tokens import describe_token_count, fits_clip_window
from .mercury_panel_view import MercuryPanelView
from .mercury_tasks import PanelTasks

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 2.0


class MercuryPanel(QWidget):
    use_as_prompt = Signal(str)
    enhance_accepted = Signal(str, str)  # prompt, negative prompt
    settings_changed = Signal(object)  # MercurySettings, for the window to save

    def __init__(self, settings: MercurySettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = (settings or MercurySettings()).normalized()
        self.conversation = Conversation()
        self._prompt_source: Callable[[], str] | None = None
        self._client: MercuryClient | None = None
        self._keys: dict[str, KeyLookup] = {}  # per base URL; values never leave memory
        self._tasks = PanelTasks(
            lambda sentence: self.view.notice.show_message(sentence, "error"), self._busy_changed
        )
        self.view = MercuryPanelView(self._settings, self.conversation)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.view.options.set_default_base_url(self._default_base_url())
        self._connect()
        self._show_key_status()
        # Deleted without shutdown() (its parent went first): stop its tasks.
        self.destroyed.connect(self._tasks.abandon)
        QTimer.singleShot(0, self.refresh_models)

    # -- public ----------------------------------------------------------------------

    def settings(self) -> MercurySettings:
        return self._settings

    def set_prompt_source(self, source: Callable[[], str]) -> None:
        """Where Enhance reads the current image prompt from."""
        self._prompt_source = source

    @property
    def busy(self) -> bool:
        return self._tasks.busy

    def send(self) -> None:
        text = self.view.input.toPlainText().strip()
        if text and not self.busy:
            self.view.input.clear()
            self._tasks.start_request(self._chat(text))

    def stop(self) -> None:
        if self.busy:
            self._tasks.spawn(self._tasks.stop_request())

    def enhance(self) -> None:
        if self.busy:
            return
        source = self._prompt_source() if self._prompt_source else ""
        if not source.strip():
            self.view.notice.show_message(
                "Type a short prompt in the prompt field first, then press Enhance.", "info"
            )
            return
        self._tasks.start_request(self._enhance(source))

    def use_selection_or_last_reply(self) -> None:
        reply = self.conversation.last_reply()
        text = self.view.chat_view.selected_text() or (reply.text.strip() if reply else "")
        if not text:
            self.view.notice.show_message(
                "Nothing to use yet: ask Mercury first, or select text in the chat.", "info"
            )
            return
        self._use(text)

    def copy_conversation(self) -> None:
        QGuiApplication.clipboard().setText(self.conversation.as_text())
        self._status("Copied the conversation.")

    def new_chat(self) -> None:
        self._tasks.spawn(self._new_chat())

    def refresh_models(self) -> None:
        self._tasks.spawn(self._refresh_models())

    def shutdown(self) -> None:
        """Stops any request and closes the HTTP client; safe to call from closeEvent."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: nothing was opened on one that still runs
        self._tasks.run_until_done(self.aclose(), SHUTDOWN_WAIT_S)

    async def aclose(self) -> None:
        """Ends every task and closes the client; the panel starts no new work after."""
        self._tasks.stop_accepting()
        await self._tasks.stop_request()
        self._retire_client()
        await self._tasks.aclose()

    # -- requests --------------------------------------------------------------------

    async def _chat(self, text: str) -> None:
        self.view.notice.hide()
        self._status("")
        self.conversation.add_user(text)
        reply = self.conversation.start_reply(self._settings.model)
        self.view.chat_view.render_now()
        try:
            client = await self._ready_client()
            request = ChatRequest.from_settings(self._settings, self.conversation.api_messages())
            progress = None
            async with aclosing(client.stream_reply(request)) as replies:
                async for progress in replies:
                    reply.text = progress.text
                    self._show_progress(progress)
            length = progress is not None and progress.finish_reason == "length"
            reply.state = ReplyState.TRUNCATED if length else ReplyState.DONE
        except MercuryError as err:
            reply.text = err.partial_text or reply.text
            self._end_reply(ReplyState.INCOMPLETE)
            self.view.notice.show_message(err.message, "error")
        except asyncio.CancelledError:
            self._end_reply(ReplyState.STOPPED)
            self._status("Stopped.")
            raise
        finally:
            self.view.chat_view.denoising_note = ""
            self.view.chat_view.render_now()

    async def _enhance(self, source: str) -> None:
        self.view.notice.hide()
        self._status("")
        self.view.review.show_working(source)
        try:
            client = await self._ready_client()
            result = await enhance_prompt(
                client, source, self._settings, lambda p: self.view.review.show_progress(p.text)
            )
        except MercuryError as err:
            self.view.review.hide()
            self.view.notice.show_message(err.message, "error")
            return
        except asyncio.CancelledError:
            self.view.review.hide()
            raise
        self.view.review.show_result(result)
        if result.used_fallback:
            self._status("This server has no structured output; its JSON was read leniently.")

    async def _refresh_models(self) -> None:
        url = self._base_url()
        self.view.refresh_button.setEnabled(False)
        try:
            models = await (await self._ready_client()).list_models()
            note = ""
        except MercuryError as err:
            # Keep the user's model: an unlisted list is no reason to switch.
            fallback = FALLBACK_MODELS if is_inception(url) else ()
            models = list(dict.fromkeys([self._settings.model, *fallback]))
            if err.problem is Problem.NO_KEY:
                self.view.notice.show_message(err.message, "info")
                note = ""
            else:
                note = f"Could not list the models: {err.message}"
        finally:
            self.view.refresh_button.setEnabled(True)
        if url == self._base_url():  # the URL may have changed meanwhile
            self._fill_models(models, note)

    async def _new_chat(self) -> None:
        await self._tasks.stop_request()
        self.conversation.clear()
        self.view.review.hide()
        self.view.notice.hide()
        self.view.chat_view.render_now()
        self.view.input.setFocus()
        self._status("")

    async def _ready_client(self) -> MercuryClient:
        """The client for the current settings; MercuryError when it cannot be used."""
        url = self._base_url()
        problem = base_url_problem(url)
        if problem:
            raise MercuryError(Problem.BAD_URL, problem)
        key = (await self._key_lookup(url)).key
        if key is None and is_inception(url):
            raise no_key_error(url)
        endpoint = Endpoint(
            url,
            key.value if key else None,
            self._settings.timeout_s,
            key_source=key.source if key else None,
        )
        if self._client is None or self._client.endpoint != endpoint:
            self._retire_client()
            self._client = MercuryClient(endpoint)
        return self._client

    async def _key_lookup(self, url: str) -> KeyLookup:
        lookup = self._keys.get(url)
        if lookup is None:
            # The keyring may block (a locked keychain asks to be unlocked).
            lookup = await asyncio.to_thread(find_api_key, url)
            self._keys[url] = lookup
            self._show_key_status()
        return lookup

    # -- keys ------------------------------------------------------------------------

    def ask_for_key(self) -> None:
        url = self._base_url()
        dialog = QInputDialog(self)
        dialog.setObjectName("mercuryKeyDialog")
        dialog.setWindowTitle("API key")
        dialog.setLabelText(
            f"API key for {endpoint_name(url)}.\nIt is kept in the system keyring, "
            "never in settings files."
        )
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.textValueSelected.connect(
            lambda value: self._tasks.spawn(self._change_key(url, value))
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()  # not exec(): a nested event loop would stall the asyncio tasks

    def forget_key(self) -> None:
        self._tasks.spawn(self._change_key(self._base_url(), None))

    async def _change_key(self, url: str, value: str | None) -> None:
        try:
            if value is None:
                await asyncio.to_thread(forget_api_key, url)
            else:
                await asyncio.to_thread(store_api_key, url, value)
        except KeyStoreError as err:
            self.view.notice.show_message(str(err), "error")
            return
        self._keys.pop(url, None)
        self.view.notice.hide()
        await self._key_lookup(url)
        self._status("API key saved." if value is not None else "API key removed.")
        await self._refresh_models()

    # -- settings --------------------------------------------------------------------

    def _apply_settings(self, settings: MercurySettings) -> None:
        old_url = self._base_url()
        self._settings = settings.normalized()
        self.view.options.set_settings(self._settings)
        self.view.options.update_for_model(self._settings.model)
        self.settings_changed.emit(self._settings)
        if self._base_url() != old_url:
            self.view.notice.hide()
            self.view.options.set_default_base_url(
                replace(self._settings, base_url="").resolved_base_url()
            )
            self._show_key_status()
            self.refresh_models()

    def _fill_models(self, models: list[str], note: str) -> None:
        current = self._settings.model
        if models and current not in models:
            chosen = DEFAULT_MODEL if DEFAULT_MODEL in models else models[0]
            if not note:
                note = f"“{current}” is not offered here; using “{chosen}”."
            current = chosen
        choices = models or [current]
        self.view.model_combo.blockSignals(True)
        self.view.model_combo.clear()
        self.view.model_combo.addItems(choices)
        self.view.model_combo.setCurrentText(current)
        self.view.model_combo.blockSignals(False)
        if current != self._settings.model:
            self._apply_settings(replace(self._settings, model=current))
        self._status(note, warning=bool(note))

    def _base_url(self) -> str:
        return self._settings.resolved_base_url()

    def _show_key_status(self) -> None:
        url = self._base_url()
        self.view.options.show_key_status(url, self._keys.get(url))

    # -- helpers ---------------------------------------------------------------------

    def _retire_client(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._tasks.spawn(self._close_when_idle(client), closing=True)

    async def _close_when_idle(self, client: MercuryClient) -> None:
        # An answer still streaming (the base URL or key changed meanwhile)
        # finishes on the client it started with.
        request = self._tasks.request
        if request is not None and request is not asyncio.current_task():
            await asyncio.wait([request])
        await client.aclose()

    def _end_reply(self, state: ReplyState) -> None:
        """Marks a cut-short answer, or withdraws the question if nothing arrived."""
        reply = self.conversation.messages[-1] if self.conversation.messages else None
        if reply is not None and reply.role == "assistant" and reply.text:
            reply.state = state
            return
        question = self.conversation.withdraw_last_question()
        if question and not self.view.input.toPlainText().strip():
            self.view.input.setPlainText(question)  # so sending again is one key press

    def _show_progress(self, progress: ReplyProgress) -> None:
        note = ""
        if progress.denoising_step is not None:
            step, total = progress.denoising_step
            note = f"denoising · step {step} of {total}"
        elif self._settings.diffusing and is_inception(self._base_url()):
            note = f"denoising · frame {progress.chunks}"
        self.view.chat_view.denoising_note = note
        self.view.chat_view.schedule_render()

    def _use(self, text: str) -> None:
        self.use_as_prompt.emit(text)
        self._status(
            f"Put into the prompt field: {describe_token_count(text)}.",
            warning=not fits_clip_window(text),
        )

    def _status(self, text: str, warning: bool = False) -> None:
        self.view.show_status(text, warning)

    def _busy_changed(self, busy: bool) -> None:
        self.view.set_busy(busy)

    def _connect(self) -> None:
        view = self.view
        view.refresh_button.clicked.connect(self.refresh_models)
        view.options.changed.connect(self._apply_settings)
        view.options.set_key_requested.connect(self.ask_for_key)
        view.options.forget_key_requested.connect(self.forget_key)
        view.model_combo.currentTextChanged.connect(
            lambda text: self._apply_settings(replace(self._settings, model=text.strip()))
        )
        view.diffusing_toggle.toggled.connect(
            lambda on: self._apply_settings(replace(self._settings, diffusing=on))
        )
        view.send_requested.connect(self.send)
        view.stop_requested.connect(self.stop)
        view.send_button.clicked.connect(lambda: self.stop() if self.busy else self.send())
        view.use_button.clicked.connect(self.use_selection_or_last_reply)
        view.enhance_button.clicked.connect(self.enhance)
        view.copy_button.clicked.connect(self.copy_conversation)
        view.new_chat_button.clicked.connect(self.new_chat)
        view.chat_view.use_text.connect(self._use)
        view.review.accepted.connect(self.enhance_accepted)

    def _default_base_url(self) -> str:
        """What an empty base URL setting means: the environment's, else Inception's."""
        return replace(self._settings, base_url="").resolved_base_url()

"""The Mercury panel driven like a user would, against the loopback server.

Each test body is a coroutine run on a qasync QEventLoop (the loop the app
runs), bounded by asyncio.wait_for; `until()` polls with a deadline. Set
MERCURY_SCREENSHOTS=<folder> to keep pictures of the panel mid-stream.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest
import qasync
from keyrings import MemoryKeyring
from openai_server import (
    FramesReply,
    OpenAIServer,
    TextReply,
    diffusion_frames,
)
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QFont, QGuiApplication, QTextCursor

from studio.mercury.conversation import Conversation, ReplyState
from studio.mercury.keys import store_api_key
from studio.mercury.settings import MercurySettings
from studio.ui.mercury_chat_document import CARET
from studio.ui.mercury_chat_view import MercuryChatView
from studio.ui.mercury_panel import MercuryPanel

ANSWER = (
    "Here are three ideas:\n"
    "1. a log cabin under deep snow, amber windows, pine forest, blue hour\n"
    "2. a cabin interior with a crackling fireplace, knitted blankets, warm light\n"
    "3. a lakeside cabin at dawn, mist on the water, soft pastel sky"
)


def run_qt(qapp, body: Callable, timeout_s: float = 15.0) -> None:
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(qapp)) as runner:
            runner.run(asyncio.wait_for(body(), timeout_s))
    finally:
        # A closed qasync loop leaves QObjects (its timer, its signaller, the
        # QThreads of its executor) in reference cycles. Left to the cyclic GC
        # they are freed at a random later moment, possibly on another thread
        # (the test server's), where Qt cannot stop their timers: a crash in a
        # later test. Free them here, on the Qt thread, while nothing runs.
        gc.collect()


async def until(condition: Callable[[], object], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def screenshot(panel: MercuryPanel, name: str) -> None:
    folder = os.environ.get("MERCURY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        assert panel.grab().save(str(Path(folder) / f"{name}.png"))


@pytest.fixture
def server():
    with OpenAIServer(models=["mercury-2", "mercury-coder"]) as srv:
        yield srv


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.delenv("INCEPTION_API_KEY", raising=False)
    monkeypatch.delenv("INCEPTION_BASE_URL", raising=False)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def make_panel(qtbot, server, secrets):
    store_api_key(server.base_url, "sk-test")
    panels = []

    def make(**settings) -> MercuryPanel:
        settings.setdefault("base_url", server.base_url)
        panel = MercuryPanel(MercurySettings(**settings))
        qtbot.addWidget(panel)
        panel.resize(380, 620)
        panel.show()
        panels.append(panel)
        return panel

    return make


def shown_text(panel: MercuryPanel) -> str:
    return panel.view.chat_view.toPlainText()


def caret_shown(panel: MercuryPanel) -> bool:
    """Whether the streaming caret (a space on the accent colour) is in the chat."""
    block = panel.view.chat_view.document().begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            painted = fragment.charFormat().background().style() != Qt.BrushStyle.NoBrush
            if painted and fragment.text() == CARET:
                return True
            fragments += 1
        block = block.next()
    return False


async def ask(qtbot, panel: MercuryPanel, text: str) -> None:
    await until(lambda: panel.view.model_combo.count() > 1, "the model list")
    panel.view.input.setPlainText(text)
    qtbot.keyClick(panel.view.input, Qt.Key.Key_Return)
    assert panel.busy


async def answered(panel: MercuryPanel) -> None:
    await until(lambda: not panel.busy, "the answer to finish")


@pytest.mark.slow
def test_enter_sends_and_the_answer_streams_in(qapp, qtbot, server, make_panel):
    server.reply(TextReply(ANSWER, chunk_chars=4, delay_s=0.02))
    panel = make_panel()

    async def body():
        await ask(qtbot, panel, "three cabin prompts")
        assert panel.view.input.toPlainText() == ""
        assert panel.view.send_button.text() == "Stop"
        await until(lambda: "log cabin" in shown_text(panel), "the first words")
        mid = shown_text(panel)
        assert panel.busy and "three cabin prompts" in mid and "soft pastel sky" not in mid
        assert caret_shown(panel)
        screenshot(panel, "mercury-mid-stream")
        await answered(panel)
        assert "soft pastel sky" in shown_text(panel) and not caret_shown(panel)
        assert panel.view.send_button.text() == "Send"
        await panel.aclose()

    run_qt(qapp, body)
    request = server.chat_requests()[-1]
    assert request.headers["authorization"] == "Bearer sk-test"
    messages = request.body["messages"]
    assert messages[0]["role"] == "system"
    assert messages[1:] == [{"role": "user", "content": "three cabin prompts"}]
    assert panel.conversation.messages[-1].text == ANSWER


def test_shift_enter_breaks_the_line_instead_of_sending(qapp, qtbot, make_panel):
    panel = make_panel()
    panel.view.input.setPlainText("one")
    panel.view.input.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClick(panel.view.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert panel.view.input.toPlainText() == "one\n" and not panel.busy


@pytest.mark.slow
@pytest.mark.parametrize("how", ["button", "escape"])
def test_stop_cancels_the_stream_and_keeps_what_arrived(qapp, qtbot, server, make_panel, how):
    server.reply(TextReply(ANSWER, chunk_chars=2, delay_s=0.03))
    panel = make_panel()

    async def body():
        await ask(qtbot, panel, "cabins")
        await until(lambda: "Here are" in shown_text(panel), "the first words")
        if how == "button":
            qtbot.mouseClick(panel.view.send_button, Qt.MouseButton.LeftButton)
        else:
            qtbot.keyClick(panel.view.input, Qt.Key.Key_Escape)
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    reply = panel.conversation.messages[-1]
    assert reply.state is ReplyState.STOPPED
    assert reply.text and len(reply.text) < len(ANSWER)
    assert "— stopped" in shown_text(panel)
    assert server.wait_for_abandoned_stream()  # the HTTP stream was really closed


@pytest.mark.slow
def test_diffusing_mode_shows_each_frame_in_place(qapp, qtbot, server, make_panel):
    frames = diffusion_frames(ANSWER.replace("\n", " "), steps=12)
    server.reply(FramesReply(frames, delay_s=0.06))
    panel = make_panel()
    panel.view.diffusing_toggle.setChecked(True)
    assert panel.settings().diffusing

    async def body():
        await ask(qtbot, panel, "cabins, diffusing")
        await until(lambda: "denoising · step 4 of 12" in shown_text(panel), "a middle frame")
        mid = shown_text(panel)
        assert "░" in mid and mid.count("Here") <= 1  # replaced, not appended
        screenshot(panel, "mercury-diffusing")
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    assert server.last_chat_body()["diffusing"] is True
    assert panel.conversation.messages[-1].text == frames[-1]
    assert "░" not in shown_text(panel) and "denoising" not in shown_text(panel)


@pytest.mark.slow
def test_changing_the_server_mid_answer_lets_the_answer_finish(qapp, qtbot, server, make_panel):
    server.reply(TextReply(ANSWER, chunk_chars=4, delay_s=0.02))
    panel = make_panel()

    with OpenAIServer(models=["local-llama"]) as other:
        store_api_key(other.base_url, "sk-other")

        async def body():
            await ask(qtbot, panel, "cabins")
            await until(lambda: "Here are" in shown_text(panel), "the first words")
            panel.view.options.base_url_edit.setText(other.base_url)
            panel.view.options.base_url_edit.editingFinished.emit()
            await answered(panel)
            await until(lambda: panel.view.model_combo.currentText() == "local-llama", "models")
            panel.view.input.setPlainText("and you?")
            panel.send()
            await answered(panel)
            await panel.aclose()

        run_qt(qapp, body)
        assert other.chat_requests()[-1].headers["authorization"] == "Bearer sk-other"
    first = panel.conversation.messages[1]
    assert (first.text, first.state) == (ANSWER, ReplyState.DONE)
    assert panel.conversation.messages[-1].text == "You said: and you?"


@pytest.mark.slow
def test_use_as_prompt_sends_the_answer_or_the_selection(qapp, qtbot, server, make_panel):
    server.reply(TextReply(ANSWER))
    panel = make_panel()

    async def body():
        await ask(qtbot, panel, "cabins")
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    with qtbot.waitSignal(panel.use_as_prompt) as whole:
        qtbot.mouseClick(panel.view.use_button, Qt.MouseButton.LeftButton)
    assert whole.args == [ANSWER]

    view = panel.view.chat_view
    start = view.toPlainText().index("a lakeside cabin")
    cursor = view.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(start + len("a lakeside cabin at dawn"), QTextCursor.MoveMode.KeepAnchor)
    view.setTextCursor(cursor)
    with qtbot.waitSignal(panel.use_as_prompt) as part:
        qtbot.mouseClick(panel.view.use_button, Qt.MouseButton.LeftButton)
    assert part.args == ["a lakeside cabin at dawn"]
    assert "about 5 of 75 tokens" in panel.view.status_label.text()

    with qtbot.waitSignal(panel.use_as_prompt) as linked:
        view.anchorClicked.emit(QUrl("use:1"))  # the "Use as prompt" link on the answer
    assert linked.args == [ANSWER]
    assert view.toPlainText().count(" use") == 3  # a link on each of the three list items
    with qtbot.waitSignal(panel.use_as_prompt) as item:
        view.anchorClicked.emit(QUrl("use:1:2"))  # the link after the second item
    assert item.args == [ANSWER.split("\n")[2].removeprefix("2. ")]


def test_markdown_answers_are_rendered_and_each_item_can_be_used(qapp, qtbot):
    conversation = Conversation()
    conversation.add_user("ideas")
    reply = conversation.start_reply("mercury-2")
    reply.text = (
        "Here are **two** ideas:\n\n"
        "1. **Snowy**: a cabin at night\n"
        "2. “a lighthouse at dusk”\n\n"
        "## Tips\n"
        "Add `--steps 20` for detail. <b>not html</b>"
    )
    reply.state = ReplyState.DONE
    view = MercuryChatView(conversation)
    qtbot.addWidget(view)
    view.render_now()
    shown = view.toPlainText()
    for raw in ("**", "## ", "`"):
        assert raw not in shown
    assert "Here are two ideas:" in shown and "Add --steps 20 for detail." in shown
    assert "<b>not html</b>" in shown  # raw HTML from a server is shown, not obeyed
    bold = view.document().find("two")
    assert bold.charFormat().fontWeight() == QFont.Weight.Bold
    assert shown.count(" use") == 2  # a link on each list item
    used = []
    view.use_text.connect(used.append)
    view.anchorClicked.emit(QUrl("use:1:1"))
    view.anchorClicked.emit(QUrl("use:1:2"))
    assert used == ["Snowy: a cabin at night", "a lighthouse at dusk"]


def test_streaming_rewrites_only_the_answer(qapp, qtbot):
    conversation = Conversation()
    for _ in range(30):
        conversation.add_user("earlier question")
        conversation.start_reply("mercury-2").text = ANSWER
        conversation.messages[-1].state = ReplyState.DONE
    conversation.add_user("one more")
    reply = conversation.start_reply("mercury-2")
    view = MercuryChatView(conversation)
    qtbot.addWidget(view)
    view.render_now()
    document = view.document()
    first_answer = document.find("a log cabin under deep snow")
    changes = []
    document.contentsChange.connect(lambda position, removed, added: changes.append(position))
    reply.text = "**Snow**"
    view.render_now()
    assert "Snow" in view.toPlainText().splitlines()[-1] and "**" not in view.toPlainText()
    # Only the end of the document was touched: earlier answers stay as they were.
    assert changes and min(changes) > document.characterCount() - 200
    assert document.find("a log cabin under deep snow").position() == first_answer.position()


def test_a_long_prompt_is_flagged(qapp, qtbot, make_panel):
    panel = make_panel()
    long_prompt = ", ".join(["a cabin in the snow at night with warm light"] * 10)
    panel.conversation.add_user("x")
    panel.conversation.start_reply("m").text = long_prompt
    with qtbot.waitSignal(panel.use_as_prompt):
        panel.use_selection_or_last_reply()
    status = panel.view.status_label
    assert "longer than the text encoder's 75-token window" in status.text()
    assert status.property("warning") is True


def test_enhance_fills_prompt_and_negative_prompt(qapp, qtbot, server, make_panel):
    pair = '{"prompt": "a log cabin in deep snow, warm window light, pine forest", ' + (
        '"negative_prompt": "blurry, watermark"}'
    )
    server.reply(TextReply(pair))
    panel = make_panel()
    panel.set_prompt_source(lambda: "cozy cabin")
    review = panel.view.review

    async def body():
        await until(lambda: panel.view.model_combo.count() > 1, "the model list")
        qtbot.mouseClick(panel.view.enhance_button, Qt.MouseButton.LeftButton)
        await until(lambda: review.prompt_edit.toPlainText(), "the enhanced prompt")
        await until(lambda: review.accept_button.isEnabled(), "the result to be ready")
        screenshot(panel, "mercury-enhance")
        await panel.aclose()

    run_qt(qapp, body)
    assert server.last_chat_body()["response_format"]["type"] == "json_schema"
    assert review.prompt_edit.toPlainText().startswith("a log cabin in deep snow")
    assert review.negative_edit.toPlainText() == "blurry, watermark"
    assert "of 75 tokens" in review.prompt_tokens.text()
    with qtbot.waitSignal(panel.enhance_accepted) as accepted:
        qtbot.mouseClick(review.accept_button, Qt.MouseButton.LeftButton)
    assert accepted.args == [
        "a log cabin in deep snow, warm window light, pine forest",
        "blurry, watermark",
    ]
    assert review.isHidden()


def test_a_rejected_enhancement_changes_nothing(qapp, qtbot, server, make_panel):
    server.reply(TextReply('{"prompt": "p", "negative_prompt": "n"}'))
    panel = make_panel()
    panel.set_prompt_source(lambda: "cabin")
    accepted = []
    panel.enhance_accepted.connect(lambda *args: accepted.append(args))

    async def body():
        panel.enhance()
        await until(lambda: panel.view.review.negative_edit.toPlainText() == "n", "the result")
        await panel.aclose()

    run_qt(qapp, body)
    qtbot.mouseClick(panel.view.review.reject_button, Qt.MouseButton.LeftButton)
    assert panel.view.review.isHidden() and accepted == []


def test_enhance_without_a_prompt_says_so(qapp, make_panel, server):
    panel = make_panel()
    panel.set_prompt_source(lambda: "  ")
    panel.enhance()
    assert "Type a short prompt in the prompt field first" in panel.view.notice.text()
    assert server.chat_requests() == []


def test_copy_and_new_chat(qapp, qtbot, server, make_panel):
    server.reply(TextReply("first answer"))
    panel = make_panel()

    async def body():
        await ask(qtbot, panel, "hello")
        await answered(panel)
        qtbot.mouseClick(panel.view.copy_button, Qt.MouseButton.LeftButton)
        assert QGuiApplication.clipboard().text() == (
            "You: hello\n\nMercury (mercury-2): first answer"
        )
        qtbot.mouseClick(panel.view.new_chat_button, Qt.MouseButton.LeftButton)
        await until(lambda: not panel.conversation.messages, "the chat to clear")
        await panel.aclose()

    run_qt(qapp, body)
    assert "Ask Mercury for ideas" in shown_text(panel)

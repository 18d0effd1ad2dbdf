"""What the panel shows when things go wrong: each error's sentence, cut streams."""

from __future__ import annotations

import asyncio
import socket

import pytest
from openai_server import CutReply, EarlyEndReply, ErrorReply, StallReply
from test_mercury_panel import (  # the panel tests' loop, server and keyring fixtures
    ANSWER,
    answered,
    ask,
    make_panel,
    run_qt,
    secrets,
    server,
    shown_text,
    until,
)

from studio.mercury.conversation import Conversation, ReplyState
from studio.ui.mercury_chat_view import MercuryChatView

__all__ = ["make_panel", "secrets", "server"]  # fixtures used by name


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            ErrorReply(401, "Invalid API key", code="invalid_api_key"),
            "did not accept the API key (401)",
        ),
        (ErrorReply(402, "Insufficient balance"), "out of credit (402)"),
        (
            ErrorReply(404, "model mercury-2 not found", code="model_not_found"),
            "has no model named “mercury-2” (404)",
        ),
        (
            ErrorReply(429, "slow down", headers={"retry-after": "20"}),
            "rate limiting this key (429): too many requests. Try again in 20 seconds.",
        ),
        (ErrorReply(503, "overloaded"), "overloaded or unavailable right now (503)"),
        (ErrorReply(500, "oops"), "had an internal error (500)"),
        (StallReply(5), "did not answer within 1 second"),
    ],
)
@pytest.mark.slow
def test_errors_are_sentences_and_the_question_comes_back(
    qapp, qtbot, server, make_panel, reply, message
):
    server.reply(reply)
    panel = make_panel(timeout_s=1)

    async def body():
        await ask(qtbot, panel, "cabins")
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    notice = panel.view.notice.text()
    assert message in notice
    assert "the server at 127.0.0.1" in notice.lower() or "key" in notice
    assert "Traceback" not in notice and "Error code" not in notice
    assert panel.conversation.messages == []  # nothing half-said stays in the history
    assert panel.view.input.toPlainText() == "cabins"  # one key press to try again


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (CutReply(ANSWER[:40]), "The connection broke in the middle of the answer"),
        (EarlyEndReply(ANSWER[:40]), "The answer stopped before"),
    ],
)
def test_a_broken_stream_keeps_what_arrived_marked_incomplete(
    qapp, qtbot, server, make_panel, reply, message
):
    server.reply(reply)
    panel = make_panel()
    bar = panel.view.chat_view.verticalScrollBar()
    add_history(panel.conversation)

    async def body():
        await ask(qtbot, panel, "cabins")
        await answered(panel)
        await asyncio.sleep(0.05)
        await panel.aclose()

    run_qt(qapp, body)
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # the cut answer in sight
    assert message in panel.view.notice.text()
    last = panel.conversation.messages[-1]
    assert last.text == ANSWER[:40] and last.state is ReplyState.INCOMPLETE
    assert ANSWER[:40].split("\n")[0] in shown_text(panel)
    assert "— incomplete: the answer was cut off" in shown_text(panel)


def add_history(conversation, exchanges: int = 6) -> None:
    for _ in range(exchanges):
        conversation.add_user("earlier question")
        conversation.start_reply("mercury-2").text = ANSWER
        conversation.messages[-1].state = ReplyState.DONE


def test_the_chat_follows_the_newest_text_unless_scrolled_up(qtbot):
    conversation = Conversation()
    add_history(conversation)
    view = MercuryChatView(conversation)
    qtbot.addWidget(view)
    view.resize(360, 500)
    view.show()
    view.render_now()
    bar = view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    view.resize(360, 380)  # a notice appears above and the view shrinks
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and bar.maximum() > 0, timeout=2000)
    bar.setValue(10)  # the user scrolls up to read
    view.resize(360, 300)
    conversation.add_user("new question")
    view.render_now()
    assert bar.value() == 10


def test_a_refused_connection(qapp, qtbot, make_panel):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    panel = make_panel(base_url=f"http://127.0.0.1:{port}/v1")

    seen = {}

    async def body():
        await until(lambda: panel.view.status_label.text(), "the model list to fail")
        seen["status"] = panel.view.status_label.text()
        panel.view.input.setPlainText("hello")
        panel.send()
        await answered(panel)
        await panel.aclose()

    run_qt(qapp, body)
    assert seen["status"].startswith("Could not list the models: Could not connect")
    assert panel.view.status_label.text() == ""  # a new request clears old notes
    assert f"Could not connect to the server at 127.0.0.1:{port}" in panel.view.notice.text()
    assert "refused" in panel.view.notice.text()

"""The chat history and how it reads when copied."""

from __future__ import annotations

from studio.mercury.conversation import Conversation, ReplyState


def test_history_goes_to_the_api_without_empty_replies():
    chat = Conversation(system_prompt="be brief")
    chat.add_user("five cabin prompts")
    reply = chat.start_reply("mercury-2")
    assert chat.api_messages() == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "five cabin prompts"},
    ]
    reply.text, reply.state = "1. a cabin", ReplyState.DONE
    assert chat.api_messages()[-1] == {"role": "assistant", "content": "1. a cabin"}
    assert chat.last_reply() is reply


def test_an_unanswered_question_can_be_withdrawn():
    chat = Conversation()
    chat.add_user("first")
    chat.start_reply("m").text = "answer"
    chat.add_user("second")
    chat.start_reply("m")
    assert chat.withdraw_last_question() == "second"
    assert [m.text for m in chat.messages] == ["first", "answer"]
    assert chat.withdraw_last_question() == ""  # an answered question stays
    assert len(chat.messages) == 2


def test_copied_text_marks_how_answers_ended():
    chat = Conversation()
    chat.add_user("hi")
    chat.start_reply("mercury-2").text = "hello"
    chat.messages[-1].state = ReplyState.DONE
    chat.add_user("more")
    cut = chat.start_reply("mercury-2")
    cut.text, cut.state = "half", ReplyState.INCOMPLETE
    assert chat.as_text() == (
        "You: hi\n\nMercury (mercury-2): hello\n\nYou: more\n\n"
        "Mercury (mercury-2): half\n[incomplete: the answer was cut off]"
    )
    chat.clear()
    assert chat.as_text() == "" and chat.last_reply() is None

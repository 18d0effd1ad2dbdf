"""The chat history: what was said, by whom, and how each answer ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

SYSTEM_PROMPT = (
    "You are Mercury, the assistant inside Diffusion Studio, an app that makes images "
    "with Stable Diffusion. Be brief. When asked for image prompts, write each prompt on "
    "its own line as comma-separated visual details (subject first, then style, "
    "lighting, composition), at most 60 words each, without quotes."
)


class ReplyState(Enum):
    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"  # the user pressed Stop
    INCOMPLETE = "incomplete"  # the connection broke or the stream ended early
    TRUNCATED = "truncated"  # the server hit max_tokens (finish_reason "length")


# How a finished answer is marked in the view and in copied text.
STATE_NOTES = {
    ReplyState.STOPPED: "stopped",
    ReplyState.INCOMPLETE: "incomplete: the answer was cut off",
    ReplyState.TRUNCATED: "cut at the max-tokens limit",
}


@dataclass
class ChatMessage:
    role: str  # "user" or "assistant"
    text: str
    state: ReplyState = ReplyState.DONE
    model: str = ""


@dataclass
class Conversation:
    messages: list[ChatMessage] = field(default_factory=list)
    system_prompt: str = SYSTEM_PROMPT

    def add_user(self, text: str) -> ChatMessage:
        message = ChatMessage("user", text)
        self.messages.append(message)
        return message

    def start_reply(self, model: str) -> ChatMessage:
        message = ChatMessage("assistant", "", ReplyState.STREAMING, model)
        self.messages.append(message)
        return message

    def withdraw_last_question(self) -> str:
        """Drops an unanswered question (and its empty reply); returns its text.

        After a request fails before any text arrived, the question goes back
        into the input box, so sending again does not repeat it in the history.
        """
        while self.messages and self.messages[-1].role == "assistant":
            if self.messages[-1].text:
                return ""
            self.messages.pop()
        if self.messages and self.messages[-1].role == "user":
            return self.messages.pop().text
        return ""

    def api_messages(self) -> list[dict[str, str]]:
        """The history as chat-completion messages (empty replies left out)."""
        messages = [{"role": "system", "content": self.system_prompt}]
        messages += [{"role": m.role, "content": m.text} for m in self.messages if m.text]
        return messages

    def last_reply(self) -> ChatMessage | None:
        for message in reversed(self.messages):
            if message.role == "assistant" and message.text:
                return message
        return None

    def clear(self) -> None:
        self.messages.clear()

    def as_text(self) -> str:
        """The conversation as plain text, for the clipboard."""
        parts = []
        for message in self.messages:
            if message.role == "user":
                parts.append(f"You: {message.text}")
                continue
            who = f"Mercury ({message.model})" if message.model else "Mercury"
            note = STATE_NOTES.get(message.state)
            parts.append(f"{who}: {message.text}" + (f"\n[{note}]" if note else ""))
        return "\n\n".join(parts)

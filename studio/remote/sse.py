"""Server-Sent Events from lines of text (the WHATWG event-stream format, as
much of it as `studio serve` sends: event, data, comments)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    name: str
    data: Any  # the data lines, parsed as JSON (None: they were not JSON)


def parse_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """The events of a stream, as they complete (a blank line ends one). Comments
    (the server's keep-alives) and fields other than event and data are skipped."""
    name, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield ServerEvent(name, _json("\n".join(data)))
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)


def _json(text: str) -> Any:
    """The data as JSON; None when it is not (the event's reader says so)."""
    try:
        return json.loads(text)
    except ValueError:
        return None

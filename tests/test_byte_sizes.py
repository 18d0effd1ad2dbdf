"""Byte sizes in sentences: one helper for the engine, the server and the window."""

from __future__ import annotations

import pytest

from studio.engine.byte_sizes import size_text
from studio.server.limits import MAX_IMAGE_FILE, MAX_TEXT_BODY


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 KB"),
        (256 * 2**10, "256 KB"),
        (MAX_TEXT_BODY, "1020 KB"),  # just under 1 MB: whole kilobytes
        (2**20, "1 MB"),
        (3 * 2**19, "1.5 MB"),
        (MAX_IMAGE_FILE, "30 MB"),
        (2**30 - 2**20, "1023 MB"),
        (2**30, "1 GB"),
        (5_150_000_000, "4.8 GB"),  # a model's download, not '4911.4 MB'
    ],
)
def test_sizes_read_as_a_sentence_says_them(size, text):
    assert size_text(size) == text

"""A number of bytes as a sentence says it, declared once for every front end
(the engine's own messages, the CLI, the HTTP server, the window)."""

from __future__ import annotations

KB = 2**10
MB = 2**20
GB = 2**30


def size_text(size: int) -> str:
    """`size` bytes in the unit a reader expects: '256 KB', '30 MB', '1.5 MB',
    '4.8 GB'. Kilobytes are whole; megabytes and gigabytes keep one decimal
    unless it is 0 (a model is gigabytes: '4916.2 MB' reads as a puzzle)."""
    if size < MB:
        return f"{size / KB:.0f} KB"
    if size < GB:
        return f"{size / MB:.1f}".removesuffix(".0") + " MB"
    return f"{size / GB:.1f}".removesuffix(".0") + " GB"

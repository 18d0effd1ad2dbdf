"""The demo model's CLIP tokenizer: byte-level BPE whose merges build every
caption word into a single token (other text still tokenizes, byte by byte)."""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine.tiny import write_clip_tokenizer

from .world import vocabulary

# The pipeline pads every prompt to the tokenizer's length and the UNet attends to
# all of it. The longest caption is 14 tokens with its start and end; 32 leaves
# room for a few words outside the vocabulary (one token per letter). Measured on
# 2026-11-27, a batch-64 UNet step with 24 tokens was about 12 % cheaper than
# with SD's 77, and 32 cost the same as 24 within the noise.
MAX_LENGTH = 32


def word_merges(words: list[str]) -> list[tuple[str, str]]:
    """Left-to-right prefix merges: c+i, ci+r, ..., circl+e</w>. Every merge
    yields a distinct string (a prefix, or a whole word with `</w>`), so the
    vocabulary has no duplicates."""
    merges: dict[tuple[str, str], None] = {}
    # Shorter merges first: a word never stalls on another word's longer prefix.
    for length in range(2, max(map(len, words)) + 1):
        for word in words:
            if len(word) < length:
                continue
            last = word[length - 1] + ("</w>" if length == len(word) else "")
            merges[(word[: length - 1], last)] = None
    return list(merges)


def _pieces(tokenizer, word: str) -> list[str]:
    return tokenizer.tokenize(word)


def _write(folder: Path, merges: list[tuple[str, str]]) -> None:
    write_clip_tokenizer(folder, merges)
    # Two merges may build the same string; keep one id per string, in order.
    path = folder / "vocab.json"
    ordered = sorted(json.loads(path.read_text(encoding="utf-8")).items(), key=lambda kv: kv[1])
    vocab = {token: i for i, (token, _) in enumerate(ordered)}
    path.write_text(json.dumps(vocab), encoding="utf-8")


def write_tokenizer(folder: Path) -> Path:
    """Writes the tokenizer; checks (and repairs) that every caption word is one token.

    Another word's merge can take a pair inside a word first ("gr" of "green"
    inside "background"); such a word gets merges that join its actual pieces."""
    words = vocabulary()
    merges = word_merges(words)
    for _ in range(10):
        _write(folder, merges)
        tokenizer = load_tokenizer(folder)
        split = [(w, _pieces(tokenizer, w)) for w in words if len(_pieces(tokenizer, w)) > 1]
        if not split:
            return folder
        for _word, pieces in split:
            joined = pieces[0]
            for piece in pieces[1:]:
                merges.append((joined, piece))
                joined += piece
    raise RuntimeError(f"words still split into several tokens: {split}")


def load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=MAX_LENGTH)

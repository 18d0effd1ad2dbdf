"""Damaged and malformed metadata never gets out of read_parameters as anything but
text, None or a ParametersReadError (one sentence): PNG, JPEG and WebP files
carrying A1111, ComfyUI and NovelAI parameters, mutated with a fixed seed (values of
the wrong JSON type, odd bytes in the EXIF comment and the recipe, flipped bits,
cut files). What the window does next with the text, request_from_infotext, raises
nothing either."""

from __future__ import annotations

import copy
import io
import json
import random
from collections import Counter

import pytest
from PIL import PngImagePlugin
from test_foreign_parameters import COMFY_DEFAULT, NOVELAI_COMMENT, NOVELAI_V4
from test_image_parameters import RECIPE, _exif_with_user_comment, _noise, _utf16

from studio.engine.image_parameters import ParametersReadError, read_parameters
from studio.engine.infotext import request_from_infotext

CASES_PER_KIND = 300
WRONG_TYPES = (5, -1, 2**70, 1.5, float("nan"), True, None, "", "x", [], [1, "x"], ["3", 0])
WRONG_TYPES += ({}, {"a": 1})
# Pieces that have broken parsers: huge numbers, quotes, deep JSON, lone surrogates.
TEXT_PIECES = ("9" * 5000, '"', ",", ":", "\n", "{" * 3, "[" * 3000, "\\", "nan", "é", "猫")
TEXT_PIECES += ("Sampler: ", "Size: 1x1", "\ud800")


def _slots(value: object) -> list[tuple[dict | list, object]]:
    """Every place in a JSON value that holds a value: (container, key or index)."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return []
    found: list[tuple[dict | list, object]] = []
    for key, child in items:
        found += [(value, key), *_slots(child)]
    return found


def _wrong_types(data: dict, rng: random.Random) -> str:
    data = copy.deepcopy(data)
    for _ in range(rng.randrange(1, 4)):
        container, key = rng.choice(_slots(data))
        container[key] = copy.deepcopy(rng.choice(WRONG_TYPES))  # type: ignore[index]
    return json.dumps(data)


def _edited_text(text: str, rng: random.Random) -> str:
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(text) + 1)
        if rng.random() < 0.6:
            text = text[:at] + rng.choice(TEXT_PIECES) + text[at:]
        else:
            text = text[:at] + text[at + rng.randrange(1, 30) :]
    return text


def _edited_bytes(data: bytes, rng: random.Random) -> bytes:
    """A byte dropped (odd-length UTF-16), inserted or replaced, or the end cut."""
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.3:
            del data[at]
        elif choice < 0.6:
            data[at:at] = rng.choice([b"\xd8\x00", b"\x00\xdc", b"\xff", b"\xfe\xff", b"\0"])
        elif choice < 0.8:
            data[at] = rng.randrange(256)
        else:
            del data[max(at, 9) :]
    return bytes(data)


def _png(texts: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value.encode("utf-8", "surrogatepass").decode("latin-1"))
    buffer = io.BytesIO()
    _noise(16).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _exif_image(image_format: str, comment: bytes) -> bytes:
    buffer = io.BytesIO()
    _noise(16).save(buffer, format=image_format, exif=_exif_with_user_comment(comment))
    return buffer.getvalue()


def _user_comment(rng: random.Random) -> bytes:
    order = rng.choice(["be", "le", "bom", "ascii"])
    body = RECIPE.encode() if order == "ascii" else _utf16(RECIPE, order)
    code = b"ASCII\0\0\0" if order == "ascii" else b"UNICODE\0"
    return _edited_bytes(code + body, rng)


MAKERS = {
    "a1111-png": lambda rng: _png({"parameters": _edited_text(RECIPE, rng)}),
    "a1111-jpeg": lambda rng: _exif_image("JPEG", _user_comment(rng)),
    "a1111-webp": lambda rng: _exif_image("WEBP", _user_comment(rng)),
    "comfyui-png": lambda rng: _png({"prompt": _wrong_types(COMFY_DEFAULT, rng)}),
    "novelai-png": lambda rng: _png(
        {
            "Software": "NovelAI",
            "Source": "NovelAI Diffusion V4.5 4BDE2A90",
            "Description": "2girls, cafe",
            "Comment": _wrong_types(rng.choice([NOVELAI_COMMENT, NOVELAI_V4]), rng),
        }
    ),
}


def _damaged(data: bytes, rng: random.Random) -> bytes:
    """Half the files also get flipped bits or lose their end."""
    if rng.random() < 0.5:
        return data
    data = bytearray(data[: rng.randrange(8, len(data) + 1)] if rng.random() < 0.5 else data)
    for _ in range(rng.randrange(1, 5)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


@pytest.mark.parametrize("kind", MAKERS)
def test_mutated_files_give_text_none_or_one_sentence(kind):
    rng = random.Random(f"parameters-fuzz-{kind}")
    outcomes: Counter[str] = Counter()
    for _ in range(CASES_PER_KIND):
        data = _damaged(MAKERS[kind](rng), rng)
        try:
            text = read_parameters(data)
        except ParametersReadError as error:
            message = str(error)
            assert message.endswith(".") and "\n" not in message and message[:1].isupper()
            outcomes["sentence"] += 1
            continue
        if text is None:
            outcomes["none"] += 1
            continue
        assert isinstance(text, str)
        outcomes["text"] += 1
        request, notices = request_from_infotext(text)  # what a restore does next
        assert isinstance(request.prompt, str) and all(isinstance(n, str) for n in notices)
    # Most mutations leave a readable recipe: the cases reach the readers.
    assert outcomes["text"] > CASES_PER_KIND // 5, outcomes

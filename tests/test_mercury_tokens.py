"""The CLIP token estimate against counts from the real CLIP BPE tokenizer.

The counts were measured once with OpenAI's CLIP vocabulary
(bpe_simple_vocab_16e6) through transformers' CLIPTokenizer; the file is not
shipped, so the numbers are kept here.
"""

from __future__ import annotations

import pytest

from studio.mercury.tokens import (
    PROMPT_TOKEN_LIMIT,
    describe_token_count,
    estimate_clip_tokens,
    fits_clip_window,
)

MEASURED = [
    (16, "a photorealistic portrait of an astronaut, cinematic lighting, 8k, highly detailed"),
    (
        40,
        "a cozy wooden cabin in a snowy pine forest at dusk, warm light glowing from the "
        "windows, smoke rising from the chimney, soft falling snow, volumetric fog, ultra "
        "detailed, 35mm photograph",
    ),
    (
        24,
        "blurry, low quality, deformed hands, extra fingers, watermark, text, jpeg "
        "artifacts, oversaturated",
    ),
    (
        26,
        "masterpiece, best quality, (detailed face:1.2), 1girl, solo, looking at viewer, "
        "cherry blossoms, kimono",
    ),
    (
        38,
        "An isometric illustration of a futuristic cyberpunk city with neon signs, flying "
        "cars, holographic advertisements, rain-slicked streets, by Syd Mead and Moebius, "
        "trending on ArtStation",
    ),
    (
        32,
        "Macro shot of a dewdrop on a spider web at sunrise, bokeh background, shallow depth "
        "of field, Canon EOS R5, f/2.8",
    ),
    (
        26,
        "A bowl of ramen with chashu pork, soft-boiled egg, green onions, steam rising, food "
        "photography, top-down",
    ),
    (
        21,
        "ultra-wide angle shot of the Milky Way over a desert canyon, long exposure, "
        "astrophotography, crisp stars",
    ),
    (4, "hello!!! ... ???"),
    (9, "(((masterpiece))), [[bad]]"),
    (9, "café crème brûlée"),
    (16, "一只猫在窗台上"),
]


@pytest.mark.parametrize(("real", "text"), MEASURED)
def test_each_estimate_is_close(real, text):
    assert abs(estimate_clip_tokens(text) - real) <= max(2, 0.2 * real)


def test_the_total_is_within_five_percent():
    real = sum(count for count, _ in MEASURED)
    estimated = sum(estimate_clip_tokens(text) for _, text in MEASURED)
    assert abs(estimated - real) / real < 0.05


def test_the_window_and_what_the_ui_says():
    short = "a red fox in the snow"
    long = ", ".join(["a red fox in the snow"] * 15)
    assert fits_clip_window(short) and not fits_clip_window(long)
    assert describe_token_count(short) == f"about 6 of {PROMPT_TOKEN_LIMIT} tokens"
    assert "longer than the text encoder's 75-token window" in describe_token_count(long)
    assert estimate_clip_tokens("") == 0

"""PNG generation parameters: A1111-compatible text, parsing, restoring, atomic saving."""

from __future__ import annotations

import json
import os
import random
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

import studio
from studio.engine.image_parameters import read_parameters
from studio.engine.infotext import (
    MAX_INFOTEXT_CHARS,
    SAMPLER_NAMES,
    InfotextTooLong,
    _raw_pairs,
    format_infotext,
    parse_infotext,
    request_from_infotext,
    scheduler_from_sampler,
)
from studio.engine.pngfile import save_png
from studio.engine.request import SCHEDULERS, GenerationRequest, InpaintContext, LoraSpec, Mode

PROMPT = 'a "cozy" cabin, snow: heavy\nsecond line, 50% fog\\'
NEGATIVE = "blurry, lowres\nwatermark: text"
VERSION_PAIR = f"Version: studio {studio.__version__}"

# A1111 1.10 txt2img with hires fix and a LoRA, as its "PNG Info" tab shows it.
A1111_SAMPLE = """masterpiece, best quality, a lighthouse on a cliff,
(stormy sky:1.2), <lora:a:0.5>
Negative prompt: lowres, bad anatomy,
worst quality, jpeg artifacts
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3735928559, \
Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, \
Clip skip: 2, Hires upscale: 2, Hires steps: 10, Hires upscaler: R-ESRGAN 4x+, \
Lora hashes: "a: 123, b: 456", Version: v1.10.1"""


def a1111_parse(text: str) -> tuple[str, str, dict[str, str]]:
    """The algorithm of A1111's `parse_generation_parameters`, to check that A1111
    reads our text the way we do."""
    pair = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    *lines, last = text.strip().split("\n")
    if len(pair.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt, negative, in_negative = "", "", False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[16:].strip()
        if in_negative:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    params = {}
    for key, value in pair.findall(last):
        params[key] = json.loads(value) if value[:1] == value[-1:] == '"' else value
    return prompt, negative, params


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk of a PNG file, checking lengths and CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[-1][0] == b"IEND"
    return chunks


def text_chunks(path: Path) -> dict[bytes, tuple[bytes, bytes]]:
    """keyword -> (chunk type, raw value) of the text chunks, in file order."""
    out = {}
    for kind, body in png_chunks(path.read_bytes()):
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            keyword, _, rest = body.partition(b"\0")
            out[keyword] = (kind, rest)
    return out


def _request(mode: Mode, scheduler: str) -> GenerationRequest:
    per_mode = {
        Mode.TXT2IMG: {},
        Mode.IMG2IMG: {"strength": 0.55},
        Mode.INPAINT: {
            "strength": 0.6,
            "mask_blur": 9,
            "inpaint_context": InpaintContext.MASKED,
            "inpaint_padding": 48,
        },
        Mode.CONTROLNET_CANNY: {
            "controlnet": "canny, v1.1: sd15",
            "canny_low": 50,
            "canny_high": 150,
            "controlnet_scale": 0.85,
        },
    }
    return GenerationRequest(
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        mode=mode,
        scheduler=scheduler,
        steps=23,
        guidance_scale=6.5,
        width=640,
        height=448,
        batch_count=3,
        **per_mode[mode],
    )


def test_every_scheduler_has_an_a1111_name():
    assert set(SAMPLER_NAMES) == set(SCHEDULERS)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("mode", list(Mode))
def test_request_round_trips_through_the_infotext(mode, scheduler):
    request = _request(mode, scheduler)
    label = "C:\\models\\dream, v2.safetensors"
    text = format_infotext(request, 2**64 - 1, label)

    restored, notices = request_from_infotext(text)

    assert notices == []
    assert restored == request.replace(seed=2**64 - 1, model=label)
    # A1111 reads the same prompt, negative prompt and values.
    prompt, negative, params = a1111_parse(text)
    assert (prompt, negative) == (PROMPT, NEGATIVE)
    assert params == parse_infotext(text).params
    assert params["Mode"] == mode.value
    assert ("Denoising strength" in params) == (mode in (Mode.IMG2IMG, Mode.INPAINT))
    assert ("Mask blur" in params) == (mode is Mode.INPAINT)
    assert ("ControlNet 0" in params) == (mode is Mode.CONTROLNET_CANNY)
    assert text.endswith(VERSION_PAIR)


def test_format_is_exactly_a1111s():
    request = GenerationRequest(
        prompt="a cat",
        negative_prompt="blurry",
        scheduler="euler-a",
        steps=20,
        guidance_scale=7.0,
        width=512,
        height=512,
    )
    assert format_infotext(request, 123, "sd15") == (
        "a cat\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 512x512, Model: sd15, "
        f"Mode: txt2img, {VERSION_PAIR}"
    )
    no_negative = format_infotext(request.replace(negative_prompt=""), 1, "sd15")
    assert no_negative.startswith("a cat\nSteps: 20, ")


def test_inpaint_controlnet_and_karras_keys_use_a1111_names():
    inpaint = format_infotext(_request(Mode.INPAINT, "dpm++2m-karras"), 5, "sd15")
    assert (
        "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 5, Size: 640x448, "
        "Model: sd15, Denoising strength: 0.6, Mask blur: 9, Inpaint area: Only masked, "
        "Masked area padding: 48, Mode: inpaint, Batch size: 3, "
    ) in inpaint
    # Plain DPM++ 2M names its schedule: A1111 >= 1.9 would otherwise run Karras.
    assert "Sampler: DPM++ 2M, Schedule type: Uniform," in format_infotext(
        _request(Mode.TXT2IMG, "dpm++2m"), 5, "sd15"
    )
    control = _request(Mode.CONTROLNET_CANNY, "euler").replace(
        controlnet="/home/alice/models/canny-cn", controlnet_scale=1.0, canny_low=100
    )
    assert (
        'ControlNet 0: "Module: canny, Model: canny-cn, Weight: 1, Threshold A: 100, '
        'Threshold B: 150"'
    ) in format_infotext(control, 5, "sd15")


def test_loras_and_extra_items_are_written_before_the_version():
    request = _request(Mode.TXT2IMG, "euler").replace(
        loras=(LoraSpec("/x/detail.safetensors", 0.8), LoraSpec("/y/style.safetensors", 1.0))
    )
    text = format_infotext(request, 1, "sd15", {"Model hash": "abc123", "Watermark": 1})
    assert text.endswith(
        f'Lora: "detail:0.8, style:1", Batch size: 3, Model hash: abc123, Watermark: 1, '
        f"{VERSION_PAIR}"
    )
    base = GenerationRequest(prompt="", loras=(LoraSpec("/x/detail.safetensors", 0.3),))
    restored, notices = request_from_infotext(text, base)
    assert restored.loras == base.loras  # files are not in the text; the base's stay
    assert notices == ["This image used LoRA detail:0.8, style:1: load the files to apply them."]
    with pytest.raises(ValueError, match="cannot be an infotext key"):
        format_infotext(request, 1, "sd15", {"Bad: key": "x"})


def test_a1111_sample_parses_and_restores():
    parsed = parse_infotext(A1111_SAMPLE)
    assert parsed.prompt == (
        "masterpiece, best quality, a lighthouse on a cliff,\n(stormy sky:1.2), <lora:a:0.5>"
    )
    assert parsed.negative_prompt == "lowres, bad anatomy,\nworst quality, jpeg artifacts"
    assert parsed.params["Lora hashes"] == "a: 123, b: 456"
    assert parsed.params["Hires upscale"] == "2"
    assert parsed.params["Hires upscaler"] == "R-ESRGAN 4x+"
    assert parsed.params["Schedule type"] == "Karras"
    assert parsed.params["Version"] == "v1.10.1"
    assert set(parsed.extras) == {
        "Model hash", "Clip skip", "Hires upscale", "Hires steps", "Hires upscaler",
        "Lora hashes", "Version",
    }  # fmt: skip

    base = GenerationRequest(prompt="old", mode=Mode.IMG2IMG, batch_count=2)
    restored, notices = request_from_infotext(A1111_SAMPLE, base)
    assert restored.prompt == parsed.prompt
    assert restored.negative_prompt == parsed.negative_prompt
    assert restored.scheduler == "dpm++2m-karras"
    assert (restored.steps, restored.guidance_scale, restored.seed) == (28, 6.5, 3735928559)
    assert (restored.width, restored.height) == (512, 768)
    assert restored.model == "v1-5-pruned-emaonly"
    assert restored.strength == 0.45
    assert restored.mode is Mode.IMG2IMG  # no Mode key: the base's mode is kept
    assert restored.batch_count == 2
    assert len(notices) == 2
    assert "hires fix" in notices[0]
    assert notices[1] == "This image used LoRA a, b: load the files to apply them."


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected", "has_notice"),
    [
        ("DPM++ 2M Karras", None, "dpm++2m-karras", False),  # A1111 before 1.9
        ("DPM++ 2M", "Karras", "dpm++2m-karras", False),
        ("DPM++ 2M", None, "dpm++2m", False),
        ("DPM++ 2M", "Uniform", "dpm++2m", False),
        ("DPM++ 2M", "Automatic", "dpm++2m-karras", False),  # A1111's default for it
        ("Euler a", "Automatic", "euler-a", False),
        ("euler_ancestral", "normal", "euler-a", False),  # ComfyUI / Fooocus spelling
        ("Euler a", "Karras", "euler-a", True),
        ("Euler Exponential", None, "euler", True),
        ("DPM++ 2M SDE Karras", None, None, True),
        ("UniPC", None, None, True),
    ],
)
def test_sampler_names_map_to_schedulers(sampler, schedule, expected, has_notice):
    scheduler, notice = scheduler_from_sampler(sampler, schedule)
    assert scheduler == expected
    assert (notice is not None) == has_notice


def test_unknown_sampler_keeps_the_base_scheduler_and_its_raw_name():
    text = "a fox\nSteps: 30, Sampler: DPM++ 2M SDE Karras, CFG scale: 4, Seed: 9, Size: 1152x896"
    restored, notices = request_from_infotext(text, GenerationRequest(prompt="", scheduler="ddim"))
    assert restored.scheduler == "ddim"
    assert notices == [
        "The sampler 'DPM++ 2M SDE Karras' is not available here, so it was not restored."
    ]
    assert parse_infotext(text).extras == {"Sampler": "DPM++ 2M SDE Karras"}


def test_our_recipe_without_a_sampler_restores_the_models_own():
    # This app leaves Sampler out only for a model's own scheduler it has no name for
    # (SD 1.5's PNDM): restoring that recipe must not keep the panel's sampler.
    recipe = GenerationRequest("a fox", steps=3, guidance_scale=7.0, width=64, height=64)
    text = format_infotext(recipe, 9, "sd15")
    assert "Sampler" not in text and text.endswith(VERSION_PAIR)
    base = GenerationRequest(prompt="", scheduler="ddim")
    restored, notices = request_from_infotext(text, base)
    assert (restored.scheduler, restored.seed, notices) == (None, 9, [])
    # Another tool's text without a sampler names none: the chosen one stays.
    restored, notices = request_from_infotext("a fox\nSteps: 3, Seed: 9, Size: 64x64", base)
    assert (restored.scheduler, notices) == ("ddim", [])


def test_old_karras_sampler_name_restores_without_notice():
    text = "a fox\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 9, Size: 512x512"
    restored, notices = request_from_infotext(text)
    assert (restored.scheduler, notices) == ("dpm++2m-karras", [])
    assert parse_infotext(text).extras == {}


def test_missing_negative_prompt_and_missing_parameters_line():
    parsed = parse_infotext("a cat,\non a mat\r\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1")
    assert (parsed.prompt, parsed.negative_prompt) == ("a cat,\non a mat", "")
    assert parsed.params == {"Steps": "20", "Sampler": "Euler", "CFG scale": "7", "Seed": "1"}
    # Two pairs are not a parameters line (A1111's rule): it stays in the prompt.
    only_prompt = parse_infotext("a cat\nstyle: oil, mood: calm")
    assert only_prompt.prompt == "a cat\nstyle: oil, mood: calm"
    assert only_prompt.params == {}
    empty_prompt = parse_infotext("Negative prompt: ugly\nSteps: 2, Seed: 3, Size: 64x64")
    assert (empty_prompt.prompt, empty_prompt.negative_prompt) == ("", "ugly")


def test_garbage_values_give_notices_not_exceptions():
    text = (
        "a cat\nSteps: twenty, Sampler: Euler, CFG scale: nan, Seed: -5, Size: 512by512, "
        "Denoising strength: 1.5, Mask blur: 2.5, Masked area padding: 1e400, Mode: sideways, "
        'Inpaint area: Somewhere, Batch size: 99, ControlNet 0: "Module: canny, Weight: lots, '
        'Threshold A: 300, Threshold B: 90"'
    )
    base = GenerationRequest(
        prompt="old", steps=30, guidance_scale=5.0, seed=7, width=640, height=640, mask_blur=3
    )
    restored, notices = request_from_infotext(text, base)
    assert restored == base.replace(prompt="a cat", scheduler="euler", canny_high=90)
    for key in (
        "Steps", "CFG scale", "Seed", "Size", "Denoising strength", "Mask blur",
        "Masked area padding", "Mode", "Inpaint area", "Batch size", "Weight", "Threshold A",
    ):  # fmt: skip
        assert sum(notice.startswith(key + " ") for notice in notices) == 1, key
    assert len(notices) == 12


def test_numbers_and_json_too_deep_for_python_are_notices_or_text():
    # int() refuses over 4300 digits with a ValueError, json.loads a deep nesting with
    # RecursionError: both once escaped from a restore.
    text = "a cat\nSteps: 2, Seed: 3, Size: " + "9" * 5000 + "x64"
    restored, notices = request_from_infotext(text)
    assert (restored.steps, restored.width) == (2, None)
    assert notices == [f"Size '{'9' * 5000}x64' is not a usable size, so it was not restored."]
    deep = '{"prompt": ' + "[" * 100_000 + "\nSteps: 2, Seed: 3, Size: 64x64"
    restored, notices = request_from_infotext(deep)
    assert (restored.prompt, restored.width, notices) == ('{"prompt": ' + "[" * 100_000, 64, [])


def test_other_controlnet_modules_are_reported():
    text = 'x\nSteps: 2, Seed: 3, Mode: txt2img, ControlNet 0: "Module: depth, Weight: 1"'
    restored, notices = request_from_infotext(text)
    assert restored.controlnet_scale == 1.0
    assert notices == ["ControlNet 'depth' is not available; only canny is."]


def test_fooocus_json_scheme_is_read():
    data = {
        "prompt": "a red fox, autumn",
        "negative_prompt": "blurry",
        "steps": 30,
        "seed": "1234567890123",
        "guidance_scale": 4.0,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "resolution": "(1152, 896)",
        "base_model": "juggernautXL_v8",
        "loras": [["sd_xl_offset", 0.1]],
        "version": "Fooocus v2.5.0",
    }
    restored, notices = request_from_infotext(json.dumps(data))
    assert (restored.prompt, restored.negative_prompt) == ("a red fox, autumn", "blurry")
    assert (restored.steps, restored.seed, restored.guidance_scale) == (30, 1234567890123, 4.0)
    assert (restored.scheduler, restored.width, restored.height) == ("dpm++2m-karras", 1152, 896)
    assert restored.model == "juggernautXL_v8"
    assert notices == []


def _image() -> Image.Image:
    image = Image.new("RGB", (24, 16), (10, 20, 30))
    image.putpixel((3, 4), (255, 0, 0))
    return image


def test_save_png_writes_a_text_chunk_before_the_pixels(tmp_path):
    text = format_infotext(_request(Mode.INPAINT, "euler"), 42, "café-model")
    path = save_png(_image(), tmp_path / "out.png", text)

    assert path == tmp_path / "out.png"
    chunks = text_chunks(path)
    assert chunks[b"parameters"] == (b"tEXt", text.encode("latin-1"))
    assert chunks[b"Software"] == (b"tEXt", f"Diffusion Studio {studio.__version__}".encode())
    kinds = [kind for kind, _ in png_chunks(path.read_bytes())]
    assert kinds.index(b"tEXt") < kinds.index(b"IDAT")  # readers that stop at the pixels see it
    assert read_parameters(path) == text  # latin-1 "é" is not taken for broken UTF-8
    with Image.open(path) as reread:
        assert reread.getpixel((3, 4)) == (255, 0, 0)
    assert os.listdir(tmp_path) == ["out.png"]


def test_non_latin1_prompt_is_stored_as_itxt_and_round_trips(tmp_path):
    prompt = "猫 🐱 on a roof, 夜"
    request = _request(Mode.TXT2IMG, "lcm").replace(prompt=prompt, negative_prompt="")
    text = format_infotext(request, 1, "sd15")
    path = save_png(_image(), tmp_path / "cat.png", text)

    kind, raw = text_chunks(path)[b"parameters"]
    # iTXt: compression flag 0, method 0, empty language and translated keyword, UTF-8 text.
    assert (kind, raw) == (b"iTXt", b"\0\0\0\0" + text.encode("utf-8"))
    assert text_chunks(path)[b"Software"][0] == b"tEXt"
    restored, notices = request_from_infotext(read_parameters(path))
    assert (restored.prompt, notices) == (prompt, [])


def test_utf8_written_into_text_by_other_tools_is_repaired(tmp_path):
    text = "ciudad de México, 東京\nSteps: 20, Seed: 1, Size: 64x64"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text.encode("utf-8"))  # raw bytes: tEXt whatever they hold
    _image().save(tmp_path / "utf8.png", pnginfo=info)
    assert text_chunks(tmp_path / "utf8.png")[b"parameters"][0] == b"tEXt"
    assert read_parameters(tmp_path / "utf8.png") == text


def test_parameters_after_the_pixel_data_are_found(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add(b"tEXt", b"parameters\0late\nSteps: 1, Seed: 2, Size: 64x64", after_idat=True)
    _image().save(tmp_path / "late.png", pnginfo=info)
    assert read_parameters(tmp_path / "late.png") == "late\nSteps: 1, Seed: 2, Size: 64x64"


def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = save_png(_image(), tmp_path / "keep.png", "first\nSteps: 1, Seed: 1, Size: 64x64")
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        save_png(_image(), path, "second\nSteps: 2, Seed: 2, Size: 64x64")
    with pytest.raises(OSError, match="No space left"):
        save_png(_image(), tmp_path / "new.png", "third\nSteps: 3, Seed: 3, Size: 64x64")
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]
    assert read_parameters(path).startswith("first\n")


def test_save_replaces_an_existing_file_with_normal_permissions(tmp_path):
    path = tmp_path / "again.png"
    save_png(_image(), path, "one\nSteps: 1, Seed: 1, Size: 64x64")
    save_png(_image(), path, "two\nSteps: 2, Seed: 2, Size: 64x64")
    assert read_parameters(path).startswith("two\n")
    assert os.listdir(tmp_path) == ["again.png"]
    if os.name == "posix":
        umask = os.umask(0o022)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_parameter_pairs_are_found_as_a1111s_regex_finds_them():
    pair = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    rng = random.Random(23)
    alphabet = 'ab_é1 -/:,"\\\t\n'
    lines = ["", "a: 1", "-a: 1, ab: 2", 'k: "x, y", z-w/v: "q\\"r",tail: ', "x a: 1, :b: 2"]
    lines += ["".join(rng.choices(alphabet, k=rng.randrange(40))) for _ in range(5000)]
    for line in lines:
        assert _raw_pairs(line) == pair.findall(line), repr(line)


def test_a_long_line_without_a_colon_parses_in_linear_time():
    # A1111's regex took 9 s on 20k characters and grew with the square: on these
    # 250k a quadratic parser would take over 20 minutes, a linear one milliseconds.
    line = ("a long prompt line without any colon " * 7000)[:250_000]
    parsed = parse_infotext("first line\n" + line)
    assert parsed.prompt == "first line\n" + line.strip() and parsed.params == {}
    pairs = ("Steps: 20, " * 23_000)[:250_000]  # the same length, all pairs
    assert parse_infotext("a cat\n" + pairs).params == {"Steps": "20"}


def test_many_unclosed_lora_tags_do_not_stall_the_restore():
    prompt = "<lora:x:" * 30_000  # 240k characters, no tag ever closed
    restored, notices = request_from_infotext(prompt + "\nSteps: 3, Seed: 4, Size: 64x64")
    assert (restored.prompt, restored.steps, notices) == (prompt, 3, [])


def test_a_text_longer_than_any_recipe_is_refused_with_a_sentence():
    huge = "a" * 1_500_000  # 1.5 MB: the chunk the old parser never finished
    with pytest.raises(InfotextTooLong, match=r"^The parameters text is 1,500,000 characters"):
        parse_infotext(huge)
    with pytest.raises(InfotextTooLong, match="more than any recipe"):
        request_from_infotext("a cat\n" + "Steps: 1, " * 30_000)
    within = "b" * (MAX_INFOTEXT_CHARS - 1)
    assert parse_infotext(within).prompt == within

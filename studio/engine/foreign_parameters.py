"""Other tools' generation parameters, turned into A1111 text.

ComfyUI stores its prompt graph in `prompt` (read in comfyui_parameters.py);
InvokeAI 3+ a flat JSON object (`invokeai_metadata`), 2.x `sd-metadata` and 1.x a
command line (`Dream`); NovelAI the prompt in `Description` and the rest as JSON
in `Comment`. What they hold
(prompt, negative prompt, seed, steps, CFG, sampler, size, model, LoRAs, strength)
becomes the A1111 text that `studio params` prints and the window restores from,
whose reader then gives a notice for whatever this app cannot apply.

NovelAI's copy hidden in the alpha channel is not read: it needs the pixels.
No torch and no Qt here.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from .comfyui_parameters import infotext_from_comfyui
from .foreign_names import a1111_sampler, json_object, lora_item, number, size_text, text_value
from .infotext import compose_infotext

COMFYUI_KEY = "prompt"
DREAM_KEYS = ("Dream", "dream")
INVOKEAI_KEYS = ("invokeai_metadata", "sd-metadata", *DREAM_KEYS)
NOVELAI_KEYS = ("Comment", "Description", "Software", "Source")
KEYS = frozenset({COMFYUI_KEY, *INVOKEAI_KEYS, *NOVELAI_KEYS})


def infotext_from_foreign(texts: Mapping[str, str]) -> str | None:
    """The A1111 text for another tool's text chunks, or None when none of them
    holds parameters this module knows."""
    readers: tuple[tuple[str, Callable[[Any], str | None]], ...] = (
        (COMFYUI_KEY, infotext_from_comfyui),
        ("invokeai_metadata", _from_invokeai),
        ("sd-metadata", _from_invokeai_2),
    )
    for key, read in readers:
        data = json_object(texts[key]) if key in texts else None
        if data is not None and (text := read(data)):
            return text
    for key in DREAM_KEYS:
        if key in texts and (text := _from_dream(texts[key])):
            return text
    if texts.get("Software", "").startswith("NovelAI") and "Comment" in texts:
        return _from_novelai(texts)
    return None


# -- InvokeAI -----------------------------------------------------------------------


def _invokeai_model(model: object) -> str | None:
    # 3.x: {"model_name": ..., "base_model": ...}; 4.x+: {"key", "hash", "name", "base", "type"}
    if isinstance(model, dict):
        return text_value(model.get("name")) or text_value(model.get("model_name"))
    return text_value(model)


def _invokeai_loras(loras: object) -> str | None:
    items = []
    for lora in loras if isinstance(loras, list) else []:
        if isinstance(lora, dict):
            name = _invokeai_model(lora.get("model") or lora.get("lora"))
            if name:
                items.append(lora_item(name, number(lora.get("weight"))))
    return ", ".join(items) or None


def _from_invokeai(data: dict[str, Any]) -> str | None:
    if not {"positive_prompt", "seed", "steps"} & data.keys():
        return None
    params: dict[str, object] = {"Steps": number(data.get("steps"))}
    params |= a1111_sampler(data.get("scheduler"))
    params["CFG scale"] = number(data.get("cfg_scale"))
    params["Seed"] = number(data.get("seed"))
    params["Size"] = size_text(data.get("width"), data.get("height"))
    params["Model"] = _invokeai_model(data.get("model"))
    strength = number(data.get("strength"))
    if "img2img" in str(data.get("generation_mode", "")) and strength is not None:
        params["Denoising strength"] = strength
    params["Lora"] = _invokeai_loras(data.get("loras"))
    params["Clip skip"] = number(data.get("clip_skip")) or None
    params["Version"] = _invokeai_version(data)
    prompt, negative = data.get("positive_prompt"), data.get("negative_prompt")
    return compose_infotext(text_value(prompt) or "", text_value(negative) or "", params)


def _invokeai_version(data: dict[str, Any]) -> str | None:
    version = text_value(data.get("app_version"))
    return f"InvokeAI {version}" if version else None


def _split_bracketed_negative(prompt: str) -> tuple[str, str]:
    # InvokeAI before 3.0 wrote the negative prompt inside the prompt, in [brackets].
    negative = ", ".join(part.strip() for part in re.findall(r"\[([^\[\]]*)\]", prompt))
    # Each bracket goes with the space before it; split, not `\s*\[`, which retries
    # from every space of a long run of them (quadratic time).
    *before, last = re.split(r"\[[^\[\]]*\]", prompt)
    positive = "".join([*(piece.rstrip() for piece in before), last]).strip(" ,")
    return positive, negative


def _from_invokeai_2(data: dict[str, Any]) -> str | None:
    image = data.get("image")
    if not isinstance(image, dict):
        return None
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": ..., "weight": ...}, ...]
        parts = (text_value(p.get("prompt")) for p in prompt if isinstance(p, dict))
        prompt = " ".join(part for part in parts if part)
    positive, negative = _split_bracketed_negative(text_value(prompt) or "")
    params: dict[str, object] = {"Steps": number(image.get("steps"))}
    params |= a1111_sampler(image.get("sampler"))
    params["CFG scale"] = number(image.get("cfg_scale"))
    params["Seed"] = number(image.get("seed"))
    params["Size"] = size_text(image.get("width"), image.get("height"))
    params["Model"] = text_value(data.get("model_weights"))
    params["Model hash"] = text_value(data.get("model_hash"))
    if image.get("type") == "img2img":
        params["Denoising strength"] = number(image.get("strength"))
    params["Version"] = _invokeai_version(data)
    return compose_infotext(positive, negative, params)


_DREAM_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "-s": ("Steps", int),
    "-S": ("Seed", int),
    "-W": ("width", int),
    "-H": ("height", int),
    "-C": ("CFG scale", float),
    "-A": ("Sampler", str),
    "-f": ("Denoising strength", float),
}


def _from_dream(line: str) -> str | None:
    """InvokeAI 1.x: '"a cat [ugly]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'."""
    try:
        words = shlex.split(line)
    except ValueError:  # an unclosed quote
        return None
    if not words or not any(word in _DREAM_OPTIONS for word in words):
        return None
    values: dict[str, object] = {}
    for option, value in itertools.pairwise(words[1:]):
        if option in _DREAM_OPTIONS:
            name, kind = _DREAM_OPTIONS[option]
            try:
                values[name] = kind(value)
            except ValueError:
                continue
    positive, negative = _split_bracketed_negative(words[0])
    params = {"Steps": values.get("Steps")}
    params |= a1111_sampler(values["Sampler"]) if "Sampler" in values else {}
    params |= {key: values.get(key) for key in ("CFG scale", "Seed")}
    params["Size"] = size_text(values.get("width"), values.get("height"))
    params["Denoising strength"] = values.get("Denoising strength")
    return compose_infotext(positive, negative, params)


# -- NovelAI ------------------------------------------------------------------------


def _caption(prompt: object) -> str | None:
    # V4: {"caption": {"base_caption": ..., "char_captions": [{"char_caption": ...}]}}
    caption = prompt.get("caption") if isinstance(prompt, dict) else None
    if not isinstance(caption, dict):
        return None
    chars = caption.get("char_captions")
    chars = chars if isinstance(chars, list) else []  # a malformed list is as if absent
    captions = [caption.get("base_caption")]
    captions += [c.get("char_caption") for c in chars if isinstance(c, dict)]
    return " | ".join(text for c in captions if (text := text_value(c))) or None


def _from_novelai(texts: Mapping[str, str]) -> str | None:
    data = json_object(texts["Comment"]) or {}
    prompt = _caption(data.get("v4_prompt")) or text_value(data.get("prompt"))
    prompt = prompt or texts.get("Description")
    negative = _caption(data.get("v4_negative_prompt")) or text_value(data.get("uc")) or ""
    if not prompt and not data:
        return None
    params: dict[str, object] = {"Steps": number(data.get("steps"))}
    schedule = data.get("noise_schedule")
    params |= a1111_sampler(data.get("sampler"), None if schedule == "native" else schedule)
    params["CFG scale"] = number(data.get("scale"))
    params["Seed"] = number(data.get("seed"))
    params["Size"] = size_text(data.get("width"), data.get("height"))
    # Source: "NovelAI Diffusion V4.5 4BDE2A90": the model and an 8-digit hash. Split
    # into words, not matched with `(.*?)\s+`, which backtracks quadratically through
    # a long run of spaces.
    source = texts.get("Source", "").split()
    hashed = len(source) > 1 and re.fullmatch(r"[0-9A-F]{8}", source[-1]) is not None
    params["Model"] = " ".join(source[:-1] if hashed else source) or None
    params["Model hash"] = source[-1] if hashed else None
    if "img2img" in str(data.get("request_type", "")).lower():
        params["Denoising strength"] = number(data.get("strength"))
    params["Version"] = texts.get("Software")
    return compose_infotext(prompt or "", negative, params)

"""Other tools' names for what A1111 text holds: samplers, schedules, checkpoints,
LoRAs, sizes and numbers, read leniently from their JSON. Shared by the readers of
ComfyUI, InvokeAI and NovelAI files. No torch and no Qt here."""

from __future__ import annotations

import json
import re
from pathlib import PureWindowsPath
from typing import Any

# k-diffusion's sampler names (ComfyUI's; the others' once a1111_sampler tidied them) -> A1111's.
_A1111_SAMPLERS = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "lcm": "LCM",
}
_SAMPLER_ALIASES = {  # InvokeAI's and NovelAI's spellings
    "euler_a": "euler_ancestral",
    "kdpm_2": "dpm_2",
    "kdpm_2_a": "dpm_2_ancestral",
    "dpm_2_a": "dpm_2_ancestral",
    "unipc": "uni_pc",
    "ddim_v3": "ddim",
}
# ComfyUI's and NovelAI's noise schedules -> A1111's "Schedule type".
_SCHEDULES = {
    "normal": "Normal",
    "karras": "Karras",
    "exponential": "Exponential",
    "polyexponential": "Polyexponential",
    "sgm_uniform": "SGM Uniform",
    "simple": "Simple",
    "ddim_uniform": "DDIM",
    "beta": "Beta",
    "kl_optimal": "KL Optimal",
}


def json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        return None
    return data if isinstance(data, dict) else None


def text_value(value: object) -> str | None:
    """A text another tool wrote, or None for a blank one or anything else (a number,
    list or object) where a text belongs: a malformed value is as if it were absent."""
    return value if isinstance(value, str) and value.strip() else None


def a1111_sampler(name: object, schedule: object = None) -> dict[str, object]:
    """A1111's Sampler and Schedule type for another tool's names; unknown names stay
    as written, so the restore notice names what the image really used. Nothing for
    a name that is not a text."""
    if (raw := text_value(name)) is None:
        return {}
    raw = raw.strip()
    key = raw.lower().removeprefix("k_")
    karras = key.endswith("_k")  # InvokeAI: "dpmpp_2m_k" is DPM++ 2M with Karras sigmas
    key = _SAMPLER_ALIASES.get(key.removesuffix("_k"), key.removesuffix("_k"))
    key = key.removesuffix("_gpu")  # ComfyUI: the same sampler, its noise made on the GPU
    schedule_key = (text_value(schedule) or "").strip().lower()
    schedule_name = "Karras" if karras else _SCHEDULES.get(schedule_key, schedule_key or None)
    return {"Sampler": _A1111_SAMPLERS.get(key, raw), "Schedule type": schedule_name}


def model_name(name: object) -> str:
    # A1111 names a checkpoint by its file name without folder or extension.
    return PureWindowsPath(text).stem if (text := text_value(name)) else ""


def size_text(width: object, height: object) -> str | None:
    if all(isinstance(side, int) and not isinstance(side, bool) for side in (width, height)):
        return f"{width}x{height}"
    return None


def lora_item(name: str, weight: int | float | None) -> str:
    return f"{name}:{1 if weight is None else weight}"  # the "Lora" item this app writes


def number(value: object) -> int | float | None:
    if isinstance(value, str):  # some tools write numbers as text
        try:
            return int(value) if re.fullmatch(r"-?\d+", value.strip()) else float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value

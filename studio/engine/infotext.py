"""Generation parameters as text, in the A1111 "parameters" format.

A1111, Forge, Fooocus, Civitai and many viewers read and write that text, so our
images carry their recipe to those tools and theirs come back to us:

    prompt (any number of lines)
    Negative prompt: negative (any number of lines)
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ...

Values holding a comma, colon, quote or newline are JSON-quoted, as A1111 does.
No torch and no Qt here: the history strip reads files without loading a model.
Writing the files that carry this text is pngfile.py's and image_files.py's job;
reading it back from any image, image_parameters.py's.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath

from .. import __version__ as VERSION
from . import request as rq
from .errors import EngineError
from .request import FIELD, FIELDS, GenerationRequest, Mode
from .request_fields import RequestField
from .resolve import PICKLE_SUFFIXES

# What this app writes before its version in "Version": how its own recipes are known.
_OUR_VERSION_PREFIX = "studio "

# Our scheduler id -> (A1111 sampler, A1111 schedule type). A1111 >= 1.9 runs
# "DPM++ 2M" with Karras sigmas unless told otherwise, so the plain one names
# its schedule ("Uniform") for A1111 to reproduce it; older readers ignore it.
SAMPLER_NAMES: dict[str, tuple[str, str | None]] = {
    "euler": ("Euler", None),
    "euler-a": ("Euler a", None),
    "dpm++2m": ("DPM++ 2M", "Uniform"),
    "dpm++2m-karras": ("DPM++ 2M", "Karras"),
    "ddim": ("DDIM", None),
    "lcm": ("LCM", None),
}
# Lower-case names, plus the k-diffusion and ComfyUI/Fooocus spellings.
_SAMPLER_IDS = {n.lower(): sid for sid, (n, sched) in SAMPLER_NAMES.items() if sched != "Karras"}
_SAMPLER_IDS |= {
    "k_euler": "euler",
    "k_euler_a": "euler-a",
    "euler_ancestral": "euler-a",
    "k_dpmpp_2m": "dpm++2m",
    "dpmpp_2m": "dpm++2m",
}
_SCHEDULE_SUFFIXES = ("karras", "exponential", "uniform")  # pre-1.9 "DPM++ 2M Karras"
# A1111 reads a `key: value` pair with one regex, r'\s*(\w[\w \-/]+):\s*(value)(?:,|$)',
# which backtracks through every start of a long run of key characters that ends in
# no colon (20k characters took 9 s). We find the same pairs in one pass: the runs
# of key characters, each a key when a colon follows it (from its first letter on).
_KEY_RUN = re.compile(r"[\w \-/]+")
_KEY_START = re.compile(r"\w")
_VALUE = re.compile(r'\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_KEY = re.compile(r"\w[\w \-/]*\w")
# Bounded, so that many unclosed "<lora:" cannot make the search quadratic.
_LORA_TAG = re.compile(r"<lora:([^:>]{1,255})[^>]{0,255}>")
# The longest text read as parameters: A1111's longest real recipes are tens of KB.
MAX_INFOTEXT_CHARS = 256 * 1024
_CONTROLNET_KEYS = ("ControlNet 0", "ControlNet")
# The order A1111 writes its keys in (and the ControlNet extension its unit's); a
# key not named here follows them, in the order the request declares its fields.
_LAYOUT = ("Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model")
_LAYOUT += ("Denoising strength", "Mask blur", "Inpaint area", "Masked area padding", "Mode")
_LAYOUT += (_CONTROLNET_KEYS[0], "Lora", "Batch size")
_UNIT_LAYOUT = ("Module", "Model", "Weight", "Threshold A", "Threshold B")
# The fields the text carries, read and written from their declarations; the
# rest (prompt, Sampler, Size, Model, Lora) have a shape of their own, below.
_CARRIED = tuple(f for f in FIELDS if f.spec.infotext)
_SIZE, _SAMPLER = FIELD["width"].spec.infotext, FIELD["scheduler"].spec.infotext
_SHAPED = {"prompt", "negative_prompt", "scheduler", "width", "height", "model", "controlnet"}
_SHAPED |= {"loras", "seed"}  # the seed is the image's own, given to the writer
_PLAIN = tuple(f for f in _CARRIED if f.name not in _SHAPED)
# Numbers a request takes from the text: key, request field, type, lowest, highest.
_NUMBERS = tuple(
    (f.spec.infotext, f.name, f.kind, f.spec.low, f.spec.high)
    for f in _CARRIED
    if f.is_number and f.spec.multiple == 0 and not f.spec.infotext_unit
)
_UNIT_NUMBERS = tuple(
    (f.spec.infotext, f.name, f.kind, f.spec.low, f.spec.high)
    for f in _CARRIED
    if f.is_number and f.spec.infotext_unit
)
_CHOICES = tuple(f for f in _PLAIN if f.choices)
_APPLIED = {f.spec.infotext for f in _CARRIED if not f.spec.infotext_unit}
_APPLIED |= {*_CONTROLNET_KEYS, "Schedule type"}


class InfotextTooLong(EngineError, ValueError):
    """A text longer than MAX_INFOTEXT_CHARS: no recipe is that long."""


@dataclass
class ParsedInfotext:
    prompt: str
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def extras(self) -> dict[str, str]:
        """What this app does not apply: hires fix, hashes, an unknown sampler..."""
        out = {k: v for k, v in self.params.items() if k not in _APPLIED}
        sampler = self.params.get("Sampler")
        if sampler and scheduler_from_sampler(sampler)[0] is None:
            out["Sampler"] = sampler
        return out


def scheduler_from_sampler(
    sampler: str, schedule_type: str | None = None
) -> tuple[str | None, str | None]:
    """Our scheduler id for an A1111 sampler name (None when we have nothing like
    it), and a notice when it could not be matched exactly."""
    name, schedule = sampler.strip().lower(), (schedule_type or "").strip().lower()
    if not schedule:
        for label in _SCHEDULE_SUFFIXES:
            if name.endswith(" " + label):
                name, schedule = name[: -len(label) - 1], label
                break
    base = _SAMPLER_IDS.get(name)
    if base is None:
        return None, f"The sampler {sampler!r} is not available here, so it was not restored."
    if schedule == "automatic":  # A1111 means the sampler's default: Karras for DPM++ 2M
        schedule = "karras" if base == "dpm++2m" else ""
    if schedule in ("", "uniform", "normal"):
        return base, None
    if f"{base}-{schedule}" in rq.SCHEDULERS:
        return f"{base}-{schedule}", None
    return base, f"{sampler} is used without its {schedule.title()} schedule (not available)."


def _quote(value: str) -> str:
    if value != value.strip() or any(c in value for c in ',:"\n\r'):
        return json.dumps(value, ensure_ascii=False)
    return value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        with contextlib.suppress(ValueError):
            return str(json.loads(value))
    return value


def _fmt(value: object) -> str:
    # repr() is the shortest text that reads back as the same float; 7.0 reads "7" like A1111.
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _join(items: Mapping[str, object]) -> str:
    return ", ".join(f"{k}: {_quote(_fmt(v))}" for k, v in items.items() if v not in (None, ""))


def _short_name(model: str | None) -> str | None:
    # A name, as A1111 writes, not a local path that would tell where (and whose) the files are.
    if model and (PurePosixPath(model).is_absolute() or PureWindowsPath(model).is_absolute()):
        return PureWindowsPath(model).name  # splits at both / and \\
    return model


def _raw_pairs(text: str) -> list[tuple[str, str]]:
    """What A1111's regex findall gives, in time linear in the text."""
    found, pos = [], 0
    while run := _KEY_RUN.search(text, pos):
        start = _KEY_START.search(text, run.start(), run.end())
        if text.startswith(":", run.end()) and start and start.start() < run.end() - 1:
            value = _VALUE.match(text, run.end() + 1)
            assert value is not None  # `[^,]*` then a comma or the end always matches
            found.append((text[start.start() : run.end()], value.group(1)))
            pos = value.end()
        else:
            pos = run.end()
    return found


def _pairs(text: str) -> dict[str, str]:
    return {k.strip(): _unquote(v.strip()) for k, v in _raw_pairs(text)}


def format_infotext(
    request: GenerationRequest,
    seed: int,
    model_label: str,
    extra: Mapping[str, str | int | float] | None = None,
) -> str:
    """The A1111-style text for one image of a fully resolved request."""
    r, mode = request, request.mode
    sampler, schedule = SAMPLER_NAMES.get(r.scheduler or "", (r.scheduler, None))
    params: dict[str, object] = {_SAMPLER: sampler, "Schedule type": schedule}
    params |= {FIELD["seed"].spec.infotext: seed, FIELD["model"].spec.infotext: model_label}
    params[_SIZE] = f"{r.width}x{r.height}" if r.width and r.height else None
    unit: dict[str, object] = {"Module": "canny", "Model": _short_name(r.controlnet)}
    for f in _PLAIN:
        if f.applies_to(mode) and not (f.spec.infotext_if_changed and _unchanged(r, f)):
            (unit if f.spec.infotext_unit else params)[f.spec.infotext] = _written(r, f)
    if mode is Mode.CONTROLNET_CANNY:
        # The key and field names of the sd-webui-controlnet extension, which reads them too.
        params[_CONTROLNET_KEYS[0]] = _join(_in_order(unit, _UNIT_LAYOUT))
    if r.loras:
        params[FIELD["loras"].spec.infotext] = ", ".join(
            f"{lora.name}:{_fmt(lora.weight)}" for lora in r.loras
        )
    params = _in_order(params, _LAYOUT)
    for key, value in (extra or {}).items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"{key!r} cannot be an infotext key (letters, digits, space, -, /).")
        params[key] = value
    params["Version"] = f"{_OUR_VERSION_PREFIX}{VERSION}"
    return compose_infotext(r.prompt, r.negative_prompt, params)


def _written_value(f: RequestField, value: str) -> str:
    return f.spec.infotext_values.get(value, value)


def _unchanged(request: GenerationRequest, f: RequestField) -> bool:
    return getattr(request, f.name) == f.default


def _written(request: GenerationRequest, f: RequestField) -> object:
    value = getattr(request, f.name)
    return _written_value(f, value.value) if f.is_enum else value


def _in_order(params: Mapping[str, object], layout: tuple[str, ...]) -> dict[str, object]:
    first = {key: params[key] for key in layout if key in params}
    return first | {key: value for key, value in params.items() if key not in first}


def compose_infotext(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    """A1111's layout: the prompt, the negative prompt, then one line of `key: value`
    pairs (empty ones left out), quoted where A1111 quotes them."""
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{_join(params)}".strip()


def parse_infotext(text: str) -> ParsedInfotext:
    """Prompt, negative prompt and parameters of an A1111, Forge or Fooocus text.
    Raises InfotextTooLong for a text over MAX_INFOTEXT_CHARS."""
    if len(text) > MAX_INFOTEXT_CHARS:
        raise InfotextTooLong(
            f"The parameters text is {len(text):,} characters long, more than any recipe "
            f"({MAX_INFOTEXT_CHARS:,}), so it was not read."
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if text.startswith("{"):  # Fooocus' own scheme: one JSON object
        # Not JSON, or nested deeper than Python recurses: then it is A1111 text.
        with contextlib.suppress(ValueError, RecursionError):
            if isinstance(data := json.loads(text), dict):
                return _parse_fooocus(data)
    *lines, last = text.split("\n")
    if len(_raw_pairs(last)) < 3:  # A1111's test for a parameters line
        lines, last = [*lines, last], ""
    prompt: list[str] = []
    negative: list[str] | None = None
    for line in lines:
        if negative is None and line.lstrip().startswith("Negative prompt:"):
            negative = [line.lstrip().removeprefix("Negative prompt:")]
        elif negative is not None:
            negative.append(line)
        else:
            prompt.append(line)
    negative_text = "\n".join(negative or []).strip()
    return ParsedInfotext("\n".join(prompt).strip(), negative_text, _pairs(last))


def _parse_fooocus(data: dict[str, object]) -> ParsedInfotext:
    names = {"steps": "Steps", "seed": "Seed", "guidance_scale": "CFG scale"}
    names |= {"sampler": "Sampler", "scheduler": "Schedule type", "base_model": "Model"}
    params: dict[str, str] = {}
    for key, value in data.items():
        if key in ("prompt", "negative_prompt") or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if key == "resolution":  # "(1152, 896)"
            key, text = "Size", "x".join(re.findall(r"\d+", text)[:2])
        params[names.get(key, key)] = text
    return ParsedInfotext(str(data.get("prompt", "")), str(data.get("negative_prompt", "")), params)


def _numbers(
    params: Mapping[str, str], table: tuple, changes: dict[str, object], notices: list[str]
) -> None:
    for key, attr, kind, low, high in table:
        if (raw := params.get(key)) is None:
            continue
        try:
            # Seeds go up to 2**64: whole numbers are read as int, never through a float.
            value = int(raw) if re.fullmatch(r"\s*-?\d+\s*", raw) else float(raw)
            if kind is int and not float(value).is_integer():
                raise ValueError(raw)
        except (ValueError, OverflowError):
            notices.append(f"{key} {raw!r} is not a valid number, so it was not restored.")
            continue
        if not low <= value <= high:  # NaN fails this too
            notices.append(f"{key} {raw} is not within {_fmt(low)} to {_fmt(high)}; not restored.")
            continue
        changes[attr] = kind(value)


def request_from_infotext(
    text: str, base: GenerationRequest | None = None
) -> tuple[GenerationRequest, list[str]]:
    """A request rebuilt from an image's parameters on top of `base`, whose images
    and whatever the text does not name are kept; plus a notice for each thing
    that could not be restored. A bad value is a notice, never an error; only a
    text over MAX_INFOTEXT_CHARS, which no recipe is, raises (InfotextTooLong)."""
    parsed = parse_infotext(text)
    p, notices = parsed.params, []
    changes: dict[str, object] = dict(prompt=parsed.prompt, negative_prompt=parsed.negative_prompt)
    _numbers(p, _NUMBERS, changes, notices)
    if p.get("Sampler", "").strip():
        scheduler, notice = scheduler_from_sampler(p["Sampler"], p.get("Schedule type"))
        if scheduler is not None:
            changes["scheduler"] = scheduler
        notices += [notice] if notice else []
    elif p.get("Version", "").startswith(_OUR_VERSION_PREFIX):
        # This app names every sampler it has a name for: none named is the model's own
        # (SD 1.5's PNDM), not whichever sampler `base` has chosen.
        changes["scheduler"] = None
    if "Size" in p:
        # Bounded digits: int() refuses a number of over 4300 of them with a ValueError.
        size = re.fullmatch(r"\s*(\d{1,9})\s*x\s*(\d{1,9})\s*", p["Size"])
        if size and all(rq.MIN_SIDE <= int(side) <= rq.MAX_SIDE for side in size.groups()):
            changes["width"], changes["height"] = map(int, size.groups())
        else:
            notices.append(f"Size {p['Size']!r} is not a usable size, so it was not restored.")
    model = p.get("Model", "").strip()
    if model and not (base is not None and _names_model(model, base.model)):
        changes["model"] = model
    for f in _CHOICES:
        key = f.spec.infotext
        names = {str(_written_value(f, c)).lower(): c for c in f.choices}
        if key in p and p[key].strip().lower() in names:
            changes[f.name] = names[p[key].strip().lower()]
        elif key in p:
            notices.append(f"{key} {p[key]!r} is unknown, so it was not restored.")
    unit = _pairs(next((p[key] for key in _CONTROLNET_KEYS if key in p), ""))
    if unit and "canny" not in unit.get("Module", "").lower():
        notices.append(f"ControlNet {unit.get('Module', '?')!r} is not available; only canny is.")
    elif unit:
        if unit.get("Model", "").strip():
            changes["controlnet"] = unit["Model"].strip()
        _numbers(unit, _UNIT_NUMBERS, changes, notices)
    if any(key.startswith("Hires") for key in p):
        notices.append("The hires fix (an upscaling second pass) is not available; it was skipped.")
    if loras := _lora_names(parsed):
        notices.append(f"This image used LoRA {', '.join(loras)}: load the files to apply them.")
    return (base or GenerationRequest(prompt="")).replace(**changes), notices


def _names_model(name: str, spec: str) -> bool:
    """Whether the model a text names is `spec`, which it writes by name only: a
    folder by its name, a file by its stem. The chosen folder then stays chosen,
    and restoring a recipe of it is the same job again."""
    path = PureWindowsPath(spec)  # splits at both / and \\
    single_file = path.suffix.lower() in (".safetensors", *PICKLE_SUFFIXES)
    return name in (spec, path.name) or (single_file and name == path.stem)


def _lora_names(parsed: ParsedInfotext) -> list[str]:
    # Names and weights are all the text holds: LoRA files come from the user.
    ours = parsed.params.get("Lora", "").split(",")  # "name:weight, ..."
    hashed = [item.rpartition(":")[0] for item in parsed.params.get("Lora hashes", "").split(",")]
    names: dict[str, str] = {}
    for item in (s.strip() for s in [*ours, *_LORA_TAG.findall(parsed.prompt), *hashed]):
        if item:
            names.setdefault(item.rpartition(":")[0].strip() or item, item)
    return list(names.values())

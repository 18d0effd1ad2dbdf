"""The safety filter: a keyword check of prompts, and an optional image checker.

Prompt filter (no torch): keywords match whole words, case-insensitively, with
an optional plural ending ("gore" finds "Gore" and "gores", never "gorgeous"
or "Gregory"); `_`, `-` and runs of spaces count as the space of a
multi-word keyword. Modes:
- normal: flagged prompts get a protective negative prompt, and a notice;
- strict: the job is refused with a sentence naming the terms found;
- off: prompts pass unchanged.

Image checker (optional): the Stable Diffusion safety checker
(CompVis/stable-diffusion-safety-checker), used only when its files are on
this machine; flagged images are replaced by black ones, with a notice.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EngineError, RequestError

log = logging.getLogger(__name__)

SAFETY_MODES = ("off", "normal", "strict")
CHECKER_HUB_ID = "CompVis/stable-diffusion-safety-checker"

# A short, editable default: sexual content, gore and cruelty. Users add their
# own terms in the settings (or replace the list with --safety-keywords).
DEFAULT_KEYWORDS = (
    "nsfw",
    "nude",
    "nudity",
    "naked",
    "topless",
    "porn",
    "pornographic",
    "explicit",
    "sex",
    "sexual",
    "erotic",
    "hentai",
    "genitals",
    "gore",
    "gory",
    "bloodied",
    "decapitated",
    "dismembered",
    "mutilated",
    "disembowelled",
    "torture",
    "corpse",
    "suicide",
    "self harm",  # stored normalised: also matches "self-harm", "self_harm"
)
PROTECTIVE_NEGATIVE = (
    "nsfw",
    "nudity",
    "sexual content",
    "explicit",
    "gore",
    "blood",
    "violence",
)


class PromptRefused(RequestError):
    """Strict mode found flagged terms: the job is not run."""

    def __init__(self, message: str, terms: tuple[str, ...]) -> None:
        super().__init__(message)
        self.terms = terms


def normalize_keyword(keyword: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", unicodedata.normalize("NFKC", keyword).casefold()))


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in keyword.split(" ") if w]
    body = r"[\s_\-]+".join(words)
    # Not preceded or followed by a letter or digit: "_" and "-" separate words here.
    return re.compile(rf"(?<![^\W_])(?:{body})(?:e?s)?(?![^\W_])")


def parse_keywords(text: str | Iterable[str]) -> tuple[str, ...]:
    """Keywords from a comma- or line-separated text (or a list), normalised, unique."""
    items = re.split(r"[,\n]", text) if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for item in items:
        keyword = normalize_keyword(str(item)).strip()
        if keyword and not keyword.startswith("#"):
            seen.setdefault(keyword, None)
    return tuple(seen)


def _join_terms(terms: Sequence[str]) -> str:
    quoted = [f"“{t}”" for t in terms]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


@dataclass(frozen=True)
class FilterOutcome:
    """What the filter did to a job's prompts."""

    negatives: tuple[str, ...]  # one negative prompt per prompt, as run
    notices: tuple[str, ...]
    terms: tuple[str, ...]  # every flagged term, first seen first


class PromptFilter:
    def __init__(self, mode: str = "normal", keywords: Iterable[str] = DEFAULT_KEYWORDS) -> None:
        if mode not in SAFETY_MODES:
            raise ValueError(
                f"Unknown safety filter mode {mode!r}; choose one of {', '.join(SAFETY_MODES)}."
            )
        self.mode = mode
        self.keywords = parse_keywords(keywords)
        self._patterns = [(k, _keyword_pattern(k)) for k in self.keywords]

    def find(self, prompt: str) -> tuple[str, ...]:
        """The keywords that occur in `prompt` as words, in list order."""
        if self.mode == "off":
            return ()
        text = unicodedata.normalize("NFKC", prompt).casefold()
        return tuple(k for k, pattern in self._patterns if pattern.search(text))

    def check(self, prompts: Sequence[str]) -> None:
        """Raises PromptRefused in strict mode when any prompt is flagged."""
        if self.mode != "strict":
            return
        terms = self._terms(prompts)
        if terms:
            raise PromptRefused(
                f"The safety filter (strict) refused this prompt because it contains "
                f"{_join_terms(terms)}. Rephrase the prompt, or set the filter to normal "
                "in the settings.",
                terms,
            )

    def apply(self, prompts: Sequence[str], negative: str) -> FilterOutcome:
        """The negative prompt each prompt runs with; raises PromptRefused in strict mode."""
        self.check(prompts)
        negatives, flagged = [], []
        for prompt in prompts:
            terms = self.find(prompt)
            negatives.append(protect(negative) if terms else negative)
            flagged.extend(t for t in terms if t not in flagged)
        notices: tuple[str, ...] = ()
        if flagged:
            notices = (
                f"The safety filter found {_join_terms(flagged)} in the prompt and added a "
                "protective negative prompt.",
            )
        return FilterOutcome(tuple(negatives), notices, tuple(flagged))

    def _terms(self, prompts: Sequence[str]) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for prompt in prompts:
            found.update(dict.fromkeys(self.find(prompt)))
        return tuple(found)


@functools.lru_cache(maxsize=8)
def _filter(mode: str, keywords: tuple[str, ...]) -> PromptFilter:
    return PromptFilter(mode, keywords)


def prompt_filter(services: Any) -> PromptFilter:
    """The filter a ServiceOptions describes (built once per mode and list)."""
    keywords = services.safety_keywords
    return _filter(services.safety_mode, DEFAULT_KEYWORDS if keywords is None else keywords)


def protect(negative: str) -> str:
    """`negative` plus the protective terms it does not already hold."""
    present = set(parse_keywords(negative))
    missing = [t for t in PROTECTIVE_NEGATIVE if t not in present]
    if not missing:
        return negative
    return ", ".join(([negative.strip().rstrip(",")] if negative.strip() else []) + missing)


# -- the image checker ---------------------------------------------------------------


def find_image_checker(spec: str | None = None) -> Path | None:
    """The checker's folder: `spec` (a folder, or a hub id in the local cache),
    else CompVis' checker in the hub cache; None when it is not on this machine."""
    candidate = spec.strip() if spec else ""
    path = Path(candidate).expanduser()
    if candidate and (path.exists() or candidate.count("/") != 1):
        return path if (path / "config.json").is_file() else None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(candidate or CHECKER_HUB_ID, "config.json")
    except Exception:  # not a valid hub id
        return None
    return Path(found).parent if isinstance(found, str) else None


def image_checker_status(spec: str | None = None) -> tuple[bool, str]:
    """(available, a sentence for the settings) about the image checker."""
    folder = find_image_checker(spec)
    if folder is not None:
        return True, f"The image safety checker is ready ({folder})."
    name = spec or CHECKER_HUB_ID
    return False, (
        f"The image safety checker ({name}) is not on this machine, so images are not "
        f"checked. Download it with `hf download {CHECKER_HUB_ID}` (needs internet) to use it."
    )


class ImageChecker:
    """The Stable Diffusion safety checker: CLIP image features against concepts."""

    def __init__(self, folder: Path, device: str, dtype: Any) -> None:
        from diffusers.pipelines.stable_diffusion.safety_checker import (
            StableDiffusionSafetyChecker,
        )

        try:  # transformers >= 5 without torchvision: the PIL processor, without a warning
            from transformers import CLIPImageProcessorPil as CLIPImageProcessor
        except ImportError:
            from transformers import CLIPImageProcessor

        try:
            # use_safetensors: the hub repo also holds a pickle file, never loaded here.
            self.model = StableDiffusionSafetyChecker.from_pretrained(
                str(folder), use_safetensors=True, local_files_only=True
            ).to(device=device, dtype=dtype)
            self.processor = CLIPImageProcessor.from_pretrained(str(folder))
        except Exception as exc:
            raise EngineError(
                f"The image safety checker in {folder} could not be loaded ({exc}). "
                "Download it again, or turn the image checker off in the settings."
            ) from exc
        self.model.eval()
        self.device, self.dtype = device, dtype

    def flags(self, images: Sequence[Any]) -> list[bool]:
        """True for each image the checker flags."""
        import numpy as np
        import torch

        rgb = [im.convert("RGB") for im in images]
        features = self.processor(rgb, return_tensors="pt").pixel_values
        arrays = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in rgb])
        with torch.no_grad():
            _, flagged = self.model(
                clip_input=features.to(device=self.device, dtype=self.dtype), images=arrays
            )
        return [bool(f) for f in flagged]


_checker_lock = threading.Lock()
_checker: tuple[tuple, ImageChecker] | None = None


def load_image_checker(folder: Path, device: str, dtype: Any) -> ImageChecker:
    """One loaded checker at a time, reloaded when its files change."""
    global _checker
    stamp = max((p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()), default=0)
    key = (str(folder.resolve()), stamp, device, str(dtype))
    with _checker_lock:
        if _checker is None or _checker[0] != key:
            _checker = None
            _checker = (key, ImageChecker(folder, device, dtype))
        return _checker[1]


def screen_images(
    images: Sequence[Any], checker: ImageChecker
) -> tuple[list[Any], tuple[str, ...]]:
    """Flagged images replaced by black ones, and a notice when any were."""
    from PIL import Image

    flags = checker.flags(images)
    out = [
        Image.new("RGB", im.size) if flag else im for im, flag in zip(images, flags, strict=True)
    ]
    count = sum(flags)
    if not count:
        return out, ()
    which = "The image was" if len(images) == 1 else f"{count} of {len(images)} images were"
    return out, (f"{which} flagged by the image safety checker and replaced by a black image.",)

"""Many prompts at once: grouped into jobs that each run in one pipeline call.

Prompts that share every other setting go through diffusers' batch dimension
(`prompt=[...]` with one generator per image) as far as the memory budget
allows — `ServiceOptions.batch_megapixels` per call — and the rest become
further jobs in the same queue. Image k of a plan has seed `seed + k` when a
seed is given, so every image keeps its own seed and its own metadata. No
torch here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import RequestError
from .request import MAX_BATCH, GenerationRequest

MAX_PROMPTS = 1000


def read_prompts(lines: Iterable[str]) -> list[str]:
    """One prompt per line; blank lines and lines starting with # are skipped."""
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def read_prompt_file(path: str | Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RequestError(f"The prompt file {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestError(f"The prompt file {str(path)!r} could not be read ({exc}).") from None
    prompts = read_prompts(text.splitlines())
    if not prompts:
        raise RequestError(f"The prompt file {str(path)!r} holds no prompts (one per line).")
    return prompts


def prompts_per_call(request: GenerationRequest, megapixels: float, default_side: int = 512) -> int:
    """How many prompts fit in one pipeline call: the budget over the pixels of
    one prompt's images (batch_count of them), at least 1, at most MAX_BATCH images."""
    width = request.width or default_side
    height = request.height or default_side
    per_prompt = width * height * request.batch_count
    fit = int(megapixels * 1_000_000 // per_prompt)
    return max(1, min(fit, MAX_BATCH // request.batch_count))


def plan_batch(
    request: GenerationRequest, prompts: Iterable[str], megapixels: float
) -> list[GenerationRequest]:
    """The jobs for `prompts` with `request`'s settings (its own prompt is
    replaced). Sizes the model decides (None) count as 512² in the budget."""
    prompts = [p for p in prompts if isinstance(p, str)]
    if not prompts or not any(p.strip() for p in prompts):
        raise RequestError("The batch has no prompts: write one prompt per line.")
    if len(prompts) > MAX_PROMPTS:
        raise RequestError(
            f"The batch has {len(prompts)} prompts; at most {MAX_PROMPTS} can be queued at once."
        )
    size = prompts_per_call(request, megapixels)
    jobs = []
    for start in range(0, len(prompts), size):
        group = prompts[start : start + size]
        seed = None if request.seed is None else request.seed + start * request.batch_count
        jobs.append(request.replace(prompt=group[0], extra_prompts=tuple(group[1:]), seed=seed))
    return jobs

"""Chooses the PyTorch build for this machine, for scripts/setup-env.

Prints the arguments for `pip install` (one per line) and, on stderr, one
sentence saying what was chosen and why. Standard library only: it runs before
the venv has anything in it.

The rule:
- `STUDIO_TORCH` names the requirement and `STUDIO_TORCH_INDEX` an index URL:
  either overrides the choice below.
- macOS: PyPI's wheel (it runs on Apple-silicon GPUs through MPS).
- An NVIDIA driver is present: PyPI's wheel, which on Linux is a CUDA build.
  On Windows PyPI's wheel is CPU-only, so this says how to ask for CUDA.
- Otherwise the CPU build. Where the configured pip sources already offer a
  CPU build of the pinned torch (a local mirror, a find-links folder), they are
  used as they are; otherwise PyTorch's CPU index, so a machine without a GPU
  does not download several GB of CUDA libraries it cannot use.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

TORCH = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_INDEX_EXAMPLE = "https://download.pytorch.org/whl/cu128"


@dataclass(frozen=True)
class Choice:
    pip_args: tuple[str, ...]
    reason: str


def has_nvidia_driver() -> bool:
    """The driver, not the CUDA toolkit: PyTorch's wheels bring their own CUDA."""
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists()


def configured_build(python: str, requirement: str) -> str | None:
    """What the configured pip sources would install for `requirement`: "cpu",
    "cuda", or None when pip cannot tell (offline, no such version). A dry run
    reads only the wheel's metadata, not the wheel."""
    command = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps"]
    command += ["--ignore-installed", "--report", "-", requirement]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        report = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    if not report or not report.get("install"):
        return None
    return build_of(report["install"][0])


def build_of(item: Mapping) -> str:
    """ "cpu" or "cuda" for one item of pip's installation report."""
    url = item.get("download_info", {}).get("url", "")
    version = item.get("metadata", {}).get("version", "")
    if "+cpu" in url or version.endswith("+cpu"):
        return "cpu"
    requires = item.get("metadata", {}).get("requires_dist", []) or []
    return "cuda" if any(r.lower().startswith("nvidia-") for r in requires) else "cpu"


def choose(
    env: Mapping[str, str],
    system: str,
    nvidia: bool,
    configured: Callable[[str], str | None],
) -> Choice:
    requirement = env.get("STUDIO_TORCH") or TORCH
    index = env.get("STUDIO_TORCH_INDEX")
    if index:
        return Choice(
            (requirement, "--index-url", index), f"{requirement} from {index} (STUDIO_TORCH_INDEX)"
        )
    if env.get("STUDIO_TORCH"):
        return Choice((requirement,), f"{requirement} (STUDIO_TORCH) from the configured index")
    if system == "Darwin":
        return Choice((requirement,), f"{requirement} from PyPI: on macOS it includes MPS")
    if nvidia:
        if system == "Windows":
            return Choice(
                (requirement,),
                f"{requirement} from PyPI, which on Windows is CPU-only; for your NVIDIA GPU "
                f"set STUDIO_TORCH_INDEX={CUDA_INDEX_EXAMPLE} (or the CUDA version you have) "
                "and delete .venv",
            )
        return Choice((requirement,), f"{requirement} with CUDA: an NVIDIA driver is present")
    if system == "Windows":
        return Choice((requirement,), f"{requirement}, CPU build (PyPI's Windows wheel)")
    if configured(requirement) == "cpu":
        return Choice(
            (requirement,), f"{requirement}, CPU build: no NVIDIA driver, and pip's sources have it"
        )
    return Choice(
        (requirement, "--index-url", CPU_INDEX),
        f"{requirement}, CPU build from PyTorch's CPU index: no NVIDIA driver was found, so "
        "the multi-GB CUDA build would be of no use (set STUDIO_TORCH_INDEX to choose another)",
    )


def main() -> int:
    python = sys.argv[1] if len(sys.argv) > 1 else sys.executable
    choice = choose(
        os.environ,
        platform.system(),
        has_nvidia_driver(),
        lambda requirement: configured_build(python, requirement),
    )
    print(f"Installing {choice.reason}.", file=sys.stderr)
    print("\n".join(choice.pip_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""scripts/pick_torch.py: which PyTorch build setup-env installs on which machine."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pick_torch.py"
_spec = importlib.util.spec_from_file_location("pick_torch", SCRIPT)
pick_torch = importlib.util.module_from_spec(_spec)
sys.modules["pick_torch"] = pick_torch  # dataclasses look their module up
_spec.loader.exec_module(pick_torch)


def _never(requirement: str) -> str | None:
    raise AssertionError("pip's sources should not be asked")


@pytest.mark.parametrize(
    ("system", "nvidia", "configured", "expected"),
    [
        ("Linux", False, "cpu", ("torch==2.13.0",)),
        ("Linux", False, "cuda", ("torch==2.13.0", "--index-url", pick_torch.CPU_INDEX)),
        ("Linux", False, None, ("torch==2.13.0", "--index-url", pick_torch.CPU_INDEX)),
        ("Linux", True, "cuda", ("torch==2.13.0",)),
        ("Darwin", False, "cpu", ("torch==2.13.0",)),
        ("Windows", False, "cpu", ("torch==2.13.0",)),
        ("Windows", True, "cpu", ("torch==2.13.0",)),
    ],
)
def test_the_build_follows_the_machine(system, nvidia, configured, expected) -> None:
    asked: list[str] = []

    def sources(requirement: str) -> str | None:
        asked.append(requirement)
        return configured

    choice = pick_torch.choose({}, system, nvidia, sources)
    assert choice.pip_args == expected
    # Only a Linux machine without a driver needs to know what pip would fetch.
    assert asked == (["torch==2.13.0"] if system == "Linux" and not nvidia else [])


def test_windows_with_an_nvidia_gpu_is_told_how_to_get_cuda() -> None:
    choice = pick_torch.choose({}, "Windows", True, _never)
    assert "STUDIO_TORCH_INDEX=https://download.pytorch.org/whl/cu" in choice.reason


def test_the_environment_overrides_the_choice() -> None:
    env = {"STUDIO_TORCH": "torch==2.9.1"}
    assert pick_torch.choose(env, "Linux", False, _never).pip_args == ("torch==2.9.1",)
    env["STUDIO_TORCH_INDEX"] = "https://example.org/whl/cu128"
    choice = pick_torch.choose(env, "Linux", False, _never)
    assert choice.pip_args == ("torch==2.9.1", "--index-url", "https://example.org/whl/cu128")


@pytest.mark.parametrize(
    ("item", "build"),
    [
        ({"download_info": {"url": "file:///w/torch-2.13.0+cpu-cp311-linux.whl"}}, "cpu"),
        ({"metadata": {"version": "2.13.0", "requires_dist": ["nvidia-cudnn-cu12==9"]}}, "cuda"),
        ({"metadata": {"version": "2.13.0", "requires_dist": ["filelock", "sympy"]}}, "cpu"),
    ],
)
def test_a_pip_report_item_says_which_build(item, build) -> None:
    assert pick_torch.build_of(item) == build


@pytest.mark.slow
def test_this_machines_sources_are_asked_for_real() -> None:
    """The dry run works against whatever pip is configured with here: it says
    cpu or cuda, or None when pip cannot resolve (offline); never raises."""
    assert pick_torch.configured_build(sys.executable, "torch==2.13.0") in ("cpu", "cuda", None)
    assert pick_torch.configured_build(sys.executable, "torch==0.0.0.0") is None


def test_the_script_prints_pip_arguments_and_a_reason() -> None:
    env = {
        "STUDIO_TORCH": "torch==2.13.0",
        "STUDIO_TORCH_INDEX": "https://example.org/cpu",
        "PATH": "",
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["torch==2.13.0", "--index-url", "https://example.org/cpu"]
    assert done.stderr.startswith("Installing torch==2.13.0 from https://example.org/cpu")

"""`studio download`, `studio remove` and `studio models` against a loopback hub."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from studio.app import build_parser, main


def _line(capsys, name: str) -> str:
    assert main(["models"]) == 0
    return next(line for line in capsys.readouterr().out.splitlines() if line.startswith(name))


@pytest.mark.slow
def test_download_a_catalog_model_then_list_and_remove_it(hub, sd_model, tmp_path, capsys):
    repo = shutil.copytree(sd_model, tmp_path / "repo")
    (repo / "sd_turbo.safetensors").write_bytes(b"a whole checkpoint we never fetch")
    hub.add("stabilityai/sd-turbo", repo)
    assert "not downloaded" in _line(capsys, "sd-turbo ")

    assert main(["download", "sd-turbo"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("Downloading sd-turbo: ")
    assert "MB from stabilityai/sd-turbo." in captured.err.splitlines()[0]
    assert "model_index.json" in captured.err  # plain lines: stderr is not a terminal
    assert "sd-turbo is ready: studio generate --model sd-turbo" in captured.err
    assert "models--stabilityai--sd-turbo/snapshots/" in captured.out
    assert "stabilityai/sd-turbo/sd_turbo.safetensors" not in hub.served

    line = _line(capsys, "sd-turbo ")
    assert " ready " in line and " MB " in line

    assert main(["remove", "sd-turbo"]) == 0
    assert "MB freed" in capsys.readouterr().out
    assert "not downloaded" in _line(capsys, "sd-turbo ")


def test_gated_download_fails_with_one_sentence(hub, sd_model, tmp_path, capsys):
    hub.add("test/gated", sd_model, token="secret")
    assert main(["download", "test/gated"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: test/gated is gated: accept its licence at ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_download_with_include_fetches_only_the_matches(hub, sd_model, capsys):
    hub.add("test/tiny", sd_model)
    assert main(["download", "test/tiny", "--include", "*.json"]) == 0
    assert all(name.endswith(".json") for name in hub.served)
    assert "test/tiny/model_index.json" in hub.served


def test_remove_of_a_model_not_here(hub, capsys):
    assert main(["remove", "sdxl"]) == 1
    assert "is not on this machine" in capsys.readouterr().err


def test_help_names_the_new_commands():
    text = build_parser().format_help()
    assert "download" in text and "remove" in text
    sub = build_parser().parse_args(["download", "sd15", "--revision", "v1", "--include", "*.json"])
    assert (sub.model, sub.revision, sub.include) == ("sd15", "v1", ["*.json"])


@pytest.mark.slow
def test_a_real_process_says_offline_and_unreachable_in_one_sentence(tmp_path):
    """Run as a user would: nothing of huggingface_hub is imported beforehand."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env["HF_HUB_CACHE"] = str(tmp_path / "hub")
    command = [sys.executable, "-m", "studio", "download", "sd-turbo"]
    offline = subprocess.run(
        command, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120
    )
    assert offline.returncode == 1
    assert offline.stderr.startswith("error: Downloads are off because HF_HUB_OFFLINE is set")
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: connection refused
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: Could not reach http://127.0.0.1:9")
    assert "Traceback" not in offline.stderr + refused.stderr


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.text, self.tty = "", tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


def _feed(printer, steps) -> None:
    from studio.engine.downloads import DownloadProgress

    for name, done in steps:
        printer(DownloadProgress(name, done, 1000))


STEPS = [("a.json", 10), ("b.safetensors", 10), ("b.safetensors", 500), ("b.safetensors", 1000)]


def test_a_log_gets_plain_lines_each_file_and_every_tenth():
    from studio.cli import _progress_printer

    out = _Stream(tty=False)
    _feed(_progress_printer({"a.json": 10, "b.safetensors": 990}, out), STEPS)
    lines = out.text.splitlines()
    assert "\r" not in out.text
    assert lines[0] == "fetching a.json (0 KB)" and "fetching b.safetensors (1 KB)" in lines
    assert [line.split("%")[0].strip() for line in lines if "%" in line] == ["1", "50", "100"]


def test_a_terminal_gets_one_line_with_a_bar_redrawn_in_place():
    from studio.cli import _progress_printer

    out = _Stream(tty=True)
    _feed(_progress_printer({}, out), STEPS)
    assert out.text.startswith("\r  1% [")
    assert out.text.count("\n") == 1 and out.text.endswith("\n")  # ends the line once, at 100 %
    assert "100% [########################] " in out.text


def test_models_updates_lists_everything_even_when_the_hub_cannot_be_asked(
    hub, sd_model, capsys, monkeypatch
):
    import huggingface_hub.constants as constants

    hub.add("stabilityai/sd-turbo", sd_model)
    assert main(["download", "sd-turbo"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["models", "--updates"]) == 1
    out, err = capsys.readouterr()
    assert "tiny-random-controlnet" in out  # the list goes on to the end
    assert next(line for line in out.splitlines() if line.startswith("sd-turbo ")).split()[1] == (
        "ready"
    )
    assert err.startswith("error: Updates were not checked: Downloads are off because")

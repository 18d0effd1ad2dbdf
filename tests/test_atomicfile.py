"""Writing files atomically: a failure or a kill leaves no half file, temporary
files of killed writers are cleaned up, live ones are not, and problems are
found before the work that would be lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image
from write_faults import make_read_only, temp_files

from studio.engine.atomicfile import MIN_STALE_AGE_S, TEMP_NAME, check_can_write, write_problem
from studio.engine.pngfile import save_png

RECIPE = "a cat\nSteps: 2, Seed: 42, Size: 64x64"


def _picture() -> Image.Image:
    return Image.new("RGB", (64, 48), (20, 40, 200))


def test_problems_are_found_before_writing(tmp_path, monkeypatch):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    locked = make_read_only(tmp_path / "locked", monkeypatch)

    def problem(target: Path) -> str:
        with pytest.raises(OSError) as failure:
            check_can_write(target)
        return write_problem(failure.value, target)

    assert (
        problem(tmp_path / "folder")
        == f"{tmp_path / 'folder'} is a folder; name a file in it instead"
    )
    assert problem(tmp_path / "file" / "a" / "x.png") == (
        f"{tmp_path / 'file'} is a file, not a folder; choose another place"
    )
    assert problem(locked / "x.png") == f"you may not write in {locked}; choose another folder"
    assert (
        problem(locked / "new" / "x.png") == f"you may not write in {locked}; choose another folder"
    )
    check_can_write(tmp_path / "new" / "deeper" / "x.png")  # folders to be made: fine
    assert sorted(os.listdir(tmp_path)) == ["file", "folder", "locked"]  # the probes are gone


# A writer killed in the middle of a file: it writes half a PNG, says so, and waits.
_WRITER = textwrap.dedent(
    """
    import sys, time
    from studio.engine.atomicfile import write_atomically

    def write(file):
        file.write(b"\\x89PNG half a file")
        file.flush()
        print("writing", flush=True)
        time.sleep(120)

    write_atomically(sys.argv[1], write)
    """
)


def _start_writer(target: Path) -> subprocess.Popen:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert writer.stdout.readline().strip() == "writing"
    return writer


def _age(folder: Path, seconds: float) -> None:
    past = time.time() - seconds
    for name in temp_files(folder):
        os.utime(folder / name, (past, past))


def test_temp_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    killed = _start_writer(tmp_path / "killed.png")
    killed.kill()
    killed.wait(timeout=30)
    live = _start_writer(tmp_path / "live.png")
    try:
        leftovers = temp_files(tmp_path)
        assert len(leftovers) == 2 and all(TEMP_NAME.match(name) for name in leftovers)

        save_png(_picture(), tmp_path / "fresh.png", RECIPE)  # both only just written
        assert temp_files(tmp_path) == leftovers

        _age(tmp_path, 2 * MIN_STALE_AGE_S)
        save_png(_picture(), tmp_path / "next.png", RECIPE)
        (still_writing,) = temp_files(tmp_path)
        assert still_writing.startswith(".live.png.")
    finally:
        live.kill()
        live.wait(timeout=30)
    assert sorted(p for p in os.listdir(tmp_path) if not p.startswith(".")) == [
        "fresh.png",
        "next.png",
    ]

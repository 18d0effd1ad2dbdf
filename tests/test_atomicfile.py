"""Writing files atomically: a failure or a kill leaves no half file, temporary
files of killed writers are cleaned up, live ones are not (the canvas's too),
any name that fits on the disk fits as a temporary one, and problems are found
before the work that would be lost."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image
from write_faults import make_read_only, temp_files

from studio.atomicfile import (
    MIN_STALE_AGE_S,
    NAME_MAX_BYTES,
    TEMP_NAME,
    atomic_file,
    check_can_write,
    temp_path_for,
    write_problem,
)
from studio.canvas.errors import ImageFileError
from studio.canvas.exchange import write_image
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
    from studio.atomicfile import atomic_file

    with atomic_file(sys.argv[1]) as file:
        file.write(b"\\x89PNG half a file")
        file.flush()
        print("writing", flush=True)
        time.sleep(120)
    """
)
# The canvas exporting a picture, stopped in the middle of Pillow's encoding.
_CANVAS_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from PIL import Image
    from studio.canvas.exchange import write_image

    def save(self, file, *args, **kwargs):
        file.write(b"\\x89PNG half a file")
        file.flush()
        print("writing", flush=True)
        time.sleep(120)

    Image.Image.save = save
    write_image(Image.new("RGB", (8, 8)), Path(sys.argv[1]))
    """
)


def _start_writer(target: Path, program: str = _WRITER) -> subprocess.Popen:
    writer = subprocess.Popen(
        [sys.executable, "-c", program, str(target)],
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


def test_a_canvas_export_being_written_is_not_taken_for_a_leftover(tmp_path):
    # The canvas writes through the same locked writer, so the engine's cleanup
    # of the folder leaves a slow export alone, however old its temporary file.
    export = _start_writer(tmp_path / "export.png", _CANVAS_WRITER)
    try:
        _age(tmp_path, 2 * MIN_STALE_AGE_S)
        save_png(_picture(), tmp_path / "result.png", RECIPE)
        (still_writing,) = temp_files(tmp_path)
        assert still_writing.startswith(".export.png.")
    finally:
        export.kill()
        export.wait(timeout=30)


def _name(size: int, stem: str = "a") -> str:
    """A file name of `size` bytes (UTF-8) ending in .png."""
    fill = stem * ((size - 4) // len(stem.encode()))
    name = fill + "b" * (size - 4 - len(fill.encode())) + ".png"
    assert len(name.encode()) == size
    return name


@pytest.mark.parametrize("size", [200, 240, NAME_MAX_BYTES])
@pytest.mark.parametrize("stem", ["a", "é", "夜", "🐱"])
def test_every_name_that_fits_the_disk_fits_as_a_temporary_name(tmp_path, size, stem):
    target = tmp_path / _name(size, stem)
    temp = temp_path_for(target)

    assert temp.parent == tmp_path and len(temp.name.encode()) <= NAME_MAX_BYTES
    found = TEMP_NAME.match(temp.name)  # so a killed writer's file is still cleaned up
    kept = found["name"]  # whole characters of the target's name, so it stays readable
    assert target.name.startswith(kept) and len(kept.encode()) >= min(size, 200)
    check_can_write(target)
    with atomic_file(target) as file:
        file.write(b"made")
    assert target.read_bytes() == b"made" and os.listdir(tmp_path) == [target.name]


def test_a_name_too_long_for_the_disk_is_refused_before_writing(tmp_path):
    too_long = _name(NAME_MAX_BYTES + 1)
    for target in (tmp_path / too_long, tmp_path / too_long / "x.png", tmp_path / "new" / too_long):
        with pytest.raises(OSError) as failure:
            check_can_write(target)
        assert failure.value.errno == errno.ENAMETOOLONG
        assert write_problem(failure.value, target) == "the name is too long; choose a shorter one"
    assert os.listdir(tmp_path) == []  # nothing made, no probe left


def test_a_canvas_export_takes_a_long_name_and_refuses_one_too_long(tmp_path):
    write_image(_picture(), tmp_path / _name(240))
    with pytest.raises(ImageFileError) as failure:
        write_image(_picture(), tmp_path / _name(NAME_MAX_BYTES + 1))
    assert str(failure.value).endswith(": the name is too long; choose a shorter one.")
    assert os.listdir(tmp_path) == [_name(240)]


def test_saving_over_a_file_keeps_who_may_read_it(tmp_path):
    path = save_png(_picture(), tmp_path / "mine.png", RECIPE)
    path.chmod(0o640)  # the user narrowed who may read it
    save_png(_picture(), path, "again")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

"""Writing a file so that a failure or a kill never leaves half of it behind.

A file is written to a hidden temporary name beside its target
(`.NAME.<pid>-<hex>.tmp`: same folder, so the final rename is atomic and the
umask applies as to any file) and renamed over the target once complete.

A process killed while writing leaves its temporary file behind. Every write
removes such leftovers from its folder first: a writer holds an exclusive lock
on its temporary file until the rename (POSIX `flock`; on Windows an open file
cannot be deleted), so a temporary file nobody holds belongs to a dead writer.
This works across processes, users and machines sharing a folder, where
process ids would not. Files younger than a few seconds are never touched: a
writer takes its lock just after creating the file.

Also here: checking beforehand that a file can be written where the user asked
(before an expensive job, not after it), and the sentence for a failed write.
No torch and no Qt.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted, which is lock enough
    fcntl = None

TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-(?P<tag>[0-9a-f]{8})\.tmp$")
# A writer locks its file microseconds after creating it; younger files are left alone.
MIN_STALE_AGE_S = 5.0
# Where locks are not supported, only files this old count as left over.
UNLOCKED_STALE_AGE_S = 3600.0
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def temp_path_for(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_atomically(target: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Calls `write(file)` on a new temporary file and renames it to `target`.
    On any failure the temporary file goes and an older `target` stays intact;
    the OSError (or whatever `write` raised) comes out unchanged."""
    target = Path(target)
    remove_stale_temp_files(target.parent)
    temp = temp_path_for(target)
    fd = os.open(temp, _CREATE_FLAGS, 0o666)  # 0o666: the umask decides, as for any file
    try:
        with os.fdopen(fd, "wb") as file:
            _lock(file)
            write(file)
            file.flush()
            os.fsync(file.fileno())
            if fcntl is not None:  # rename while still locked: no moment without the lock
                os.replace(temp, target)
        if fcntl is None:  # Windows cannot rename an open file
            os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the error that matters
            temp.unlink()
        raise
    return target


def _lock(file: BinaryIO) -> None:
    if fcntl is None:
        return
    with contextlib.suppress(OSError):  # a file system without locks: still write
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def remove_stale_temp_files(folder: str | Path) -> int:
    """Deletes the temporary files that killed writers left in `folder`; returns
    how many went. Never raises: a leftover is untidy, not an error."""
    try:
        entries = [entry for entry in os.scandir(folder) if TEMP_NAME.match(entry.name)]
    except OSError:
        return 0
    removed = 0
    now = time.time()
    for entry in entries:
        with contextlib.suppress(OSError):
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if age >= MIN_STALE_AGE_S and entry.is_file(follow_symlinks=False):
                removed += _remove_if_abandoned(Path(entry.path), age)
    return removed


def _remove_if_abandoned(path: Path, age: float) -> int:
    if fcntl is None:
        path.unlink()  # fails while its writer still has it open
        return 1
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its writer is alive
        except OSError:  # no locks on this file system: go by age alone
            if age < UNLOCKED_STALE_AGE_S:
                return 0
        path.unlink()
        return 1
    finally:
        os.close(fd)


def check_can_write(target: str | Path) -> None:
    """Raises the OSError that writing `target` would meet, before the work that
    produces it: `target` is a folder (IsADirectoryError), a folder above it is a
    file (NotADirectoryError, `filename` = that file), or its folder (or the one
    it would be created in) cannot be written (PermissionError, read-only disk,
    full disk...). Creates nothing that stays."""
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    check_can_create_in(target.parent)


def check_can_create_in(folder: str | Path) -> Path:
    """Raises the OSError that creating a file in `folder` (made if missing)
    would meet; see check_can_write. Returns the folder that was tried: `folder`,
    or the nearest one above it that exists."""
    existing = Path(folder)
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    # Only a real file shows what the OS allows: modes, ACLs, read-only mounts, quotas.
    probe = temp_path_for(existing / "write-check")
    os.close(os.open(probe, _CREATE_FLAGS, 0o666))
    with contextlib.suppress(OSError):
        probe.unlink()
    return existing


def write_problem(exc: OSError, target: str | Path | None = None) -> str:
    """What went wrong in a failed write of `target`, as the end of a sentence."""
    where = Path(exc.filename) if exc.filename else None
    code = exc.errno
    if code == errno.ENOSPC:
        return "the disk is full; free some space and try again"
    if code == getattr(errno, "EDQUOT", None):
        return "your disk quota is used up; free some space and try again"
    if code == errno.EROFS:
        return "the disk is read-only; choose another folder"
    if code in (errno.EACCES, errno.EPERM):
        folder = where.parent if where else Path(target or ".").parent
        return f"you may not write in {folder}; choose another folder"
    if code == errno.EISDIR:
        return f"{target or where} is a folder; name a file in it instead"
    if code == errno.ENOTDIR:
        blocker = _file_in_the_way(where or Path(target or "."))
        return f"{blocker} is a file, not a folder; choose another place"
    if code == errno.ENAMETOOLONG:
        return "the name is too long; choose a shorter one"
    return str(exc.strerror or exc).rstrip(".")


def _file_in_the_way(path: Path) -> Path:
    """The file that stands where a folder of `path` should be."""
    for candidate in (path, *path.parents):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return path

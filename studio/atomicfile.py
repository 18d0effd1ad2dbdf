"""Writing a file so that a failure or a kill never leaves half of it behind.

Every writer of the app goes through here (the engine's results, the canvas's
projects and exports, the history, the cache's counts), so all agree on what a
temporary file is and whose it is. It imports nothing from the app: the engine
and the canvas, which may not import each other, both import it.

A file is written to a hidden temporary name beside its target
(`.NAME.<pid>-<hex>.tmp`: same folder, so the final rename is atomic and the
umask applies as to any file) and renamed over the target once complete. NAME
is shortened where the whole would pass the 255 bytes a file system allows in
a name, so any target name that fits also fits as a temporary one.

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
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted, which is lock enough
    fcntl = None

# DOTALL: a name may hold any character but "/", a newline too.
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-(?P<tag>[0-9a-f]{8})\.tmp$", re.DOTALL)
# The longest name ext4, XFS, Btrfs, APFS and tmpfs take, in bytes of UTF-8; NTFS
# counts 255 UTF-16 units, which are never more than the UTF-8 bytes.
NAME_MAX_BYTES = 255
# A writer locks its file microseconds after creating it; younger files are left alone.
MIN_STALE_AGE_S = 5.0
# Where locks are not supported, only files this old count as left over.
UNLOCKED_STALE_AGE_S = 3600.0
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
# Errors of a path whose folder is still to be made: look further up.
_NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)


def temp_path_for(target: Path) -> Path:
    """A new temporary name beside `target`, never longer than NAME_MAX_BYTES."""
    tail = f".{os.getpid()}-{secrets.token_hex(4)}.tmp"
    room = NAME_MAX_BYTES - len("." + tail)
    name = target.name[:room]  # a character is at least one byte
    while len(os.fsencode(name)) > room:  # whole characters, so the name stays readable
        name = name[:-1]
    return target.with_name(f".{name}{tail}")


@contextlib.contextmanager
def atomic_file(target: str | Path) -> Iterator[BinaryIO]:
    """A new binary file whose contents replace `target` when the block ends
    without an error. On any failure the temporary file goes and an older
    `target` stays intact; the error (an OSError, or whatever the block raised)
    comes out unchanged. Missing folders are made; a new file gets the user's
    umask, and saving over a file keeps who may read it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target.parent)
    temp = temp_path_for(target)
    fd = os.open(temp, _CREATE_FLAGS, 0o666)  # 0o666: the umask decides, as for any file
    try:
        with os.fdopen(fd, "wb") as file:
            _lock(file)
            _keep_mode_of(target, file)
            yield file
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


def _lock(file: BinaryIO) -> None:
    if fcntl is None:
        return
    with contextlib.suppress(OSError):  # a file system without locks: still write
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _keep_mode_of(target: Path, file: BinaryIO) -> None:
    if os.chmod not in os.supports_fd:
        return
    with contextlib.suppress(OSError):  # no older file, or one we cannot ask: the umask's mode
        mode = os.stat(target).st_mode
        if stat.S_ISREG(mode):
            os.chmod(file.fileno(), stat.S_IMODE(mode))


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


def check_can_write(target: str | Path) -> Path:
    """Raises the OSError that atomic_file(`target`) would meet, before the work
    that produces it: `target` is a folder (IsADirectoryError), a folder above
    it is a file (NotADirectoryError, `filename` = that file), a name is too
    long for the disk (its own, a folder's still to be made, or its temporary
    file's), or its folder (or the one it would be made in) cannot be written
    (PermissionError, read-only disk, full disk...). Creates nothing that stays.
    Returns the folder that was tried: `target`'s, or the nearest one above it
    that exists."""
    target = Path(target)
    folder = _nearest_folder(target.parent)
    to_make = target.parent.relative_to(folder).parts
    # Looked up in `folder`, on whose disk any folders to be made will be, a name
    # too long for that disk is refused (ENAMETOOLONG) as creating it would be.
    for name in (*to_make, target.name):
        try:
            found = os.stat(folder / name)
        except FileNotFoundError:
            continue
        if not to_make and stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    # Only a real file shows what the OS allows: modes, ACLs, read-only mounts, quotas.
    probe = temp_path_for(folder / target.name)
    os.close(os.open(probe, _CREATE_FLAGS, 0o666))
    with contextlib.suppress(OSError):
        probe.unlink()
    return folder


def check_can_create_in(folder: str | Path) -> Path:
    """Raises the OSError that creating a file in `folder` (made if missing)
    would meet; see check_can_write. Returns the folder that was tried."""
    return check_can_write(Path(folder) / "write-check")


def _nearest_folder(folder: Path) -> Path:
    """`folder`, or the nearest folder above it that exists; NotADirectoryError
    when that is a file."""
    existing = folder
    while True:
        try:
            found = os.stat(existing)
            break
        except OSError as exc:
            if exc.errno not in _NOT_THERE or existing.parent == existing:
                raise
            existing = existing.parent
    if not stat.S_ISDIR(found.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
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

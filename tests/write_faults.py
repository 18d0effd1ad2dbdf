"""Faults a user's disk can have, made real where a test can (a folder without
write permission, a file where a folder should be) and at the OS boundary where
it cannot (a full disk; permissions when the tests run as root)."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

import pytest

TEMP_FILE_SUFFIX = ".tmp"


def make_read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder nobody may create files in. Root ignores permission bits, so
    there creating a file in it is refused the way the kernel refuses a user."""
    folder.mkdir()
    folder.chmod(0o555)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        real_open, real_mkdir = os.open, os.mkdir
        folder = folder.resolve()

        def _inside(path) -> bool:
            return Path(os.path.abspath(path)).parent == folder

        def refusing_open(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and _inside(path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kwargs)

        def refusing_mkdir(path, *args, **kwargs):
            if _inside(path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
        monkeypatch.setattr(os, "mkdir", refusing_mkdir)
    return folder


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the disk is full when written data is flushed to it (where
    ENOSPC surfaces on delayed allocation, network and quota file systems)."""

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)


def temp_files(folder: Path) -> list[str]:
    """Hidden temporary files our writers leave while writing."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_FILE_SUFFIX))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` pixels in a few bytes: Pillow reads the
    size from the header and refuses a decompression bomb before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )

"""The generation parameters an image file carries, read without decoding its pixels.

PNG: the text chunks (tEXt, zTXt, iTXt), before or after the pixel data, also in a
file cut off inside its pixel data. We walk the chunks ourselves: Pillow reads the
text after the pixel data only by decoding the pixels, and its size limits raise in
the middle of opening. JPEG, WebP and other formats: EXIF UserComment, where A1111
writes the parameters, through Pillow's getexif() (which does not decode pixels).
Other tools' formats become A1111 text in foreign_parameters.py.

No torch and no Qt here.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

from PIL import ExifTags, Image, UnidentifiedImageError

from . import foreign_parameters
from .byte_sizes import size_text
from .errors import EngineError
from .infotext import MAX_INFOTEXT_CHARS, parse_infotext

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS_KEY = "parameters"
_WANTED_KEYS = frozenset({PARAMETERS_KEY, *foreign_parameters.KEYS})
# The most a text chunk we read may hold: a recipe, InvokeAI 1.x's command line
# (shlex splits it in time quadratic in its longest word), or another tool's JSON graph.
_MAX_BYTES = {PARAMETERS_KEY: MAX_INFOTEXT_CHARS}
_MAX_BYTES |= dict.fromkeys(foreign_parameters.DREAM_KEYS, 16 * 1024)
_MAX_GRAPH_BYTES = 16 * 1024 * 1024
_MAX_KEYWORD = 80  # PNG keywords are 1 to 79 bytes, then a zero byte
# EXIF UserComment starts with 8 bytes naming its character code.
_UNICODE, _ASCII = b"UNICODE\0", b"ASCII\0\0\0"


class ParametersReadError(EngineError):
    """A file whose parameters could not be read; the message is one sentence
    that names the file, what went wrong and, where it helps, what to do."""


def read_parameters(source: str | os.PathLike[str] | bytes) -> str | None:
    """The generation parameters of an image file (a path, or the file's bytes) as
    A1111 text, whichever tool wrote them; None when it holds none. Raises
    ParametersReadError, and nothing else, when the file cannot be read."""
    name = "The file" if isinstance(source, bytes) else Path(source).name
    try:
        with _open(source) as file:
            if file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE:
                texts, too_large = _png_texts(file)
            else:
                file.seek(0)
                texts, too_large = _exif_texts(file, name), {}
    except FileNotFoundError:
        raise ParametersReadError(f"{name} does not exist.") from None
    except IsADirectoryError:
        raise ParametersReadError(f"{name} is a folder, not an image.") from None
    except OSError as exc:
        raise ParametersReadError(f"{name} could not be read: {exc.strerror or exc}.") from None
    if PARAMETERS_KEY in texts:
        return texts[PARAMETERS_KEY]
    try:
        text = foreign_parameters.infotext_from_foreign(texts)
    except Exception:  # the readers treat malformed values as absent; this is a reader's bug
        log.debug("reading another tool's parameters from %s failed", name, exc_info=True)
        raise ParametersReadError(
            f"{name} holds another tool's parameters in a form this app does not know, "
            "so they were not read."
        ) from None
    if text is None and too_large:
        key, reason = next(iter(too_large.items()))
        raise ParametersReadError(f"{name}'s {key} text is {reason}, so it was not read.")
    if text is not None and len(text) > MAX_INFOTEXT_CHARS:  # a graph with a huge prompt
        raise ParametersReadError(f"{name}'s prompt is longer than any recipe, so it was not read.")
    return text


def _open(source: str | os.PathLike[str] | bytes) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def _png_texts(file: BinaryIO) -> tuple[dict[str, str], dict[str, str]]:
    """The wanted text chunks of a PNG, and a reason for each that was too large.
    Reads up to IEND or to where the file ends: a file cut off inside its pixel
    data keeps the text written before the cut."""
    texts: dict[str, str] = {}
    too_large: dict[str, str] = {}
    while len(header := file.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            break
        start = file.tell()
        key = _text_keyword(file, kind, length)
        if key in _WANTED_KEYS:
            limit = _MAX_BYTES.get(key, _MAX_GRAPH_BYTES)
            rest = start + length - file.tell()
            try:
                # A compressor adds at most a few bytes per 64 KB block to text it
                # cannot shrink, so a body over twice the limit holds more text than
                # the limit: too much, and not read.
                if rest > 2 * limit + 64:
                    raise _TooLarge
                body = file.read(rest)
                if len(body) < rest:
                    break  # cut off inside this chunk
                texts[key] = _text_value(kind, body, limit)
            except _TooLarge:
                too_large.setdefault(key, f"over {size_text(limit)}, longer than any recipe")
            except zlib.error:
                pass  # damaged: as if it were not there
        # Not checking the CRC: a text chunk with a bad CRC still holds its text.
        file.seek(start + length + 4)
    return texts, too_large


class _TooLarge(Exception):
    """A text chunk over its size limit."""


def _text_keyword(file: BinaryIO, kind: bytes, length: int) -> str | None:
    if kind not in (b"tEXt", b"zTXt", b"iTXt"):
        return None
    head = file.read(min(length, _MAX_KEYWORD))
    keyword, zero, _ = head.partition(b"\0")
    if not zero:
        return None
    file.seek(len(keyword) + 1 - len(head), io.SEEK_CUR)
    return keyword.decode("latin-1")


def _text_value(kind: bytes, body: bytes, limit: int) -> str:
    """The text of a chunk's body after its keyword. Raises _TooLarge when it is
    over `limit` bytes, zlib.error when its compressed data is damaged."""
    if kind == b"tEXt":
        return _latin1_text(_within(body, limit))
    if kind == b"zTXt":  # compression method, then zlib data
        return _latin1_text(_inflate(body[1:], limit))
    # iTXt: compressed?, method, language, 0, translated keyword, 0, UTF-8 text
    compressed, rest = body[:1] == b"\1", body[2:]
    _, _, rest = rest.partition(b"\0")
    _, _, raw = rest.partition(b"\0")
    raw = _inflate(raw, limit) if compressed else _within(raw, limit)
    return raw.decode("utf-8", "replace")


def _within(raw: bytes, limit: int) -> bytes:
    if len(raw) > limit:
        raise _TooLarge
    return raw


def _inflate(data: bytes, limit: int) -> bytes:
    # Never more than the limit: a small chunk can inflate to gigabytes.
    return _within(zlib.decompressobj().decompress(data, limit + 1), limit)


def _latin1_text(raw: bytes) -> str:
    """tEXt and zTXt are Latin-1 by the PNG standard. Some tools put UTF-8 there
    anyway, which reads as Latin-1 with C1 control characters (U+0080 to U+009F) in
    it: typed text never holds those, so only then is the UTF-8 reading taken.
    Latin-1 text that happens to be valid UTF-8 ("Ã©") stays as written."""
    text = raw.decode("latin-1")
    if any("\x80" <= char <= "\x9f" for char in text):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return text


def _exif_texts(file: BinaryIO, name: str) -> dict[str, str]:
    """A1111's JPEG and WebP files: the parameters in EXIF UserComment. Opening
    reads the header and metadata only; the pixels are never decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data": we say what we could read
            text = _user_comment(_exif_user_comment(file, name))
        # A camera's or editor's comment is not a recipe: A1111's text has `key: value` pairs.
        if text is None or len(text) > MAX_INFOTEXT_CHARS or not parse_infotext(text).params:
            return {}
        return {PARAMETERS_KEY: text}
    except ParametersReadError:
        raise
    except UnidentifiedImageError:
        raise ParametersReadError(f"{name} is not an image this app can read.") from None
    except OSError as exc:
        if exc.errno is not None:
            raise  # the file itself: read_parameters says what happened
        damage = str(exc)  # Pillow's "Truncated File Read": what the file holds
    except Exception as exc:  # Pillow's plugins raise many kinds of error on damaged files
        damage = str(exc)
    detail = f" ({damage})" if damage else ""
    raise ParametersReadError(f"{name} is damaged, so its parameters could not be read{detail}.")


def _exif_user_comment(file: BinaryIO, name: str) -> object:
    try:
        with Image.open(file) as image:
            exif = image.getexif().get_ifd(ExifTags.IFD.Exif)
    except Image.DecompressionBombError:
        exif = _huge_picture_exif(file, name).get_ifd(ExifTags.IFD.Exif)
    return exif.get(ExifTags.Base.UserComment)


def _huge_picture_exif(file: BinaryIO, name: str) -> Image.Exif:
    """The EXIF of a picture with more pixels than Pillow opens, even for its
    metadata: JPEG and WebP keep it in a block before the pixels, found here."""
    file.seek(0)
    head = file.read(12)
    if head[:3] == b"\xff\xd8\xff":
        raw = _jpeg_exif(file)
    elif head[:4] == b"RIFF" and head[8:] == b"WEBP":
        raw = _webp_exif(file)
    else:
        raise ParametersReadError(
            f"{name} has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, too many to open, "
            "so its parameters could not be read."
        )
    exif = Image.Exif()
    exif.load(raw or b"")
    return exif


def _jpeg_exif(file: BinaryIO) -> bytes | None:
    """The first APP1 segment holding EXIF (as Pillow reads it), among the segments
    between the start-of-image marker and the compressed data."""
    file.seek(2)
    while len(head := file.read(4)) == 4 and head[0] == 0xFF:
        kind, length = head[1], struct.unpack(">H", head[2:])[0]
        if kind in (0xDA, 0xD9) or length < 2:  # start of scan, end of image: no more
            return None
        body = file.read(length - 2)
        if kind == 0xE1 and body.startswith(b"Exif\0\0"):
            return body
    return None


def _webp_exif(file: BinaryIO) -> bytes | None:
    """The EXIF chunk of a WebP file (RIFF: a four-letter kind, a little-endian
    size, the data padded to an even length)."""
    file.seek(12)
    while len(head := file.read(8)) == 8:
        kind, size = struct.unpack("<4sI", head)
        if kind == b"EXIF":
            return file.read(size)
        file.seek(size + size % 2, io.SEEK_CUR)
    return None


def _user_comment(value: object) -> str | None:
    """The text of an EXIF UserComment: 8 bytes naming the code, then the text.
    A1111 (through piexif) writes UNICODE as big-endian UTF-16; little-endian and
    ASCII are read too."""
    if isinstance(value, str):  # Pillow decoded it already
        return value.strip("\0 ").strip() or None
    if not isinstance(value, bytes):
        return None
    code, body = value[:8], value[8:]
    if code == _UNICODE:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            text = body.decode("utf-16", "replace")  # the byte order mark says which
        else:
            # Mostly-ASCII text has its zero bytes first (big-endian) or second.
            little = body[1::2].count(0) > body[0::2].count(0)
            text = body.decode("utf-16-le" if little else "utf-16-be", "replace")
    elif code == _ASCII:
        text = body.decode("ascii", "replace")
    else:  # an undefined code (zeros) or none at all: UTF-8 is the common guess
        text = (body if code == b"\0" * 8 else value).decode("utf-8", "replace")
    return text.strip("\0 ").strip() or None

"""The result cache: finished images kept on disk under a key of everything
that changes them, so the same job asked again is answered at once.

Key: SHA-256 of a canonical JSON of the resolved request (mode, prompts and
the negative prompts as run, seed, steps, guidance, scheduler, size, strength,
every mode setting), digests of the init/mask/control pixels, the model's
and ControlNet's and LoRAs' files (relative path, size and mtime of each),
the device, precision, decoder (a tiny one's files too) and library versions,
the watermark and the image checker. A job with a random seed is never looked up (its seed was just
drawn), but it is stored, so asking again with the reported seed hits.

Layout: `<folder>/entries/<key>/entry.json` + `0.png`, `1.png`, ... (each a
complete PNG with its parameters; entry.json holds the SHA-256 of each file, so
a PNG put in by hand or altered is not served). An entry is written to a
temporary folder and renamed into place; hits touch entry.json, and the least
recently used entries go when the total passes the size cap. An entry that
cannot be read, or whose files do not match their digests, is deleted and
counted as a miss, never an error. Hits and misses are kept in `stats.json`.
No torch, no Qt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..atomicfile import atomic_file, temp_path_for
from .byte_sizes import size_text
from .hub_cache import snapshot_folder

if TYPE_CHECKING:
    from .request import GenerationRequest
    from .resolve import ResolvedModel

log = logging.getLogger(__name__)

FORMAT = 2  # 2: entry.json holds a digest of each image file
STALE_TEMP_S = 3600.0  # a temporary folder this old was left by a crashed writer
_lock = threading.Lock()  # one writer of stats.json per process


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_key(material: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"format": FORMAT, **material}).encode()).hexdigest()


def image_digest(image: Image.Image | None) -> str | None:
    if image is None:
        return None
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def files_fingerprint(path: str | Path) -> list[list[Any]]:
    """(relative path, size, mtime in ns) of a file, or of every file under a
    folder (links followed: a hub snapshot links to its blobs)."""
    root = Path(path)
    if root.is_file():
        stat = root.stat()
        return [[root.name, stat.st_size, stat.st_mtime_ns]]
    found = []
    for folder, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            file = Path(folder) / name
            with contextlib.suppress(OSError):
                stat = file.stat()
                found.append([file.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    return sorted(found)


# Request fields the key holds in their own form (files by fingerprint, images
# by digest), or that do not change the pixels.
KEYED_APART = frozenset(
    {
        "prompt", "extra_prompts", "negative_prompt", "model", "controlnet", "loras",
        "init_image", "mask_image", "control_image", "watermark", "force_regenerate",
    }
)  # fmt: skip


def job_key(
    request: GenerationRequest,
    model: ResolvedModel,
    controlnet: ResolvedModel | None,
    negatives: Sequence[str],
    store: Any,
    checker: Path | None = None,
) -> str:
    """The cache key of a resolved request (defaults filled, seed drawn) as it
    will run on `store`: the same key means the same pixels and metadata."""
    import diffusers
    import torch

    r = request
    opts = store.options
    precision = store.precision_for(model)  # per model: the automatic fast path
    decoder = store.decoder_for(model)  # per model and device: the speed pack
    material = {
        "model": [
            model.label,
            model.architecture.value,
            model.config,
            files_fingerprint(model.path),
        ],
        "controlnet": files_fingerprint(controlnet.path) if controlnet is not None else None,
        "loras": [[files_fingerprint(lora.path), lora.weight] for lora in r.loras],
        "prompts": list(r.prompts),
        "negatives": list(negatives),
        "images": [image_digest(im) for im in (r.init_image, r.mask_image, r.control_image)],
        "watermark": r.watermark.to_dict() if r.watermark is not None else None,
        "checker": files_fingerprint(checker) if checker is not None else None,
        # Everything about the engine that changes pixels: the decoder above all.
        "engine": [
            store.device,
            str(precision.dtype),
            opts.attention_slicing,
            opts.vae_tiling,
            _decoder_material(decoder),
            precision.channels_last,
            opts.compile,
        ],
        "versions": [torch.__version__, diffusers.__version__],
    }
    # Every other field goes in as it is: a field added to the request is part
    # of the key without an edit here (a needless miss at worst, never a wrong hit).
    for field in dataclasses.fields(r):
        if field.name not in KEYED_APART:
            material[field.name] = getattr(r, field.name)
    return make_key(material)


def _decoder_material(decoder: Any) -> list[Any] | None:
    """A tiny decoder by name and by its files (a folder's, or the snapshot of
    the hub id it names): an image decoded with other weights is another image."""
    if decoder is None:
        return None
    folder = Path(decoder.source)
    if not folder.exists():  # a hub id in the local cache (tiny_vae)
        folder = snapshot_folder(decoder.source) or folder
    return [decoder.name, decoder.source, files_fingerprint(folder)]


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    size_bytes: int
    max_bytes: int
    folder: Path

    def describe(self) -> str:
        looked = self.hits + self.misses
        rate = f" ({100 * self.hits / looked:.0f}% hits)" if looked else ""
        return (
            f"{self.entries} entries, {size_text(self.size_bytes)} of {size_text(self.max_bytes)}; "
            f"{self.hits} hits, {self.misses} misses{rate}. Folder: {self.folder}"
        )


@dataclass(frozen=True)
class CachedResult:
    images: tuple[Image.Image, ...]
    seeds: tuple[int, ...]
    infotexts: tuple[str, ...]
    scheduler: str | None
    notices: tuple[str, ...]


class ResultCache:
    """A folder of finished results. Safe to share between threads and processes:
    writes are renames, and a reader that loses a race sees a miss."""

    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max(0, int(max_bytes))
        self._entries = self.folder / "entries"

    # -- lookups -------------------------------------------------------------------------

    def get(self, key: str) -> CachedResult | None:
        """The stored result for `key`, or None (a miss). Counts hits and misses."""
        entry = self._entries / key
        result = None
        if entry.is_dir():
            try:
                result = self._read(entry, key)
            except Exception as exc:  # JSON, PIL and OS errors alike: the entry is damaged
                log.warning("dropping damaged cache entry %s: %s", key, exc)
                shutil.rmtree(entry, ignore_errors=True)
        if result is not None:
            with contextlib.suppress(OSError):
                os.utime(entry / "entry.json")  # most recently used
        self._count("hits" if result is not None else "misses")
        return result

    def _read(self, entry: Path, key: str) -> CachedResult:
        manifest = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
        if manifest.get("key") != key or manifest.get("format") != FORMAT:
            raise ValueError("the manifest does not belong to this key")
        seeds = tuple(int(s) for s in manifest["seeds"])
        infotexts = tuple(str(t) for t in manifest["infotexts"])
        digests = [str(d) for d in manifest["digests"]]
        if not seeds or not len(seeds) == len(infotexts) == len(digests):
            raise ValueError("the entry's images, texts and digests do not match")
        images = []
        for index, digest in enumerate(digests):
            data = (entry / f"{index}.png").read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"{index}.png is not the file this entry stored")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                images.append(image.copy())
        scheduler = manifest.get("scheduler")
        notices = tuple(str(n) for n in manifest.get("notices", ()))
        return CachedResult(tuple(images), seeds, infotexts, scheduler, notices)

    # -- storing -------------------------------------------------------------------------

    def put(
        self,
        key: str,
        images: Sequence[Image.Image],
        seeds: Sequence[int],
        infotexts: Sequence[str],
        scheduler: str | None,
        notices: Sequence[str] = (),
        pnginfo: Any = None,
    ) -> None:
        """Stores a result (replacing an older one), then trims to the size cap.
        `pnginfo(infotext)` gives the PngInfo each file is written with."""
        self._entries.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(self._entries / key)  # a folder, which file writers leave alone
        temp.mkdir()
        try:
            digests = []
            for index, (image, text) in enumerate(zip(images, infotexts, strict=True)):
                buffer = io.BytesIO()
                image.save(buffer, format="PNG", pnginfo=pnginfo(text) if pnginfo else None)
                (temp / f"{index}.png").write_bytes(buffer.getvalue())
                digests.append(hashlib.sha256(buffer.getvalue()).hexdigest())
            manifest = {
                "format": FORMAT,
                "key": key,
                "seeds": list(seeds),
                "infotexts": list(infotexts),
                "digests": digests,
                "scheduler": scheduler,
                "notices": list(notices),
                "created": time.time(),
            }
            (temp / "entry.json").write_text(canonical_json(manifest), encoding="utf-8")
            target = self._entries / key
            if target.exists():  # force-regenerated: the new result replaces the old
                shutil.rmtree(target, ignore_errors=True)
            os.replace(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        self.evict()

    # -- size, stats, clearing -------------------------------------------------------------

    def _scan(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, folder) of every entry; stale temporary folders go."""
        found = []
        if not self._entries.is_dir():
            return found
        now = time.time()
        for entry in self._entries.iterdir():
            try:
                if entry.name.startswith("."):
                    if now - entry.stat().st_mtime > STALE_TEMP_S:
                        shutil.rmtree(entry, ignore_errors=True)
                    continue
                size = sum(f.stat().st_size for f in entry.iterdir())
                used = (entry / "entry.json").stat().st_mtime
            except OSError:  # half-deleted, or no manifest: not a usable entry
                shutil.rmtree(entry, ignore_errors=True)
                continue
            found.append((used, size, entry))
        return found

    def evict(self, max_bytes: int | None = None) -> int:
        """Deletes least recently used entries until the total fits; returns how many."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        entries = sorted(self._scan())
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _used, size, entry in entries:
            if total <= limit:
                break
            shutil.rmtree(entry, ignore_errors=True)
            total -= size
            removed += 1
        return removed

    def stats(self) -> CacheStats:
        entries = self._scan()
        counts = self._read_counts()
        return CacheStats(
            hits=counts["hits"],
            misses=counts["misses"],
            entries=len(entries),
            size_bytes=sum(size for _, size, _ in entries),
            max_bytes=self.max_bytes,
            folder=self.folder,
        )

    def clear(self) -> int:
        """Deletes every entry and resets the counts; returns how many entries went."""
        count = len(self._scan())
        shutil.rmtree(self._entries, ignore_errors=True)
        with _lock, contextlib.suppress(OSError):  # a folder that is a file holds no counts
            (self.folder / "stats.json").unlink(missing_ok=True)
        return count

    def _read_counts(self) -> dict[str, int]:
        try:
            data = json.loads((self.folder / "stats.json").read_text(encoding="utf-8"))
            return {k: int(data.get(k, 0)) for k in ("hits", "misses")}
        except (OSError, ValueError, TypeError, AttributeError):
            return {"hits": 0, "misses": 0}

    def _count(self, which: str) -> None:
        with _lock:
            counts = self._read_counts()
            counts[which] += 1
            try:
                with atomic_file(self.folder / "stats.json") as file:
                    file.write(json.dumps(counts).encode("utf-8"))
            except OSError as exc:  # counts are a convenience: never fail a job for them
                log.warning("cache counts not saved: %s", exc)

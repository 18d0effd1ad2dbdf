"""What the hub cache holds of a model, which files of a repo the app needs,
and removing a model's files again.

The cache is huggingface_hub's (`HF_HUB_CACHE`), read through its own
`scan_cache_dir`; nothing here touches the network, torch or Qt.
"""

from __future__ import annotations

import re
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from .catalog import CATALOG
from .errors import EngineError, JobCancelledError


class DownloadError(EngineError):
    """A download that could not start or finish; the sentence says why and what to do."""


class DownloadCancelledError(JobCancelledError):
    """The user cancelled; what arrived stays for the next run to resume."""


SKIPPED_FOLDERS = ("safety_checker",)
MARKERS = ("model_index.json", "config.json")  # at the root: what resolve.py looks for
_WEIGHT = re.compile(
    r"(?P<base>[^/.]+)(?:\.(?P<variant>[a-z0-9_]+))?(?:-\d{5}-of-\d{5})?"
    r"\.(?P<ext>safetensors|bin|ckpt|pt|pth|msgpack|onnx|h5)"
)
_INDEX = re.compile(
    r"(?P<base>[^/.]+)\.(?P<ext>safetensors|bin)\.index(?:\.(?P<variant>\w+))?\.json"
)
_CONFIG_SUFFIXES = (".json", ".txt", ".model")
_PREFERRED_FORMATS = ("safetensors", "bin")  # never .ckpt/.pt: pickles, and single files


class ModelState(StrEnum):
    PRESENT = "present"
    PARTIAL = "partial"
    NOT_DOWNLOADED = "not downloaded"
    UPDATE_AVAILABLE = "update available"  # present, and the hub has a newer commit


def repo_id_for(spec: str) -> tuple[str, str]:
    """(hub repo id, label) for a catalog name or a hub id."""
    spec = spec.strip()
    entry = CATALOG.get(spec)
    if entry is not None:
        if not entry.hub_id:
            how = "is bundled with the app" if entry.bundled else "is built on this machine"
            raise DownloadError(f"Model {spec!r} {how}; there is nothing to download.")
        return entry.hub_id, spec
    if spec.count("/") != 1 or spec.startswith((".", "/", "~")):
        names = ", ".join(n for n, e in CATALOG.items() if e.hub_id)
        raise DownloadError(
            f"{spec!r} is neither a catalog model ({names}) nor a hub id like 'owner/name'."
        )
    return spec, spec


# The names diffusers and transformers load; other weights beside them are for
# other tools (taesd's taesd_decoder.safetensors is ComfyUI's copy).
_LOADED_BASES = ("diffusion_pytorch_model", "model")


def _weights_of(names: list[str], fp16: bool) -> list[str]:
    """One set of weights from one folder: safetensors over bin, the fp16 variant
    only when asked for and present, the full-precision one otherwise."""
    found: dict[tuple[str, str | None], list[str]] = {}
    matches = []
    for name in names:
        leaf = name.rsplit("/", 1)[-1]
        match = _WEIGHT.fullmatch(leaf) or _INDEX.fullmatch(leaf)
        if match and match["ext"] in _PREFERRED_FORMATS:
            matches.append((name, match))
    if any(m["base"] in _LOADED_BASES for _, m in matches):
        matches = [(n, m) for n, m in matches if m["base"] in _LOADED_BASES]
    for name, match in matches:
        found.setdefault((match["ext"], match["variant"]), []).append(name)
    for ext in _PREFERRED_FORMATS:
        variants = [v for e, v in found if e == ext]
        if not variants:
            continue
        wanted = "fp16" if fp16 and "fp16" in variants else None
        if wanted not in variants:
            wanted = "fp16" if "fp16" in variants else variants[0]
        return found[(ext, wanted)]
    return []


def only_variants(names: list[str]) -> set[str]:
    """The variants ("fp16") that a folder's weight files come in with no
    full-precision set beside them: diffusers loads those only when asked by name."""
    plain, variants = False, set()
    for name in names:
        match = _WEIGHT.fullmatch(name) or _INDEX.fullmatch(name)
        if match and match["ext"] in _PREFERRED_FORMATS:
            if match["variant"]:
                variants.add(match["variant"])
            else:
                plain = True
    return set() if plain else variants


def select_files(names: list[str], fp16: bool = False) -> list[str]:
    """The files of a diffusers repo the pipeline loads."""
    folders: dict[str, list[str]] = {}
    for name in names:
        folder, _, leaf = name.rpartition("/")
        if "/" in folder or folder in SKIPPED_FOLDERS or leaf.startswith("."):
            continue
        folders.setdefault(folder, []).append(name)
    pipeline = "model_index.json" in names
    chosen = []
    for folder, files in folders.items():
        if folder == "" and pipeline:
            chosen.append("model_index.json")  # root weights are single-file checkpoints
            continue
        configs = [f for f in files if f.endswith(_CONFIG_SUFFIXES) and not _INDEX.fullmatch(f)]
        chosen += [f for f in configs if not f.rsplit("/", 1)[-1].lower().startswith("readme")]
        chosen += _weights_of(files, fp16)
    return sorted(set(chosen))


def hub_offline() -> bool:
    """HF_HUB_OFFLINE is set: nothing may ask the hub."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_dir(repo_id: str) -> Path:
    return cache_dir() / f"models--{repo_id.replace('/', '--')}"


def _has_marker(snapshot: Path) -> bool:
    return any((snapshot / marker).is_file() for marker in MARKERS)


def downloaded_ref(repo_id: str) -> tuple[str, str] | None:
    """(branch or tag, commit) of the snapshot the loader uses: `main` when it
    was downloaded, else the ref downloaded last (`--revision v1.0`), else a
    snapshot fetched by commit alone. None when no complete snapshot is here."""
    folder = repo_dir(repo_id)
    refs = folder / "refs"
    found = []
    if refs.is_dir():
        for ref in refs.rglob("*"):
            if ref.is_file():
                commit = ref.read_text(encoding="utf-8").strip()
                if _has_marker(folder / "snapshots" / commit):
                    name = ref.relative_to(refs).as_posix()
                    found.append((name != "main", -ref.stat().st_mtime, name, commit))
    if found:
        _, _, name, commit = min(found)
        return name, commit
    snapshots = folder / "snapshots"
    complete = [p for p in snapshots.iterdir() if _has_marker(p)] if snapshots.is_dir() else []
    if complete:
        newest = max(complete, key=lambda p: p.stat().st_mtime)
        return newest.name, newest.name
    return None


def update_ref(spec: str) -> str | None:
    """The branch or tag an update of `spec` fetches: the one of the version here
    (see downloads.update_available); None (main) when none is, or it was fetched by commit."""
    here = downloaded_ref(repo_id_for(spec)[0])
    return here[0] if here is not None and here[0] != here[1] else None


def has_partial(repo_id: str) -> bool:
    """Part of a file of the repo is here (a download stopped midway): cheap, no scan."""
    blobs = repo_dir(repo_id) / "blobs"
    return blobs.is_dir() and any(blobs.glob("*.incomplete"))


def snapshot_folder(repo_id: str) -> Path | None:
    """The snapshot folder the loader uses (see downloaded_ref), or None. Never downloads."""
    found = downloaded_ref(repo_id)
    return repo_dir(repo_id) / "snapshots" / found[1] if found else None


def _scan(repo_id: str):
    """(the cache scan narrowed to this repo, the repo) or (None, None)."""
    import huggingface_hub

    try:
        info = huggingface_hub.scan_cache_dir(cache_dir())
    except huggingface_hub.CacheNotFound:
        return None, None
    except (OSError, ValueError) as exc:  # a file, or a folder this user cannot read
        raise DownloadError(
            f"The hub cache {cache_dir()} cannot be read ({exc.__class__.__name__}); set "
            "HF_HUB_CACHE to a folder this user can read and write."
        ) from None
    repo = next((r for r in info.repos if r.repo_id == repo_id and r.repo_type == "model"), None)
    # delete_revisions() finds revisions by commit hash in whichever repo comes
    # first; two repos can share one (a mirror), so the scan holds only this repo.
    return (replace(info, repos=frozenset({repo})) if repo else None), repo


def model_state(spec: str) -> tuple[ModelState, int]:
    """Whether the model is on this machine, and its bytes on disk (partial
    files included). Present: a snapshot holds the marker file the loader needs."""
    repo_id, _ = repo_id_for(spec)
    _, repo = _scan(repo_id)
    folder = repo_dir(repo_id) / "blobs"
    partial = sum(p.stat().st_size for p in folder.glob("*.incomplete")) if folder.is_dir() else 0
    on_disk = (repo.size_on_disk if repo is not None else 0) + partial
    complete = repo is not None and any(
        {str(f.file_path.relative_to(rev.snapshot_path)) for f in rev.files} & set(MARKERS)
        for rev in repo.revisions
    )
    if complete and not partial:
        return ModelState.PRESENT, on_disk
    return (ModelState.PARTIAL if on_disk else ModelState.NOT_DOWNLOADED), on_disk


def remove_model(spec: str) -> int:
    """Deletes every revision of that repo from the hub cache, and its partial
    files; blobs of other repos are never touched. Returns the bytes freed."""
    repo_id, label = repo_id_for(spec)
    scan, repo = _scan(repo_id)
    folder = repo_dir(repo_id) / "blobs"
    freed = 0
    if folder.is_dir():
        for path in folder.glob("*.incomplete"):
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    if scan is None or repo is None:
        if not freed:
            raise DownloadError(f"{label} is not on this machine; there is nothing to remove.")
        return freed
    return freed + _delete(scan, [rev.commit_hash for rev in repo.revisions])


def _delete(scan, hashes: list[str]) -> int:
    strategy = scan.delete_revisions(*hashes)
    strategy.execute()
    return strategy.expected_freed_size


def drop_revision(repo_id: str, commit: str) -> int:
    """Deletes one superseded revision (an update moved its ref away), keeping
    the blobs the newer one shares with it. Returns the bytes freed."""
    scan, repo = _scan(repo_id)
    if scan is None or repo is None:
        return 0
    revision = next((r for r in repo.revisions if r.commit_hash == commit), None)
    if revision is None or revision.refs:
        return 0  # gone already, or still named by another branch or tag
    return _delete(scan, [commit])

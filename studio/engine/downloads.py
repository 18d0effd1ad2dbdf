"""Fetching catalog models from the hub (hub_cache.py reads and removes them).

Everything goes through `huggingface_hub`, so its cache layout, `HF_TOKEN`,
`HF_ENDPOINT` and `HF_HUB_CACHE` all hold; only the resuming of a part across
runs is ours (see _fetch_blob). Only the files the pipeline loads are fetched
(hub_cache.select_files). Nothing here imports torch or Qt.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit

from .byte_sizes import size_text
from .hub_cache import (
    MARKERS,
    DownloadCancelledError,
    DownloadError,
    ModelState,
    cache_dir,
    downloaded_ref,
    drop_revision,
    hub_offline,
    model_state,
    remove_model,
    repo_dir,
    repo_id_for,
    select_files,
    update_ref,
)
from .hub_token import hub_token, token_problem

__all__ = [  # the cache's side is re-exported: callers import one module
    "DownloadCancelledError",
    "DownloadError",
    "DownloadPlan",
    "DownloadProgress",
    "ModelState",
    "download",
    "model_state",
    "plan_download",
    "remove_model",
    "select_files",
    "update_available",
    "update_ref",
]


# Kept free beyond the download itself, so finishing one never fills the disk.
DISK_MARGIN = 256 * 2**20
# The client reads 10 MB at a time (DOWNLOAD_CHUNK_SIZE), so progress and a
# cancel would wait for 10 MB: seconds on a slow line. Reading 1 MB at a time
# costs nothing measurable (benchmarks/download_progress.py: 64 KB reads ran
# as fast as 10 MB ones through the loopback hub).
READ_SIZE = 2**20


@dataclass(frozen=True)
class DownloadPlan:
    repo_id: str
    label: str  # what the user named
    revision: str  # the commit, so every file comes from the same one
    files: tuple[tuple[str, int], ...]  # (path in the repo, size in bytes), markers last
    ref: str = "main"  # the branch or tag asked for, pointed at `revision` once complete

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)

    def describe(self) -> str:
        return f"{self.label}: {len(self.files)} files, {size_text(self.total)}"


@dataclass(frozen=True)
class DownloadProgress:
    file: str
    done: int  # bytes of the whole plan present so far
    total: int


def _hub():
    import huggingface_hub
    import huggingface_hub.constants  # a submodule the package does not import itself

    return huggingface_hub


def _check_online() -> None:
    if hub_offline():
        raise DownloadError(
            "Downloads are off because HF_HUB_OFFLINE is set; unset it (or set it to 0) "
            "and try again. Models already on this machine keep working."
        )


def _sentence(exc: BaseException, repo_id: str) -> DownloadError:
    """The hub client's errors as one sentence each."""
    from huggingface_hub import errors

    endpoint = _hub().constants.ENDPOINT
    page = f"{endpoint}/{repo_id}"
    if isinstance(exc, errors.OfflineModeIsEnabled):
        _check_online()
    if isinstance(exc, errors.GatedRepoError) or (
        isinstance(exc, errors.HfHubHTTPError)
        and getattr(exc.response, "status_code", 0) in (401, 403)
    ):
        return DownloadError(
            f"{repo_id} is gated: accept its licence at {page}, then save a token of that "
            "account in Settings (Hugging Face token) or set HF_TOKEN."
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return DownloadError(f"{repo_id} has no such revision; check --revision.")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return DownloadError(
            f"{repo_id} was not found on {endpoint}: check the name (a private repo also "
            "needs a token of its account, saved in Settings or set as HF_TOKEN)."
        )
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return DownloadError(f"A file of {repo_id} is missing on {endpoint}; try another revision.")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == errno.ENOSPC:
        return DownloadError(
            f"The disk filled up while downloading {repo_id}; free some space and run the "
            "same download again to continue where it stopped."
        )
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        return DownloadError(
            f"A file of {repo_id} arrived with the wrong size, so it was thrown away; run "
            "the same download again to fetch it anew."
        )
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return DownloadError(
            f"Could not write {exc.filename} ({exc.strerror}); make the hub cache folder "
            "writable, or set HF_HUB_CACHE to one that is, and try again."
        )
    import httpx2

    if isinstance(exc, httpx2.ConnectError):
        return DownloadError(
            f"Could not reach {endpoint} ({exc}); check the network (or HF_ENDPOINT) and try again."
        )
    return DownloadError(
        f"The connection to {endpoint} was lost while downloading {repo_id} ({exc}); "
        "check the network and run the same download again to continue where it stopped."
    )


def _hub_errors() -> tuple[type[BaseException], ...]:
    import httpx2
    from huggingface_hub import errors

    return (errors.HfHubHTTPError, errors.OfflineModeIsEnabled, httpx2.HTTPError, OSError)


def _token(token: str | None) -> str | None:
    """The token to send: the one given, else the user's (hub_token)."""
    token = token or hub_token()
    if token and (problem := token_problem(token)):
        raise DownloadError(
            f"{problem}; save it again in Settings (Hugging Face token) or correct HF_TOKEN."
        )
    return token


def plan_download(
    spec: str,
    revision: str | None = None,
    include: list[str] | None = None,
    device: str = "cpu",
    token: str | None = None,
) -> DownloadPlan:
    """What `download` will fetch, with sizes from the hub's metadata. `include`
    (glob patterns) replaces the automatic choice of files."""
    repo_id, label = repo_id_for(spec)
    _check_online()
    hub = _hub()
    try:
        info = hub.HfApi().model_info(
            repo_id, revision=revision, files_metadata=True, token=_token(token)
        )
    except _hub_errors() as exc:
        raise _sentence(exc, repo_id) from None
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or ()}
    names = list(sizes)
    if include:
        chosen = sorted(n for n in names if any(fnmatch(n, p) for p in include))
    else:
        chosen = select_files(names, fp16=device.startswith("cuda"))
    if not chosen:
        what = f"matches {' '.join(include)}" if include else "is a diffusers model file"
        raise DownloadError(f"Nothing in {repo_id} {what}; check the name or the pattern.")
    # The loader finds a model by its marker file, so that comes last: a folder
    # cut short never looks complete.
    chosen.sort(key=lambda n: (n in MARKERS, n))
    ref = revision or "main"
    return DownloadPlan(repo_id, label, info.sha or ref, tuple((n, sizes[n]) for n in chosen), ref)


def free_bytes(folder: Path) -> int:
    """Free space where `folder` is or will be."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _present(plan: DownloadPlan, name: str) -> bool:
    found = _hub().try_to_load_from_cache(plan.repo_id, name, revision=plan.revision)
    return isinstance(found, str)


def _reporter(on_bytes: Callable[[int], None], cancelled: Callable[[], bool]) -> type:
    """A tqdm stand-in for huggingface_hub: passes each chunk on, and stops the
    transfer by raising when the user cancelled."""

    class Reporter:
        def __init__(self, *_args: object, initial: int = 0, **_kwargs: object) -> None:
            if initial:
                on_bytes(initial)  # resumed: the part already on disk counts as done
            if cancelled():
                raise DownloadCancelledError("The download was cancelled.")

        def update(self, n: int | float | None = 1) -> None:
            on_bytes(int(n or 0))
            if cancelled():
                raise DownloadCancelledError("The download was cancelled.")

        def close(self) -> None:
            pass

        def __enter__(self) -> Reporter:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    return Reporter


def _as_check(cancel: threading.Event | Callable[[], bool] | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def _fetch_blob(plan: DownloadPlan, name: str, token: str | None, reporter: type) -> None:
    """Fetches one file into the cache's blobs, continuing a partial one.

    huggingface_hub (2.x) deletes its partial file when a transfer fails, so a
    rerun would start over; this keeps `<etag>.incomplete` across runs and
    hands the client's own `http_get` the offset to resume from."""
    from huggingface_hub import file_download as fd
    from huggingface_hub.utils import WeakFileLock, build_hf_headers

    url = fd.hf_hub_url(plan.repo_id, name, revision=plan.revision)
    meta = fd.get_hf_file_metadata(url, token=token)
    if not meta.etag:
        raise DownloadError(f"{fd.constants.ENDPOINT} did not say which version of {name} it has.")
    blob = repo_dir(plan.repo_id) / "blobs" / meta.etag
    if blob.exists():
        return
    blob.parent.mkdir(parents=True, exist_ok=True)
    lock = cache_dir() / ".locks" / repo_dir(plan.repo_id).name / f"{meta.etag}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    # The lock hf_hub_download takes for this blob: two downloads of one file
    # (two windows, a window and the CLI) never append to the same part.
    with WeakFileLock(str(lock)):
        if not blob.exists():
            _transfer(url, meta, blob, build_hf_headers(token=token), reporter)
            if fd.REGEX_SHA256.fullmatch(meta.etag) and _sha256(_partial(blob)) != meta.etag:
                _partial(blob).unlink()
                raise DownloadError(
                    f"{name} of {plan.repo_id} arrived damaged (its checksum differs), so it "
                    "was thrown away; run the same download again to fetch it anew."
                )
            _partial(blob).replace(blob)


def _partial(blob: Path) -> Path:
    return blob.with_name(f"{blob.name}.incomplete")


def _transfer(url: str, meta, blob: Path, headers: dict, reporter: type) -> None:
    """Appends the rest of the file to its part, from where the part ends."""
    from huggingface_hub import file_download as fd

    headers["Accept-Encoding"] = "identity"  # sizes and offsets are of the bytes on disk
    # A module setting the client reads per call; only our downloads use it here.
    fd.constants.DOWNLOAD_CHUNK_SIZE = min(fd.constants.DOWNLOAD_CHUNK_SIZE, READ_SIZE)
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # a signed CDN address: the token stays home
    try:
        with _partial(blob).open("ab") as file:
            fd.http_get(
                meta.location,
                file,
                resume_size=file.tell(),
                headers=headers,
                expected_size=meta.size,
                tqdm_class=reporter,
            )
    except OSError as exc:
        if "Consistency check failed" in str(exc):
            # Wrong, not short: resuming would keep the damage.
            _partial(blob).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    plan: DownloadPlan,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    token: str | None = None,
    free_space: Callable[[Path], int] = free_bytes,
) -> Path:
    """Fetches what `plan` lists into the hub cache and returns the snapshot
    folder. A rerun after a cancel, a lost connection or a killed process
    continues each file from where it stopped."""
    _check_online()
    hub = _hub()
    token = _token(token)
    cancelled = _as_check(cancel)
    missing = [(n, s) for n, s in plan.files if not _present(plan, n)]
    needed = sum(s for _, s in missing)
    folder = cache_dir()
    free = free_space(folder)
    if needed + DISK_MARGIN > free:
        raise DownloadError(
            f"{plan.label} needs {size_text(needed)} but only {size_text(free)} is free on "
            f"{folder}; free some space (or set HF_HUB_CACHE to a bigger disk) and try again."
        )
    done = plan.total - needed
    current = [""]

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(DownloadProgress(current[0], done, plan.total))

    reporter = _reporter(on_bytes, cancelled)
    snapshot: Path | None = None
    for name, _size in missing:
        current[0] = name
        try:
            _fetch_blob(plan, name, token, reporter)
            # The blob is in place: the client only links it into the snapshot.
            path = hub.hf_hub_download(plan.repo_id, name, revision=plan.revision, token=token)
        except (DownloadCancelledError, DownloadError):
            raise
        except _hub_errors() as exc:
            raise _sentence(exc, plan.repo_id) from None
        snapshot = Path(path).parents[len(Path(name).parts) - 1]
    if plan.ref != plan.revision:
        _move_ref(plan)
    return snapshot or repo_dir(plan.repo_id) / "snapshots" / plan.revision


def _move_ref(plan: DownloadPlan) -> None:
    """Points the branch or tag at the commit just fetched (files were fetched by
    commit; the ref is what resolve.py looks up). An update supersedes the
    revision the ref named before: it is removed, except the blobs it shares."""
    ref = repo_dir(plan.repo_id) / "refs" / plan.ref
    old = ref.read_text(encoding="utf-8").strip() if ref.is_file() else None
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(plan.revision)
    if old and old != plan.revision:
        drop_revision(plan.repo_id, old)


def update_available(spec: str, token: str | None = None) -> bool:
    """Whether the hub has a newer commit of the branch or tag this machine holds
    (asks the hub). False for a model that is not here or was fetched by commit."""
    repo_id, _ = repo_id_for(spec)
    here = downloaded_ref(repo_id)
    if here is None or here[0] == here[1]:
        return False
    _check_online()
    try:
        info = _hub().HfApi().model_info(repo_id, revision=here[0], token=_token(token))
    except _hub_errors() as exc:
        raise _sentence(exc, repo_id) from None
    return bool(info.sha) and info.sha != here[1]

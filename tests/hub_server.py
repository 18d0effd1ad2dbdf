"""A loopback stand-in for the Hugging Face hub, enough of its HTTP API for the
real `huggingface_hub` client: repo info with the file list and sizes, and
`resolve` with the ETag/commit headers, HEAD and Range requests.

It serves folders the tests build, counts the bytes it sends per file, and can
misbehave on purpose: require a token (a gated repo), cut a connection after
some bytes, or send a file whose content is not the size it advertised."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class HubRepo:
    folder: Path
    commit: str = ""
    token: str | None = None  # set: a gated repo that answers 401 without it
    files: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                self.files[path.relative_to(self.folder).as_posix()] = path.read_bytes()
        if not self.commit:
            digest = hashlib.sha1()
            for name, data in self.files.items():
                digest.update(name.encode() + hashlib.sha256(data).digest())
            self.commit = digest.hexdigest()


CHUNK = 64 * 1024


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeHub:
    """Start with `with FakeHub() as hub:`; `hub.url` is the endpoint."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.served: dict[str, int] = defaultdict(int)  # "repo/path" -> body bytes sent
        self.cut_after: dict[str, int] = {}  # "repo/path" -> cut the next GET after N bytes
        self.wrong_content: dict[str, bytes] = {}  # "repo/path" -> sent instead of the file
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.chunk_delay = 0.0  # seconds between chunks of a body: a slow line
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, folder: Path, token: str | None = None) -> HubRepo:
        self.repos[repo_id] = HubRepo(folder, token=token)
        return self.repos[repo_id]

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _count(self, key: str, sent: int) -> None:
        with self._lock:
            self.served[key] += sent

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._route(head=True)

            def do_GET(self) -> None:
                self._route(head=False)

            def _route(self, head: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                query = urlsplit(self.path).query
                hub.requests.append(
                    (self.command, path, {k.lower(): v for k, v in self.headers.items()})
                )
                api = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
                if api:
                    return self._info(api.group(1), "blobs=true" in query)
                got = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if got:
                    return self._file(got.group(1), got.group(3), head)
                self._error(404, "RepoNotFound")

            def _repo(self, repo_id: str) -> HubRepo | None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self._error(404, "RepoNotFound")
                    return None
                if repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                    self._error(401, "GatedRepo")
                    return None
                return repo

            def _error(self, status: int, code: str) -> None:
                body = json.dumps({"error": code}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _info(self, repo_id: str, blobs: bool) -> None:
                repo = self._repo(repo_id)
                if repo is None:
                    return
                siblings = []
                for name, data in repo.files.items():
                    sibling: dict = {"rfilename": name}
                    if blobs:
                        sibling["size"] = len(data)
                        sibling["blobId"] = hashlib.sha1(data).hexdigest()
                        sibling["lfs"] = {
                            "sha256": _etag(data),
                            "size": len(data),
                            "pointerSize": 134,
                        }
                    siblings.append(sibling)
                body = json.dumps(
                    {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "siblings": siblings}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _file(self, repo_id: str, name: str, head: bool) -> None:
                repo = self._repo(repo_id)
                if repo is None:
                    return
                if name not in repo.files:
                    return self._error(404, "EntryNotFound")
                key = f"{repo_id}/{name}"
                data = repo.files[name]
                etag = _etag(data)
                if not head:
                    data = hub.wrong_content.get(key, data)
                start = 0
                ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if ranged and not head:
                    start = int(ranged.group(1))
                body = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                cut = hub.cut_after.pop(key, None)
                if cut is not None:
                    body = body[:cut]
                    self.close_connection = True
                for at in range(0, len(body), CHUNK):
                    try:
                        self.wfile.write(body[at : at + CHUNK])
                    except OSError:  # the client went away (a cancelled download)
                        self.close_connection = True
                        return
                    hub._count(key, len(body[at : at + CHUNK]))
                    if hub.chunk_delay:
                        time.sleep(hub.chunk_delay)

        return Handler

"""Running the API: `ApiServer` serves it with uvicorn on a background thread
(inside the app, in tests, and for `studio serve`, whose main thread just
waits for Ctrl+C)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time

from ..engine.catalog import DEFAULT_IMAGE_MODEL
from ..engine.errors import EngineError
from ..engine.jobs import JobQueue
from ..engine.options import EngineOptions, ServiceOptions
from ..mercury.settings import MercurySettings
from .api import ApiConfig, create_app
from .engine_link import EngineLink, HeadlessEngine
from .limits import DEFAULT_MAX_QUEUE, JobLimits
from .text import TextService

TOKEN_ENV = "STUDIO_API_TOKEN"
# Once the server's own jobs are cancelled, requests end at once; this only
# bounds a client that is slow to read its answer.
GRACEFUL_SHUTDOWN_S = 3
# A cancelled job ends at its next step: seconds for a big model on a CPU. Past
# this the process leaves without waiting (see serve_forever).
ENGINE_STOP_S = 15
NO_TOKEN = (
    "Serving on {host} without a token would let anyone on the network use this "
    "machine; add --token (or set STUDIO_API_TOKEN), or bind to 127.0.0.1."
)
log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_text_service() -> TextService:
    return TextService(MercurySettings().resolved_base_url())


class ApiServer:
    """The HTTP API over `queue` (the window's own, or a headless one).

    `start()` binds at once, so a port in use is an EngineError sentence, and
    returns when the server answers; `stop()` cancels the server's own jobs,
    answers their requests and ends it (the queue keeps running)."""

    def __init__(
        self,
        queue: JobQueue,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        default_model: str = DEFAULT_IMAGE_MODEL,
        text: TextService | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        jobs: JobLimits | None = None,
    ) -> None:
        if not is_loopback(host) and not token:
            raise EngineError(NO_TOKEN.format(host=host))
        self.host, self._port = host, port
        config = ApiConfig(
            default_model, token or None, loopback_only=is_loopback(host), jobs=jobs or JobLimits()
        )
        self.link = EngineLink(queue, max_queue)
        self.app = create_app(self.link, text or default_text_service(), config)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    def start(self, timeout_s: float = 20.0) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError as exc:
            sock.close()
            raise EngineError(
                f"Cannot listen on {self.host}:{self._port} ({exc.strerror or exc}); "
                "choose another port with --port."
            ) from None
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise EngineError(f"The API server did not start on {self.url}.")
            time.sleep(0.01)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self.link.close()  # waiting requests answer 503 now, so shutting down waits for none
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():  # a request still streaming: stop waiting for it
            self._server.force_exit = True
            self._thread.join(timeout_s)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _leave_now(_signum: int, _frame: object) -> None:
    os._exit(1)  # a second Ctrl+C or SIGTERM while stopping: do not wait any more


def serve_forever(
    args: argparse.Namespace, options: EngineOptions, services: ServiceOptions
) -> int:
    """`studio serve`: a headless engine and the API until Ctrl+C."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    text = TextService(args.mercury_url) if args.mercury_url else default_text_service()
    if getattr(args, "cluster", None) == "ray":
        return _serve_on_ray(args, options, services, token, text.base_url)
    engine = HeadlessEngine(options, services)
    server = ApiServer(
        engine.queue,
        host=args.host,
        port=args.port,
        token=token,
        default_model=args.model,
        text=text,
        max_queue=args.max_queue,
    )
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        # A service manager stops us with SIGTERM: end as cleanly as on Ctrl+C.
        signal.signal(signal.SIGTERM, _interrupt)
    engine.start()
    try:
        server.start()
        print(
            f"Serving on {server.url}  (OpenAPI page: {server.url}/docs; "
            f"token {'required' if token else 'not required'}; Ctrl+C stops)",
            file=sys.stderr,
            flush=True,
        )
        while server.running:
            time.sleep(0.5)
        return 1  # the server thread ended by itself
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr, flush=True)
        return 0
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, _leave_now)
            signal.signal(signal.SIGTERM, _leave_now)
        server.stop()  # every waiting request is answered (503) and its job cancelled
        if not engine.stop(ENGINE_STOP_S):
            # torch is still inside a step; finalising the interpreter around it
            # aborts the process natively, so leave without finalising.
            print(
                "The engine was still finishing a step; stopped without waiting for it.",
                file=sys.stderr,
                flush=True,
            )
            os._exit(0)


def _serve_on_ray(
    args: argparse.Namespace,
    options: EngineOptions,
    services: ServiceOptions,
    token: str | None,
    text_url: str,
) -> int:
    """`studio serve --cluster ray` (studio/server/cluster/): Ray is imported only here."""
    from .cluster import ray_missing

    if missing := ray_missing():
        print(missing, file=sys.stderr)
        return 1
    if not is_loopback(args.host) and not token:
        print(NO_TOKEN.format(host=args.host), file=sys.stderr)
        return 1
    from .cluster.app import ClusterSettings, serve_cluster

    settings = ClusterSettings(
        options,
        services,
        args.model,
        token=token,
        loopback_only=is_loopback(args.host),
        max_queue=args.max_queue,
        replicas=args.replicas,
        max_replicas=args.max_replicas,
        text_url=text_url,
    )
    return serve_cluster(args, settings)

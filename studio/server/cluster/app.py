"""The Ray Serve application of `studio serve --cluster ray`, and its runner."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

import ray
from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from ...engine.options import EngineOptions, ServiceOptions
from ...mercury.settings import INCEPTION_BASE_URL
from ..api import ApiConfig, create_app
from ..engine_link import EngineLink
from ..limits import DEFAULT_MAX_QUEUE
from ..text import TextService
from .queue import ClusterQueue
from .replica import EngineReplica

APP_NAME = "studio"
ENGINE_DEPLOYMENT = "EngineReplica"
JOBS_PER_REPLICA = 2  # running + waiting on one replica
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterSettings:
    options: EngineOptions
    services: ServiceOptions
    default_model: str
    token: str | None = None
    loopback_only: bool = True
    max_queue: int = DEFAULT_MAX_QUEUE
    replicas: int = 1
    max_replicas: int | None = None  # above replicas: autoscale between the two
    text_url: str = INCEPTION_BASE_URL  # /generate/text's server (runner resolves it)
    gpus_per_replica: float | None = None  # None: 1 where Ray sees a GPU, else 0
    cpus_per_replica: float = 1  # a CPU replica's share (Ray gives its torch as many threads)
    route_by_model: bool = True  # False: any free replica (benchmarks/cluster_throughput.py)


class Ingress:
    """The HTTP side: the same app as `studio serve`, over a ClusterQueue whose
    jobs run on the EngineReplica deployment (`engines`)."""

    def __init__(self, engines: DeploymentHandle, settings: ClusterSettings) -> None:
        self.engines, self.settings = engines, settings

    def __serve_build_asgi_app__(self) -> FastAPI:  # Ray Serve calls it on the replica
        settings = self.settings
        queue = ClusterQueue(
            self.engines, settings.options, settings.services, settings.route_by_model
        )
        link = EngineLink(queue, settings.max_queue)
        text = TextService(settings.text_url)
        config = ApiConfig(settings.default_model, settings.token, settings.loopback_only)
        app = create_app(link, text, config)

        @app.get("/cluster", summary="The engine replicas this ingress has used", tags=["cluster"])
        async def cluster() -> dict[str, Any]:
            return {
                **queue.cluster_status(),
                "min_replicas": settings.replicas,
                "max_replicas": settings.max_replicas or settings.replicas,
            }

        return app


def _scaling(settings: ClusterSettings) -> dict[str, Any]:
    top = settings.max_replicas or settings.replicas
    if top <= settings.replicas:
        return {"num_replicas": settings.replicas}
    return {
        "autoscaling_config": {
            "min_replicas": settings.replicas,
            "max_replicas": top,
            # A replica runs one job at a time: one ongoing request is a full replica.
            "target_ongoing_requests": 1,
        }
    }


def build_application(settings: ClusterSettings) -> Any:
    """The application for serve.run: call after ray.init (GPUs are counted)."""
    gpus = settings.gpus_per_replica
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    # A replica runs one job and keeps one waiting (JOBS_PER_REPLICA): a replica
    # that holds a model still takes that model's next job while it runs one,
    # and a third job at once goes to another replica (Ray Serve's router sees a
    # replica at max_ongoing_requests as busy, and then routes by load alone).
    actor = {"num_gpus": gpus} if gpus else {"num_cpus": settings.cpus_per_replica}
    engine = serve.deployment(
        EngineReplica,
        name=ENGINE_DEPLOYMENT,
        ray_actor_options=actor,
        max_ongoing_requests=JOBS_PER_REPLICA,
        max_queued_requests=-1,
        **_scaling(settings),
    )
    ingress = serve.deployment(
        serve.ingress()(Ingress),
        name="Ingress",
        num_replicas=1,  # the jobs' state lives here: one ingress
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=1000,
    )
    return ingress.bind(engine.bind(settings.options, settings.services), settings)


def start(settings: ClusterSettings, host: str, port: int) -> None:
    """Runs the application on the Ray instance this process is connected to."""
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_application(settings), name=APP_NAME, route_prefix="/", blocking=False)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve_cluster(args: argparse.Namespace, settings: ClusterSettings) -> int:
    """`studio serve --cluster ray`: the API on Ray Serve until Ctrl+C."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        ray.init(address=args.ray_address, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = args.ray_address or "a new local Ray instance"
        print(f"Could not start Ray on {where} ({exc}); check --ray-address.", file=sys.stderr)
        return 1
    # After ray.init, whose core worker installs its own SIGTERM handler (a stack
    # dump): a service manager's SIGTERM stops the studio as Ctrl+C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        start(settings, args.host, args.port)
        url = f"http://{args.host}:{args.port}"
        print(
            f"Serving on {url} with Ray Serve ({_replicas_words(settings)}; "
            f"OpenAPI page: {url}/docs; Ctrl+C stops)",
            file=sys.stderr,
            flush=True,
        )
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr, flush=True)
        return 0
    except Exception as exc:  # Ray Serve's deployment errors are long: the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"Ray Serve could not run the studio: {first}", file=sys.stderr)
        return 1
    finally:
        serve.shutdown()
        ray.shutdown()


def _replicas_words(settings: ClusterSettings) -> str:
    top = settings.max_replicas or settings.replicas
    if top > settings.replicas:
        return f"{settings.replicas} to {top} engine replicas"
    return f"{settings.replicas} engine replica(s)"

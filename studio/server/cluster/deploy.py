"""The application builder for `serve run` and a KubeRay RayService, where Ray
Serve (not `studio serve`) starts the application from a config file:

    serve run studio.server.cluster.deploy:build replicas=2 max_replicas=4 model=sd-turbo

Arguments (strings, the config's `args:`): model, replicas, max_replicas,
device, gpus (per replica; default: 1 where Ray sees a GPU) and host (the
address Ray Serve's proxy binds, 0.0.0.0 unless given: then a token is needed,
read from $STUDIO_API_TOKEN, as `studio serve` needs one off loopback)."""

from __future__ import annotations

import os
from typing import Any

from ...engine.catalog import DEFAULT_IMAGE_MODEL
from ...engine.errors import EngineError
from ...engine.options import EngineOptions, ServiceOptions
from ..runner import NO_TOKEN, TOKEN_ENV, default_text_service, is_loopback
from .app import ClusterSettings, build_application


def build(args: dict[str, Any]) -> Any:
    host = str(args.get("host", "0.0.0.0"))
    token = os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise EngineError(NO_TOKEN.format(host=host))
    replicas = int(args.get("replicas", 1))
    gpus = args.get("gpus")
    settings = ClusterSettings(
        EngineOptions(device=str(args.get("device", "auto"))),
        ServiceOptions(),
        str(args.get("model", DEFAULT_IMAGE_MODEL)),
        token=token,
        loopback_only=is_loopback(host),
        replicas=replicas,
        max_replicas=int(args.get("max_replicas", replicas)),
        text_url=default_text_service().base_url,
        gpus_per_replica=None if gpus is None else float(gpus),
    )
    return build_application(settings)

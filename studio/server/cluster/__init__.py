"""`studio serve --cluster ray`: the same HTTP API as a Ray Serve application.

Imported only with --cluster ray; `studio serve` without it never imports Ray.

    HTTP -> Ray Serve proxy -> Ingress (one replica: the FastAPI app of api.py,
            its JobBoard and queue)  -> EngineReplica x N (one per GPU; each a
            JobQueue on its own thread, holding one model at a time)

The ingress runs the very app `studio serve` runs, over a ClusterQueue instead
of a local JobQueue (queue.py): each engine job is a streaming call to an
engine replica, routed by Ray Serve's model multiplexing on the model's name,
so a replica that already holds a model gets its jobs. A job's state lives in
the ingress, which holds that job's stream: its events, cancel (cancelling the
stream, which Ray Serve hands to the replica as a cancellation) and images
need no route back to a particular replica.
"""

from __future__ import annotations

INSTALL_SENTENCE = (
    "--cluster ray needs Ray Serve, which is not installed; "
    "install it with: pip install '.[cluster]' (or pip install 'ray[serve]==2.60.0')."
)


def ray_missing() -> str | None:
    """The sentence to print when Ray Serve cannot be imported, else None."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError:
        return INSTALL_SENTENCE
    return None

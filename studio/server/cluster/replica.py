"""One engine replica: a JobQueue on its own thread (as `studio serve` runs
one), fed jobs as streaming calls from the ingress. Ray Serve routes a call
by its multiplexed model id (the model's name) to a replica that holds that
model; the PipelineStore keeps one model loaded, so each replica holds one."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from collections.abc import AsyncIterator
from typing import Any

import ray
from ray import serve

from ...engine.jobs import JobCancelled, JobEvent, JobFailed, JobFinished, JobLoading
from ...engine.options import EngineOptions, ServiceOptions
from ...engine.request import GenerationRequest
from ..engine_link import HeadlessEngine
from ..health import device_words

ENDS = (JobFinished, JobFailed, JobCancelled)
# The PipelineStore keeps one model's weights; the router should know that.
MODELS_PER_REPLICA = 1


def _portable(event: JobEvent) -> JobEvent:
    """The event as it can cross to the ingress: an engine exception that does
    not pickle is dropped (the message says it all; the status becomes 500)."""
    if isinstance(event, JobFailed) and event.error is not None:
        try:
            pickle.dumps(event.error)
        except Exception:
            return JobFailed(event.job_id, event.message)
    return event


class EngineReplica:
    def __init__(self, options: EngineOptions, services: ServiceOptions) -> None:
        self.engine = HeadlessEngine(options, services)
        self.engine.start()
        self.name = ray.get_runtime_context().get_actor_name() or "local"
        self.model_loads = 0  # weights read from disk (JobLoading events)
        self.cancelled = 0  # engine jobs ended by a cancel (the ingress's DELETE reaching here)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def hold(self, model: str) -> str:
        # The weights load inside the job (its 'loading' event); this only tells
        # Ray Serve's router which model this replica holds from now on.
        return model

    def describe(self) -> dict[str, Any]:
        return {
            "replica": self.name,
            "device": device_words(self.engine.queue.started_store),
            "loads": self.model_loads,
            "cancelled": self.cancelled,
        }

    async def run(self, request: GenerationRequest) -> AsyncIterator[tuple[dict[str, Any], Any]]:
        """Yields (this replica's description, event) for each event of the job,
        ending with its finished, failed or cancelled event. A cancelled call
        (the client's DELETE, or the ingress stopping) cancels the job."""
        if model := serve.get_multiplexed_model_id():
            await self.hold(model)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[JobEvent] = asyncio.Queue()

        def on_event(event: JobEvent) -> None:  # on the engine thread
            if isinstance(event, JobCancelled):
                self.cancelled += 1  # also when nobody reads the events any more
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(events.put_nowait, event)

        job_id = self.engine.queue.submit(request, on_event)
        ended = False
        try:
            while not ended:
                event = await events.get()
                if isinstance(event, JobLoading):
                    self.model_loads += 1
                ended = isinstance(event, ENDS)
                yield self.describe(), _portable(event)
        finally:
            if not ended:
                self.engine.queue.cancel(job_id)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.engine.stop(5.0)

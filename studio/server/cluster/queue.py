"""The ingress's queue: a JobQueue whose jobs run on engine replicas.

The app of api.py (EngineLink, JobBoard) drives it exactly as a local
JobQueue: submit, cancel, pending, running_id. Validation and batch planning
are the JobQueue's own (inherited); running a job is a streaming call to the
EngineReplica deployment, with the model's name as the multiplexed model id,
whose events come back here under the ingress's own job id."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from ...engine.errors import EngineError
from ...engine.jobs import JobCancelled, JobEvent, JobFailed, JobQueue, JobStarted
from ...engine.options import EngineOptions, ServiceOptions
from ...engine.request import GenerationRequest
from .replica import ENDS

log = logging.getLogger(__name__)
REPLICA_LOST = (
    "The engine replica running this job stopped ({why}); "
    "send the request again: another replica takes it."
)


@dataclass
class _RemoteJob:
    request: GenerationRequest
    task: asyncio.Task[None] | None = None
    replica: str | None = None
    started: bool = False


@dataclass
class ReplicaRecord:
    """What the ingress saw of one engine replica (GET /cluster)."""

    device: str = "not started"
    jobs: int = 0
    loads: int = 0
    cancelled: int = 0  # engine jobs the replica cancelled, as of its latest event
    models: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterDevice:
    """What /health's device_words reads as the store of this 'engine'."""

    device: str


class ClusterQueue(JobQueue):
    def __init__(
        self,
        engines: Any,
        options: EngineOptions,
        services: ServiceOptions | None,
        route_by_model: bool = True,
    ) -> None:
        super().__init__(lambda _event: None, options, services)
        self._engines = engines  # a DeploymentHandle to EngineReplica
        self._route_by_model = route_by_model
        self._remote: dict[int, _RemoteJob] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.replicas: dict[str, ReplicaRecord] = {}

    # -- what the app asks -------------------------------------------------------

    @property
    def started_store(self) -> ClusterDevice | None:  # type: ignore[override]
        devices = sorted({r.device for r in self.replicas.values()})
        seen = f"{len(self.replicas)} engine replica(s) seen"
        return ClusterDevice(f"ray serve: {seen}" + (f", {', '.join(devices)}" if devices else ""))

    def submit(self, request: GenerationRequest, on_event: Any = None) -> int:
        request = self.check(request)
        loop = asyncio.get_running_loop()  # the app's: submit comes from a request
        with self._lock:
            if self._stopping:
                raise EngineError("The engine is shutting down; the job was not queued.")
            self._loop = loop
            job_id = next(self._ids)
            job = self._remote[job_id] = _RemoteJob(request)
        job.task = loop.create_task(self._follow(job_id, job, on_event))
        return job_id

    def pending(self) -> list[tuple[int, GenerationRequest]]:
        with self._lock:
            return [(i, job.request) for i, job in self._remote.items() if not job.started]

    @property
    def running_id(self) -> int | None:
        with self._lock:
            return next((i for i, job in self._remote.items() if job.started), None)

    def cancel(self, job_id: int) -> bool:
        """Cancels the job's stream; Ray Serve cancels the replica's call, which
        cancels the engine job at its next step (or drops it if it waits)."""
        with self._lock:
            job = self._remote.get(job_id)
            loop = self._loop
        if job is None or job.task is None or loop is None:
            return False
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:  # EngineLink.close() on the stopping thread
            here = None
        if here is loop:
            job.task.cancel()
        else:
            loop.call_soon_threadsafe(job.task.cancel)
        return True

    def cancel_all(self) -> None:
        with self._lock:
            ids = list(self._remote)
        for job_id in ids:
            self.cancel(job_id)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self.cancel_all()

    def serve(self) -> None:
        raise RuntimeError("a ClusterQueue runs on the engine replicas, not on a thread")

    # -- following a job on its replica -----------------------------------------

    async def _follow(self, job_id: int, job: _RemoteJob, on_event: Any) -> None:
        def emit(event: JobEvent) -> None:
            if on_event is not None:
                try:
                    on_event(event)
                except Exception:  # a listener's bug must not lose the job's end
                    log.exception("listener of job %s failed", job_id)

        # The model's name routes the job to a replica holding that model.
        model = job.request.model if self._route_by_model else ""
        handle = self._engines.options(multiplexed_model_id=model, stream=True)
        stream = handle.run.remote(job.request)
        ended = False
        try:
            async for described, event in stream:
                event = dataclasses.replace(event, job_id=job_id)
                self._note(job, described, event)
                ended = isinstance(event, ENDS)
                emit(event)
                if ended:
                    break
            if not ended:
                emit(JobFailed(job_id, REPLICA_LOST.format(why="its stream ended early")))
        except asyncio.CancelledError:
            stream.cancel()
            emit(JobCancelled(job_id))
        except Exception as exc:  # the replica's process died, or Ray lost it
            log.warning("job %s lost its replica %s: %r", job_id, job.replica, exc)
            why = "its process ended" if "died" in repr(exc).lower() else type(exc).__name__
            emit(JobFailed(job_id, REPLICA_LOST.format(why=why)))
        finally:
            with self._lock:
                self._remote.pop(job_id, None)

    def _note(self, job: _RemoteJob, described: dict[str, Any], event: JobEvent) -> None:
        with self._lock:
            record = self.replicas.setdefault(described["replica"], ReplicaRecord())
            record.device, record.loads = described["device"], described["loads"]
            record.cancelled = described["cancelled"]
            if isinstance(event, JobStarted):
                job.started, job.replica = True, described["replica"]
                record.jobs += 1
                if job.request.model not in record.models:
                    record.models.append(job.request.model)

    def cluster_status(self) -> dict[str, Any]:
        """Each replica seen (device, jobs started, weight loads, models run) and
        the replica of each running job."""
        with self._lock:
            return {
                "replicas": {
                    name: dataclasses.asdict(record)
                    for name, record in sorted(self.replicas.items())
                },
                "running": [job.replica for job in self._remote.values() if job.started],
            }

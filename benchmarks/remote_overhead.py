"""What the remote path costs over a local run, on one machine, on the tiny
random-weight model: `studio generate --server` against `generate()` in-process.

    .venv/bin/python benchmarks/remote_overhead.py [--size 64] [--steps 4] [--repeat 10]
        [--model FOLDER]

Prints medians of: a local job (generate() with the model loaded and warm,
cache off), the same request as a remote job (RemoteEngine.run against an
ApiServer on 127.0.0.1: POST /jobs, the events stream, GET the PNG; the
server's engine warm, cache off), their difference (the overhead per job),
and per step preview the time from the engine's step event to the client
holding the decoded event (the same clock: one process). One run: compare
within it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--model", help="a model folder (default: a tiny one, made here)")
    args = parser.parse_args()

    from studio.engine.generate import generate
    from studio.engine.jobs import JobQueue, JobStep
    from studio.engine.options import EngineOptions, ServiceOptions
    from studio.engine.pipelines import PipelineStore
    from studio.engine.request import GenerationRequest
    from studio.remote.client import RemoteEngine
    from studio.remote.events import Step
    from studio.server.runner import ApiServer

    if args.model:
        model = args.model
    else:
        from studio.engine.tiny import save_tiny_model

        model = str(save_tiny_model(Path(tempfile.mkdtemp()) / "tiny"))
    services = ServiceOptions(cache=False)
    request = GenerationRequest(
        prompt="a red boat", model=model, seed=5, steps=args.steps,
        width=args.size, height=args.size,
    )  # fmt: skip

    store = PipelineStore(EngineOptions())
    generate(request, store, services=services)  # load and warm up

    sent: dict[int, float] = {}  # step -> when the engine reported it

    def on_engine_event(event: object) -> None:
        if isinstance(event, JobStep):
            sent[event.info.step] = time.perf_counter()

    queue = JobQueue(on_engine_event, EngineOptions(), services)
    thread = threading.Thread(target=queue.serve, daemon=True)
    thread.start()
    server = ApiServer(queue, port=0, default_model=model)
    server.start()
    local, remote, preview_lag = [], [], []
    try:
        with RemoteEngine(server.url) as engine:

            def on_event(event: object) -> None:
                if isinstance(event, Step) and event.step in sent:
                    preview_lag.append(time.perf_counter() - sent[event.step])

            engine.run(request)  # the server's engine loads the model
            # Interleaved, so a machine busy with other work weighs on both alike.
            for _ in range(args.repeat):
                started = time.perf_counter()
                generate(request, store, services=services)
                local.append(time.perf_counter() - started)
                sent.clear()
                started = time.perf_counter()
                engine.run(request, on_event)
                remote.append(time.perf_counter() - started)
    finally:
        server.stop()
        queue.stop()
        thread.join(30)

    local_s, remote_s = statistics.median(local), statistics.median(remote)
    print(f"{args.size}², {args.steps} steps, {args.repeat} jobs each, medians:")
    print(f"local job (generate, warm)      {local_s * 1000:8.1f} ms")
    print(f"remote job (POST, events, PNG)  {remote_s * 1000:8.1f} ms")
    print(f"overhead per job                {(remote_s - local_s) * 1000:8.1f} ms")
    if preview_lag:
        lag = statistics.median(preview_lag)
        print(f"step event to client            {lag * 1000:8.1f} ms  ({len(preview_lag)} steps)")


if __name__ == "__main__":
    main()

"""Throughput of `studio serve --cluster ray` with 1 and 2 engine replicas, and
the weight loads that routing by model (Ray Serve's multiplexing) saves.

    .venv/bin/python benchmarks/cluster_throughput.py [--jobs 8] [--steps 8] [--size 64]
        [--cpus 2] [--mix 12]

Starts a local Ray instance (--cpus CPUs, no dashboard) and the studio's Ray
Serve application on two tiny random-weight models, over HTTP on 127.0.0.1:

- throughput: --jobs jobs of one model at once through POST /jobs and their
  events streams, after one warm-up job per replica; 1 replica with all the
  CPUs, 2 replicas with half each (the ratio of these two), and 1 replica
  with half (jobs per second; Ray gives a replica's torch as many threads);
- loads: --mix jobs alternating between the two models, two at a time, on 2
  replicas, routed by model and then by load alone; the weight loads come
  from GET /cluster (each replica's 'loading' events).

One machine, one run: compare the ratios within it (docs/DEPLOY.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_job(url: str, body: dict) -> str:
    import httpx2

    with httpx2.Client(base_url=url, timeout=600) as client:
        job = client.post("/jobs", json=body).json()
        name = ""
        with client.stream("GET", job["events"]) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
        return name


def body(model: str, seed: int, args: argparse.Namespace) -> dict:
    size = args.size
    return {"prompt": f"a boat {seed}", "seed": seed, "model": model,
            "num_inference_steps": args.steps, "width": size, "height": size}  # fmt: skip


def serve_once(
    settings, jobs: list[dict], warm: list[dict], concurrency: int
) -> tuple[float, dict]:
    """Seconds for `jobs` (`concurrency` at a time) and GET /cluster after them."""
    import httpx2
    from ray import serve

    from studio.server.cluster.app import start

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start(settings, "127.0.0.1", port)
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            ends = list(pool.map(lambda b: run_job(url, b), warm))
            started = time.perf_counter()
            ends += list(pool.map(lambda b: run_job(url, b), jobs))
            elapsed = time.perf_counter() - started
        assert set(ends) == {"finished"}, ends
        return elapsed, httpx2.get(f"{url}/cluster", timeout=60).json()
    finally:
        serve.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--mix", type=int, default=12)
    args = parser.parse_args()

    import ray

    from studio.engine.options import EngineOptions, ServiceOptions
    from studio.engine.tiny import save_tiny_model
    from studio.server.cluster.app import ClusterSettings

    folder = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    a, b = (str(save_tiny_model(folder / name)) for name in ("tiny-a", "tiny-b"))
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    figures: dict = {"jobs": args.jobs, "steps": args.steps, "size": args.size, "cpus": args.cpus}
    try:
        base = ClusterSettings(EngineOptions(), ServiceOptions(cache=False), a)
        jobs = [body(a, 1000 + n, args) for n in range(args.jobs)]
        # The machine's CPUs as one replica or split in two, and one CPU each.
        for replicas, cpus in ((1, args.cpus), (2, args.cpus / 2), (1, args.cpus / 2)):
            settings = replace(base, replicas=replicas, cpus_per_replica=cpus)
            warm = [body(a, n, args) for n in range(replicas)]
            elapsed, _ = serve_once(settings, jobs, warm, concurrency=args.jobs)
            figures[f"jobs_per_s_{replicas}x{cpus:g}cpu"] = round(args.jobs / elapsed, 3)
            print(f"{replicas} replica(s) x {cpus:g} CPU: {args.jobs} jobs in {elapsed:.2f} s",
                  flush=True)  # fmt: skip
        split, whole = f"jobs_per_s_2x{args.cpus / 2:g}cpu", f"jobs_per_s_1x{args.cpus:g}cpu"
        figures["ratio_2_vs_1"] = round(figures[split] / figures[whole], 2)
        one = f"jobs_per_s_1x{args.cpus / 2:g}cpu"
        figures["ratio_2_vs_1_same_threads"] = round(figures[split] / figures[one], 2)

        mix = [body((a, b)[n % 2], 2000 + n, args) for n in range(args.mix)]
        for routed in (True, False):  # two jobs at a time, as two users would send them
            half = args.cpus / 2
            settings = replace(base, replicas=2, cpus_per_replica=half, route_by_model=routed)
            _, status = serve_once(settings, mix, [], concurrency=2)
            loads = sum(r["loads"] for r in status["replicas"].values())
            key = "loads_routed_by_model" if routed else "loads_any_replica"
            figures[key] = loads
            print(f"{args.mix} jobs of two models, {key}: {loads}", flush=True)
    finally:
        ray.shutdown()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

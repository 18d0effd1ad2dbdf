"""Cache-hit latency against a fresh generation, and the batch speed-up, on the
tiny random-weight model.

    .venv/bin/python benchmarks/cache_and_batch.py [--size 128] [--steps 4] [--repeat 5]
        [--prompts 3] [--http]

Prints median seconds of: a fresh generation (model loaded and warm, cache
off), the same job answered from the result cache, and N prompts generated as
N pipeline calls against one call with the prompts as the batch dimension.
--http adds the same two cache numbers end to end over the HTTP API on
127.0.0.1 (PNG bytes back). One machine, one run: compare ratios within it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--http", action="store_true", help="also time the HTTP API")
    args = parser.parse_args()

    from studio.engine.batch import plan_batch
    from studio.engine.generate import generate
    from studio.engine.options import EngineOptions, ServiceOptions
    from studio.engine.pipelines import PipelineStore
    from studio.engine.request import GenerationRequest
    from studio.engine.tiny import save_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    model = save_tiny_model(work / "tiny")
    store = PipelineStore(EngineOptions(device=args.device))
    base = GenerationRequest(
        "a lighthouse at dusk",
        model=str(model),
        steps=args.steps,
        width=args.size,
        height=args.size,
        seed=1,
    )
    no_cache = ServiceOptions(cache=False)
    cached = ServiceOptions(cache_dir=work / "cache")
    generate(base, store, services=no_cache)  # load and warm up

    fresh = median_s(lambda: generate(base, store, services=no_cache), args.repeat)
    generate(base, store, services=cached)  # fills the entry
    hit = median_s(lambda: generate(base, store, services=cached), args.repeat)
    assert generate(base, store, services=cached).cached

    prompts = [f"{base.prompt}, view {i}" for i in range(args.prompts)]
    (batch_job,) = plan_batch(base, prompts, megapixels=1000.0)

    def separately() -> None:
        for i, prompt in enumerate(prompts):
            generate(base.replace(prompt=prompt, seed=1 + i), store, services=no_cache)

    generate(batch_job, store, services=no_cache)  # warm up the batch shapes
    one_by_one = median_s(separately, args.repeat)
    together = median_s(lambda: generate(batch_job, store, services=no_cache), args.repeat)

    rows = {
        "device": store.device,
        "size": f"{args.size}x{args.size}",
        "steps": args.steps,
        "fresh_s": round(fresh, 4),
        "cache_hit_s": round(hit, 4),
        "cache_speedup": round(fresh / hit, 1),
        f"{args.prompts}_prompts_{args.prompts}_calls_s": round(one_by_one, 4),
        f"{args.prompts}_prompts_1_call_s": round(together, 4),
        "batch_speedup": round(one_by_one / together, 2),
    }
    if args.http:
        rows |= http_numbers(model, work, args)
    print(json.dumps(rows, indent=2))


def http_numbers(model: Path, work: Path, args: argparse.Namespace) -> dict[str, float]:
    from studio.engine.options import EngineOptions, ServiceOptions
    from studio.server.engine_link import HeadlessEngine
    from studio.server.runner import ApiServer
    from studio.server.text import TextService

    services = ServiceOptions(cache_dir=work / "http-cache")
    engine = HeadlessEngine(EngineOptions(device=args.device), services)
    engine.start()
    server = ApiServer(
        engine.queue, port=0, default_model=str(model), text=TextService("http://127.0.0.1:9/v1")
    )
    server.start()
    seeds = iter(range(1000, 100000))

    def post(body: dict) -> bytes:
        request = urllib.request.Request(
            server.url + "/generate/image",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.read()

    body = {"prompt": "a lighthouse", "num_inference_steps": args.steps}
    body |= {"width": args.size, "height": args.size}
    try:
        post({**body, "seed": 1})  # load and warm up
        fresh = median_s(lambda: post({**body, "seed": next(seeds)}), args.repeat)
        hit = median_s(lambda: post({**body, "seed": 1}), args.repeat)
    finally:
        server.stop()
        engine.stop()
    return {"http_fresh_s": round(fresh, 4), "http_cache_hit_s": round(hit, 4)}


if __name__ == "__main__":
    main()

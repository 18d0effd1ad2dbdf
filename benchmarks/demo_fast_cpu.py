"""The bundled demo model with and without the fast CPU path (bf16, channels_last).

    .venv/bin/python benchmarks/demo_fast_cpu.py [--repeat 5]

One store per path, both warmed up, then runs alternating; prints the median
seconds per 64×64 image at the model's own 12 steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from studio.engine.generate import generate
    from studio.engine.options import EngineOptions
    from studio.engine.pipelines import PipelineStore, quiet_libraries
    from studio.engine.request import GenerationRequest

    quiet_libraries()
    stores = {
        # what the automatic choice picks for the demo's 4 M-parameter UNet
        "float32 (default)": PipelineStore(EngineOptions(device="cpu", fast_cpu=False)),
        "fast path": PipelineStore(EngineOptions(device="cpu", fast_cpu=True)),
    }
    request = GenerationRequest("a red circle on a blue background", model="demo", seed=1)
    samples: dict[str, list[float]] = {name: [] for name in stores}
    for store in stores.values():
        generate(request, store)
    for _ in range(args.repeat):
        for name, store in stores.items():
            started = time.perf_counter()
            generate(request, store)
            samples[name].append(time.perf_counter() - started)
    for name, store in stores.items():
        runs = ", ".join(f"{s:.3f}" for s in samples[name])
        median = statistics.median(samples[name])
        print(f"{name:18} {store.dtype!s:15} {median:.3f} s  (runs {runs})")


if __name__ == "__main__":
    main()

"""One SD 2.1-base UNet step (64×64 latent, random weights) on the CPU: PyTorch
bf16 channels_last (the fast path) against OpenVINO's CPU plugin, bf16 and f32.

    .venv/bin/pip install openvino          # not a dependency of the app
    .venv/bin/python benchmarks/openvino_unet.py [--repeat 3]

`openvino` alone installs from PyPI beside torch 2.13 CPU; `optimum-intel`
would replace torch with a CUDA build (docs/PERFORMANCE.md). The UNet is
converted straight from the PyTorch module with `openvino.convert_model`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf_real_cpu import build, matmul_gflops


def median_seconds(run, repeat: int) -> tuple[float, list[float]]:
    run()  # warm-up
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import openvino as ov
    except ImportError:
        print("openvino is not installed: .venv/bin/pip install openvino", file=sys.stderr)
        return 2
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    print(
        f"torch {torch.__version__}, openvino {ov.__version__}, {torch.get_num_threads()} threads"
    )
    unet = build("unet")
    x, t, h = torch.randn(1, 4, 64, 64), torch.tensor(999), torch.randn(1, 77, 1024)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        unet(x, t, h)
    gflop = counter.get_total_flops() / 1e9
    rate = matmul_gflops(torch.bfloat16)
    print(
        f"UNet step {gflop:.0f} GFLOP; bf16 torch.mm {rate:.0f} GFLOP/s: bound {gflop / rate:.2f} s"
    )

    fast = unet.to(torch.bfloat16, memory_format=torch.channels_last)
    xb = x.bfloat16().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        rows = [
            (
                "torch bf16 channels_last",
                *median_seconds(lambda: fast(xb, t, h.bfloat16()), args.repeat),
            )
        ]
    unet = fast.float().to(memory_format=torch.contiguous_format)

    class Positional(torch.nn.Module):  # convert_model traces positional inputs
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, sample, timestep, hidden):
            return self.inner(sample, timestep, hidden, return_dict=False)[0]

    started = time.perf_counter()
    with torch.no_grad():
        model = ov.convert_model(Positional(unet).eval(), example_input=(x, t, h))
    print(f"convert_model: {time.perf_counter() - started:.0f} s")
    inputs = {0: x.numpy(), 1: t.numpy(), 2: h.numpy()}
    for hint in ("bf16", "f32"):
        started = time.perf_counter()
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
        print(f"compile_model ({hint}): {time.perf_counter() - started:.0f} s")
        request = compiled.create_infer_request()
        rows.append(
            (f"openvino {hint}", *median_seconds(lambda r=request: r.infer(inputs), args.repeat))
        )

    print()
    print(f"{'path':26} {'median s':>9} {'× bound':>8}  runs")
    for name, median, samples in rows:
        runs = ", ".join(f"{s:.2f}" for s in samples)
        print(f"{name:26} {median:9.2f} {median / (gflop / rate):8.2f}  {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

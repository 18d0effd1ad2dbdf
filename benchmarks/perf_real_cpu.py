"""Real SD-Turbo architecture on the CPU: plain diffusers defaults vs the fast CPU path.

    .venv/bin/python benchmarks/perf_real_cpu.py [--repeat 3] [--plain-repeat 1]
        [--bf16-full-vae] [--skip-plain]

Random-weight models with the exact SD-Turbo architecture (SD 2.1-base UNet,
OpenCLIP-H text encoder, SD VAE; TAESD-architecture AutoencoderTiny for the
fast decoder), 512×512, guidance 0: the real compute graph without the weights.
For txt2img 1 step, txt2img 4 steps and img2img (strength 0.5, 2 steps → 1
UNet step), case by case and path after path in one process: the median
seconds of plain diffusers defaults (float32, full VAE) and of the fast path
(bf16 weights, channels_last, SDPA, tiny decoder), the speed-up, the FLOPs of
each run (torch's FlopCounterMode), and the bf16 compute bound = FLOPs / bf16
torch.mm 4096² throughput. The machine is shared, so that throughput is
sampled right after every timed run (same load) and the bound uses its median.
One set of weights is held (≈ 6 GB peak) and switches precision between paths.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
)
VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    layers_per_block=2,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    sample_size=512,
)
TEXT = dict(
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    projection_dim=1024,
    hidden_act="gelu",
    max_position_embeddings=77,
)


def matmul_gflops(dtype, n: int = 4096, repeat: int = 3) -> float:
    import torch

    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def random_init(module) -> None:
    """Fast, numerically tame random weights (no NaN/inf, no denormal storms)."""
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.normal_(0.0, 1.0 / fan_in**0.5)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()


def build(kind: str):
    import torch
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with init_empty_weights():
        if kind == "unet":
            m = UNet2DConditionModel(**UNET)
        elif kind == "vae":
            m = AutoencoderKL(**VAE)
        elif kind == "taesd":
            m = AutoencoderTiny()
        else:
            m = CLIPTextModel(CLIPTextConfig(**TEXT))
    m = m.to_empty(device="cpu")
    random_init(m)
    if kind == "text":  # to_empty erased the non-persistent buffer
        emb = getattr(m, "text_model", m).embeddings
        emb.register_buffer(
            "position_ids",
            torch.arange(TEXT["max_position_embeddings"]).unsqueeze(0),
            persistent=False,
        )
    return m.eval()


def pipeline(components: dict, fast: bool, tiny: bool):
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from studio.engine.fastpath import apply_fast_path

    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    vae = components["taesd"] if tiny else components["vae"]
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=components["text"],
        tokenizer=components["tokenizer"],
        unet=components["unet"],
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    if fast:
        pipe.to(dtype=torch.bfloat16)
        apply_fast_path(pipe, channels_last=True, compile_unet=False)
    return pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell of the fast path")
    parser.add_argument(
        "--plain-repeat", type=int, default=1, help="runs per cell of the full-VAE paths"
    )
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument(
        "--bf16-full-vae", action="store_true", help="also time bf16 with the full SD VAE"
    )
    args = parser.parse_args()

    import torch
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode

    from studio.engine.fastpath import cpu_has_native_bf16
    from studio.engine.pipelines import quiet_libraries
    from studio.engine.tiny import _load_tokenizer, write_clip_tokenizer

    quiet_libraries()
    from diffusers import StableDiffusionImg2ImgPipeline

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"native bf16: {cpu_has_native_bf16()}"
    )
    fp32 = matmul_gflops(torch.float32)
    bf16 = matmul_gflops(torch.bfloat16)
    print(f"torch.mm 4096²: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s ({bf16 / fp32:.1f}×)")

    with tempfile.TemporaryDirectory() as work:
        tokenizer = _load_tokenizer(write_clip_tokenizer(Path(work) / "tok"))
    t = time.perf_counter()
    components = {k: build(k) for k in ("unet", "vae", "taesd", "text")}
    components["tokenizer"] = tokenizer
    print(f"built random-weight models in {time.perf_counter() - t:.1f} s")

    photo = Image.new("RGB", (512, 512), (120, 90, 60))
    cases = {
        "txt2img 1 step": dict(num_inference_steps=1),
        "txt2img 4 steps": dict(num_inference_steps=4),
        "img2img 1 step": dict(num_inference_steps=2, strength=0.5, image=photo),
    }
    # The fast path runs first (bf16, FLOPs counted in its warm-up run); then the
    # same weights go back to float32 and channels-first for plain diffusers.
    paths = [
        ("fast + tiny VAE", True, True),
        ("fast, full VAE", True, False),
        ("plain fp32", False, False),
    ]
    if args.skip_plain:
        paths = [p for p in paths if p[1]]
    if not args.bf16_full_vae:
        paths = [p for p in paths if p[0] != "fast, full VAE"]
    for k in ("unet", "vae", "text", "taesd"):
        components[k].to(torch.bfloat16)
    times: dict[tuple[str, str], float] = {}
    flops: dict[tuple[str, str], float] = {}
    rate: dict[tuple[str, str], float] = {}  # bf16 GFLOP/s measured right after each run
    # case by case, each path in turn (so the machine's load is as alike as it
    # gets); the one set of weights switches precision between paths
    for case, kwargs in cases.items():
        for label, fast, tiny in paths:
            dtype = torch.bfloat16 if fast else torch.float32
            for k in ("unet", "vae", "text", "taesd"):
                components[k].to(dtype=dtype, memory_format=torch.contiguous_format)
            pipe = pipeline(components, fast, tiny)
            # from_pipe drops a VAE of another class than annotated: pass it on;
            # and it casts every module to float32 unless given the dtype
            i2i = "image" in kwargs
            p = (
                StableDiffusionImg2ImgPipeline.from_pipe(pipe, vae=pipe.vae, dtype=dtype)
                if i2i
                else pipe
            )
            p.set_progress_bar_config(disable=True)

            def run(p=p, kwargs=kwargs):
                with torch.inference_mode():
                    p(
                        "a cozy cabin in the snow",
                        height=512,
                        width=512,
                        guidance_scale=0.0,
                        generator=torch.Generator().manual_seed(0),
                        output_type="pil",
                        **kwargs,
                    )

            samples, rates = [], []
            if fast:
                counter = FlopCounterMode(display=False)
                with counter:  # also the warm-up run
                    run()
                repeat = args.repeat if tiny else args.plain_repeat
            else:
                # minutes per float32 run here: no separate warm-up; the FLOPs are
                # counted during the (first) timed run (the counter's per-op cost
                # is microseconds against seconds-long convolutions)
                counter = FlopCounterMode(display=False)
                t = time.perf_counter()
                with counter:
                    run()
                samples.append(time.perf_counter() - t)
                rates.append(matmul_gflops(torch.bfloat16, repeat=1))
                repeat = args.plain_repeat - 1
            flops[label, case] = counter.get_total_flops() / 1e9
            for _ in range(repeat):
                t = time.perf_counter()
                run()
                samples.append(time.perf_counter() - t)
                # the machine is shared: sample bf16 throughput under the same load
                rates.append(matmul_gflops(torch.bfloat16, repeat=1))
            rate[label, case] = statistics.median(rates)
            times[label, case] = statistics.median(samples)
            runs = ", ".join(f"{s:.2f}" for s in samples)
            print(
                f"  {label:16} {case:16} {times[label, case]:7.2f} s "
                f"(runs {runs}; {flops[label, case]:.0f} GFLOP; "
                f"bf16 mm {rate[label, case]:.0f} GFLOP/s meanwhile)",
                flush=True,
            )
            del pipe, p
            gc.collect()

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    fast_label = "fast + tiny VAE"
    print()
    print(
        f"SD-Turbo architecture, random weights, 512×512, guidance 0; medians "
        f"(fast + tiny VAE: {args.repeat} runs, full-VAE paths: {args.plain_repeat}); "
        f"peak RSS {peak:.1f} GiB"
    )
    head = f"{'case':16} " + " ".join(f"{lbl + ' s':>18}" for lbl, _, _ in paths)
    head += f" {'speed-up':>9} {'bf16 bound s':>13} {'fast/bound':>10}"
    print(head)
    for case in cases:
        cells = " ".join(f"{times[lbl, case]:18.2f}" for lbl, _, _ in paths)
        bound = flops[fast_label, case] / rate[fast_label, case]
        speed = (
            f"{times['plain fp32', case] / times[fast_label, case]:8.1f}×"
            if ("plain fp32", case) in times
            else f"{'-':>9}"
        )
        print(f"{case:16} {cells} {speed} {bound:13.2f} {times[fast_label, case] / bound:9.2f}×")
    print()
    print("time / (its own FLOPs / bf16 mm throughput measured meanwhile), per path:")
    for case in cases:
        print(
            f"{case:16} "
            + " ".join(
                f"{times[lbl, case] / (flops[lbl, case] / rate[lbl, case]):17.2f}×"
                for lbl, _, _ in paths
            )
        )
    print()
    print(
        "GFLOP per run (FlopCounterMode): "
        + "; ".join(
            f"{lbl} {case}: {flops[lbl, case]:.0f}" for lbl, _, _ in paths for case in cases
        )
    )


if __name__ == "__main__":
    main()

"""What the progress reporting of `studio download` costs: bytes per second
through the loopback hub (tests/hub_server.py) for one file, best of N.

    .venv/bin/python benchmarks/download_progress.py [--mb 50] [--repeat 3] [--chunk-kb K]

Prints MB/s for: huggingface_hub's own hf_hub_download (progress bars off),
engine.downloads.download without a callback, and with a callback that
formats a progress line for every update it gets (as the CLI does on a
terminal). downloads.download also checks the file's sha256, which the plain
client does not; one machine, one run: compare within it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import huggingface_hub.constants as constants
from hub_server import FakeHub

from studio.engine.downloads import DownloadProgress, download, plan_download

REPO = "bench/big"
FILE = "unet/diffusion_pytorch_model.safetensors"


def _point_at(hub: FakeHub, cache: Path) -> None:
    constants.ENDPOINT = hub.url
    constants.HUGGINGFACE_CO_URL_TEMPLATE = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    constants.HF_HUB_CACHE = str(cache)


def interleaved_best(hub: FakeHub, root: Path, size: int, repeat: int, fetches: dict) -> dict:
    """Best MB/s of each way, taking turns (A, B, C, A, B, C, ...) so that a
    machine getting busier or quieter meets every way alike; each run writes
    into a fresh cache that is deleted after it, so none pays for another's
    dirty pages."""
    best = dict.fromkeys(fetches, 0.0)
    for i in range(repeat):
        for name, fetch in fetches.items():
            cache = root / f"cache-{i}"
            _point_at(hub, cache)
            start = time.perf_counter()
            fetch()
            best[name] = max(best[name], size / (time.perf_counter() - start) / 2**20)
            shutil.rmtree(cache)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--chunk-kb", type=int, help="the client's read size (default: downloads.READ_SIZE, 1 MB)"
    )
    args = parser.parse_args()
    if args.chunk_kb:  # smaller reads: more progress updates, the callback's worst case
        constants.DOWNLOAD_CHUNK_SIZE = args.chunk_kb * 1024
    size = args.mb * 2**20
    with tempfile.TemporaryDirectory() as tmp, FakeHub() as hub:
        root = Path(tmp)
        folder = root / "repo"
        (folder / "unet").mkdir(parents=True)
        (folder / "model_index.json").write_text("{}")
        (folder / FILE).write_bytes(os.urandom(size))
        hub.add(REPO, folder)
        _point_at(hub, root / "plan-cache")
        plan = plan_download(REPO, include=[FILE])
        lines = []

        def callback(p: DownloadProgress) -> None:
            lines.append(f"\r{100 * p.done // p.total:3d}%  {p.done} of {p.total}  {p.file}")

        import huggingface_hub

        results = {
            "hf_hub_download (client alone)": lambda: huggingface_hub.hf_hub_download(
                REPO, FILE, revision=plan.revision
            ),
            "download, no callback": lambda: download(plan),
            "download, progress callback": lambda: download(plan, progress=callback),
        }
        for name, speed in interleaved_best(hub, root, size, args.repeat, results).items():
            print(f"{name:32} {speed:8.1f} MB/s  (best of {args.repeat}, {args.mb} MB)")
        print(f"progress callbacks per download: {len(lines) // args.repeat}")


if __name__ == "__main__":
    main()

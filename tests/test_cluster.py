"""`studio serve --cluster ray`: the same HTTP API as a Ray Serve application.

Without --cluster nothing of Ray is imported, and without the extra the flag
is a sentence (these two run everywhere). The rest (marker `cluster`) start a
local Ray instance (2 CPUs, no dashboard) with two CPU engine replicas on two
tiny models: requests for each model land on the replica that holds it, so
each model is loaded once; concurrent jobs spread over both replicas; a
replica killed mid-job fails that job with a sentence and the next request
succeeds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 120.0  # every wait here is bounded by this (Ray starts in ~15 s on 2 cores)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=WAIT_S,
    )  # fmt: skip


def test_serve_without_cluster_imports_nothing_of_ray() -> None:
    done = _python(
        "import sys\n"
        "from studio.app import build_parser\n"
        "from studio import cli\n"
        "from studio.server import api, runner, jobs_api\n"
        "args = build_parser().parse_args(['serve', '--replicas', '2'])\n"
        "assert args.cluster is None, args\n"
        "ours = ('ray.', 'studio.server.cluster')\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith(ours)))\n"
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cluster_flag_without_ray_is_a_sentence() -> None:
    done = _python(
        "import sys\n"
        "sys.modules['ray'] = None  # as if the cluster extra were not installed\n"
        "from studio.app import main\n"
        "sys.exit(main(['serve', '--cluster', 'ray', '--replicas', '2', '--port', '0']))\n"
    )
    assert done.returncode == 1
    assert "pip install '.[cluster]'" in done.stderr
    assert "Traceback" not in done.stderr


# -- a local Ray instance ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.cluster
def test_studio_serve_cluster_ray_answers_the_api_and_stops_on_sigterm(
    tiny_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray Serve is not installed: pip install '.[cluster]'")
    import httpx2

    from studio.engine.tiny import save_tiny_model

    model = str(save_tiny_model(tiny_dir / "cluster-cli"))
    port = _free_port()
    command = [sys.executable, "-m", "studio", "serve", "--cluster", "ray", "--replicas", "2",
               "--port", str(port), "--model", model, "--no-cache"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "serve.log"  # a file: Ray's workers log a lot, a pipe could fill and block
    with log.open("w") as sink:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=sink)
    try:
        deadline = time.monotonic() + WAIT_S
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT_S) as client:
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    health = client.get("/health", timeout=5)
                    # Ray's proxy answers (404/503, plain text) before the app is deployed.
                    if health.status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, "studio serve --cluster ray did not answer"
                time.sleep(1.0)
            assert health.json()["device"].startswith("ray serve")
            body = {"prompt": "a boat", "seed": 1, "num_inference_steps": 2, "width": 64,
                    "height": 64}  # fmt: skip
            image = client.post("/generate/image", json=body)
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=WAIT_S)
    err = log.read_text()
    assert server.returncode == 0, err
    assert "with Ray Serve (2 engine replica(s)" in err and "stopping" in err


class Cluster:
    def __init__(self, url: str, models: tuple[str, str]) -> None:
        import httpx2

        self.client = httpx2.Client(base_url=url, timeout=WAIT_S)
        self.models = models

    def body(self, model: str, seed: int, steps: int = 2) -> dict:
        return {
            "prompt": f"a red boat {seed}",
            "seed": seed,
            "num_inference_steps": steps,
            "width": 64,
            "height": 64,
            "model": model,
        }

    def status(self) -> dict:
        return self.client.get("/cluster").json()

    def events(self, job_id: str) -> Iterator[tuple[str, dict]]:
        with self.client.stream("GET", f"/jobs/{job_id}/events") as stream:
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: ") and name is not None:
                    yield name, json.loads(line.removeprefix("data: "))

    def run_job(self, body: dict) -> tuple[str, dict]:
        answer = self.client.post("/jobs", json=body)
        assert answer.status_code == 202, answer.text
        *_, last = self.events(answer.json()["id"])
        return last


@pytest.fixture(scope="module")
def cluster(tiny_dir: Path) -> Iterator[Cluster]:
    ray = pytest.importorskip("ray", reason="Ray Serve is not installed: pip install '.[cluster]'")
    from ray import serve

    from studio.engine.options import EngineOptions, ServiceOptions
    from studio.engine.tiny import save_tiny_model
    from studio.server.cluster.app import ClusterSettings, start

    models = (
        str(save_tiny_model(tiny_dir / "cluster-a")),
        str(save_tiny_model(tiny_dir / "cluster-b")),
    )
    port = _free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        settings = ClusterSettings(
            EngineOptions(threads=1), ServiceOptions(cache=False), models[0], replicas=2
        )
        start(settings, "127.0.0.1", port)
        cluster = Cluster(f"http://127.0.0.1:{port}", models)
        yield cluster
        cluster.client.close()
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.mark.cluster
def test_the_same_api_answers_through_ray(cluster: Cluster) -> None:
    health = cluster.client.get("/health").json()
    assert health["status"] == "ok" and health["device"].startswith("ray serve")
    names = [m["name"] for m in cluster.client.get("/models").json()["image"]]
    assert names
    image = cluster.client.post("/generate/image", json=cluster.body(cluster.models[0], 1))
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    name, data = cluster.run_job(cluster.body(cluster.models[0], 1))
    assert name == "finished", data
    png = cluster.client.get(data["images"][0])
    assert png.content == image.content  # the job's PNG is /generate/image's, byte for byte


@pytest.mark.cluster
def test_each_model_is_run_by_the_replica_that_holds_it(cluster: Cluster) -> None:
    a, b = cluster.models
    for seed in range(3):
        for model in (a, b):
            answer = cluster.client.post("/generate/image", json=cluster.body(model, seed))
            assert answer.status_code == 200, answer.text
    replicas = cluster.status()["replicas"]
    assert len(replicas) == 2
    holders = {model: [n for n, r in replicas.items() if model in r["models"]] for model in (a, b)}
    assert len(holders[a]) == 1 and len(holders[b]) == 1 and holders[a] != holders[b], replicas
    # Six jobs of two models alternating: one load each, not one per job.
    assert sorted(r["loads"] for r in replicas.values()) == [1, 1], replicas


@pytest.mark.cluster
def test_concurrent_jobs_spread_over_the_replicas(cluster: Cluster) -> None:
    before = {n: r["jobs"] for n, r in cluster.status()["replicas"].items()}
    bodies = [cluster.body(cluster.models[0], 100 + n, steps=20) for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        ends = list(pool.map(cluster.run_job, bodies))
    assert [name for name, _ in ends] == ["finished"] * 4, ends
    after = {n: r["jobs"] for n, r in cluster.status()["replicas"].items()}
    ran = {n: after[n] - before.get(n, 0) for n in after}
    assert sum(ran.values()) == 4
    assert all(count >= 1 for count in ran.values()), ran  # both replicas worked


@pytest.mark.cluster
def test_cancelling_a_running_job_reaches_its_replica(cluster: Cluster) -> None:
    model = cluster.models[0]
    answer = cluster.client.post("/jobs", json=cluster.body(model, 9, steps=150))
    assert answer.status_code == 202
    job_id = answer.json()["id"]
    events = cluster.events(job_id)
    for name, _data in events:
        if name == "step":
            break
    [running] = cluster.status()["running"]
    before = cluster.status()["replicas"][running]["cancelled"]
    assert cluster.client.delete(f"/jobs/{job_id}").status_code == 200
    assert next(n for n, _ in events if n in ("finished", "failed", "cancelled")) == "cancelled"
    # The replica reports its count with its next job's events: send jobs of
    # the model it holds until one lands there.
    for seed in range(10, 20):
        assert cluster.client.post("/generate/image", json=cluster.body(model, seed)).is_success
        record = cluster.status()["replicas"][running]
        if record["jobs"] and record["cancelled"] > before:
            break
    assert record["cancelled"] == before + 1, record


@pytest.mark.cluster
def test_a_replica_killed_mid_job_is_a_sentence_and_the_next_request_succeeds(
    cluster: Cluster,
) -> None:
    import ray

    answer = cluster.client.post("/jobs", json=cluster.body(cluster.models[0], 7, steps=150))
    assert answer.status_code == 202
    events = cluster.events(answer.json()["id"])
    for name, _data in events:
        if name == "step":
            break
    [running] = cluster.status()["running"]
    ray.kill(ray.get_actor(running, namespace="serve"), no_restart=True)
    name, data = next((n, d) for n, d in events if n in ("finished", "failed", "cancelled"))
    assert name == "failed"
    assert data["message"].startswith("The engine replica running this job stopped")
    assert "send the request again" in data["message"]
    deadline = time.monotonic() + WAIT_S
    answer = cluster.client.post("/generate/image", json=cluster.body(cluster.models[0], 8))
    while answer.status_code != 200 and time.monotonic() < deadline:
        time.sleep(1.0)  # Ray Serve is replacing the replica
        answer = cluster.client.post("/generate/image", json=cluster.body(cluster.models[0], 8))
    assert answer.status_code == 200, answer.text


def test_the_ray_serve_config_builder_needs_a_token_off_loopback(monkeypatch) -> None:
    pytest.importorskip("ray", reason="Ray Serve is not installed: pip install '.[cluster]'")
    from ray.serve import Application

    from studio.engine.errors import EngineError
    from studio.server.cluster.deploy import build

    monkeypatch.delenv("STUDIO_API_TOKEN", raising=False)
    with pytest.raises(EngineError, match="without a token"):
        build({"replicas": "2"})
    monkeypatch.setenv("STUDIO_API_TOKEN", "t")
    assert isinstance(build({"replicas": "2", "max_replicas": "4", "gpus": "0"}), Application)

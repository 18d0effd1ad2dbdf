"""scripts/train-demo's code: the loss weightings, the ControlNet's timestep
draw, the judge, and a whole (tiny) training run whose output the engine loads
and generates with."""

from __future__ import annotations

import json
import random

import pytest
import torch

from studio.engine.generate import generate
from studio.engine.pipelines import PipelineStore
from studio.engine.request import GenerationRequest, Mode
from training import architecture as arch
from training.judge import read
from training.stages import NoiseSchedule, StageConfig
from training.train_demo import Recipe, main
from training.world import make_scene, render


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule.of(arch.build_scheduler())


def draw(schedule: NoiseSchedule, config: StageConfig, n: int = 4000):
    z = torch.zeros(n, 4, 2, 2)
    _, t, _, weight = schedule.noisy_and_target(z, torch.Generator().manual_seed(0), config)
    return t, weight


def test_the_loss_weightings(schedule):
    def weights(weighting: str):
        return draw(schedule, StageConfig(steps=1, batch=1, lr=1.0, weighting=weighting))

    t, min_snr = weights("min-snr")  # the shipped recipe's
    assert min_snr[t > 950].max() < 0.05  # mutes the noisiest steps
    assert min_snr[(t > 300) & (t < 400)].min() > 0.6
    t, noisy = weights("noisy")
    assert torch.allclose(noisy[t > 500], torch.tensor(1.0))
    assert noisy[t < 20].max() < 0.2  # damps the near-clean ones instead
    t, plain = weights("plain")
    assert torch.equal(plain, torch.ones_like(plain))
    with pytest.raises(ValueError, match="min_snr"):
        StageConfig(steps=1, batch=1, lr=1.0, weighting="min_snr")
    with pytest.raises(ValueError, match="Cubic"):
        StageConfig(steps=1, batch=1, lr=1.0, timesteps="Cubic")


def test_the_controlnet_draws_mostly_noisy_timesteps(schedule):
    uniform = draw(schedule, StageConfig(steps=1, batch=1, lr=1.0))[0]  # the default
    cubic = draw(schedule, StageConfig(steps=1, batch=1, lr=1.0, timesteps="cubic"))[0]
    assert 0.4 < (uniform > 500).float().mean() < 0.6
    assert (cubic > 500).float().mean() > 0.75 and (cubic > 750).float().mean() > 0.55
    assert cubic.min() >= 0 and cubic.max() <= 999


def test_the_judge_reads_a_rendered_scene():
    scene = make_scene(random.Random(5), "star", "yellow", "black", "large", "top right")
    reading = read(render(scene))
    assert (reading.shape, reading.colour, reading.background) == ("star", "yellow", "black")
    assert (reading.size, reading.position) == ("large", "top right")


def test_a_tiny_training_run_writes_a_model_the_engine_draws_with(tmp_path, monkeypatch):
    tiny = Recipe(
        images=64,
        vae=StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=2),
        unet=StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=3),
        controlnet=StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=4),
    )
    monkeypatch.setattr("training.train_demo.QUICK", tiny)
    out = tmp_path / "models"
    assert main(["--quick", "--out", str(out)]) == 0
    report = json.loads((out / "training.json").read_text())
    assert set(report["seconds"]) == {"data", "vae", "unet", "controlnet", "total"}
    assert report["cpu_seconds"]["total"] > 0
    assert [len(curve) for curve in report["loss_curves"].values()] == [2, 2, 2]
    assert (out / "loss.png").stat().st_size > 0
    assert not list(out.glob(".demo-*"))  # the staging folder is gone

    store = PipelineStore()
    request = GenerationRequest(
        "a red circle", model=str(out / "demo"), steps=2, width=64, height=64, seed=1
    )
    assert generate(request, store).images[0].size == (64, 64)
    control = render(make_scene(random.Random(1), "circle", "red", "blue", "large", "center"))
    controlled = request.replace(
        mode=Mode.CONTROLNET_CANNY, controlnet=str(out / "demo-controlnet"),
        control_image=control,
    )  # fmt: skip
    assert generate(controlled, store).images[0].size == (64, 64)

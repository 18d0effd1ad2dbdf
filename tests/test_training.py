"""scripts/train-demo's code: the loss weightings, the ControlNet's timestep
draw, the judge, and a whole (tiny) training run whose output the engine loads
and generates with."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from studio.engine.catalog import CATALOG
from studio.engine.generate import generate
from studio.engine.pipelines import PipelineStore
from studio.engine.request import GenerationRequest, Mode
from training import architecture as arch
from training import evaluate
from training.curves import LossLog
from training.judge import read
from training.stages import LAYOUT_T, NoiseSchedule, StageConfig
from training.train_demo import FULL, Recipe, main
from training.world import make_scene, render

pytestmark = pytest.mark.quality


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


def test_the_cubic_draw_favours_noisy_timesteps(schedule):
    uniform = draw(schedule, StageConfig(steps=1, batch=1, lr=1.0))[0]  # the default
    cubic = draw(schedule, StageConfig(steps=1, batch=1, lr=1.0, timesteps="cubic"))[0]
    assert 0.4 < (uniform > 500).float().mean() < 0.6
    assert (cubic > 500).float().mean() > 0.75 and (cubic > 750).float().mean() > 0.55
    assert cubic.min() >= 0 and cubic.max() <= 999


def test_the_weighted_draw_keeps_the_uniform_draws_expected_weight(schedule):
    """Importance sampling: timesteps drawn in proportion to their min-SNR weight,
    each sample weighted by the mean weight. The weight per timestep, averaged
    over the draw, must match the uniform draw's (same expected loss), while the
    draw avoids the timesteps whose weight is near zero."""
    config = StageConfig(steps=1, batch=1, lr=1.0, timesteps="weighted")
    t, weight = draw(schedule, config, n=20_000)
    t_uniform, w_uniform = draw(schedule, StageConfig(steps=1, batch=1, lr=1.0), n=20_000)
    assert torch.allclose(weight, weight[0].expand_as(weight))  # every sample alike
    assert weight[0] == pytest.approx(w_uniform.mean().item(), rel=0.03)
    assert (t > 950).float().mean() < 0.01 < (t_uniform > 950).float().mean()
    assert (t < 30).float().mean() < 0.005 < (t_uniform < 30).float().mean()

    # where min-SNR weighs most (around SNR 5, t ≈ 250–400: 2.3× the mean weight)
    def peak(draw_t: torch.Tensor) -> float:
        return ((draw_t > 250) & (draw_t < 400)).float().mean().item()

    assert peak(t) > 1.8 * peak(t_uniform)
    for weighting in ("noisy", "plain"):  # follows the stage's weighting
        t_w, _ = draw(schedule, StageConfig(steps=1, batch=1, lr=1.0, weighting=weighting,
                                            timesteps="weighted"))  # fmt: skip
        assert (t_w > 900).float().mean() > 0.05


def test_layout_samples_lead_the_batch_at_the_noisiest_timesteps(schedule):
    config = StageConfig(steps=1, batch=8, lr=1.0, weighting="noisy", layout_share=0.25)
    t, weight = draw(schedule, config, n=8)
    assert config.layout_samples == 2
    assert (t[:2] >= LAYOUT_T).all() and torch.allclose(weight[:2], torch.tensor(1.0))
    # without a layout share the draw is the one the shipped recipe made
    plain = StageConfig(steps=1, batch=8, lr=1.0)
    expected, _ = schedule._timesteps(4000, torch.Generator().manual_seed(0), plain)
    assert torch.equal(draw(schedule, plain)[0], expected)
    with pytest.raises(ValueError, match="noisiest"):  # min-SNR would weigh them ~0
        StageConfig(steps=1, batch=8, lr=1.0, layout_share=0.25)
    with pytest.raises(ValueError, match="layout_share"):
        StageConfig(steps=1, batch=8, lr=1.0, weighting="noisy", layout_share=1.0)


def test_layout_samples_are_trained_on_their_full_captions(tmp_path, monkeypatch):
    from training.data import CaptionEncoder, build_scene_set
    from training.stages import target_latents, train_unet
    from training.tokenizer import load_tokenizer, write_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer(write_tokenizer(tmp_path / "tokenizer"))
    data = build_scene_set(8, seed=1)
    seen: list[list[str]] = []
    encode = CaptionEncoder.ids
    monkeypatch.setattr(CaptionEncoder, "ids", lambda self, c: seen.append(c) or encode(self, c))
    config = StageConfig(steps=3, batch=4, lr=1e-3, warmup=1, log_every=1, weighting="noisy",
                         layout_share=0.5)  # fmt: skip
    train_unet(
        arch.build_unet(), arch.build_text_encoder(len(tokenizer)),
        target_latents(data.pixels(torch.arange(8))), data, CaptionEncoder(tokenizer),
        NoiseSchedule.of(arch.build_scheduler()), config,
    )  # fmt: skip
    full = set(data.full_captions(torch.arange(8)))
    assert len(seen) == 3 and all(set(batch[:2]) <= full for batch in seen)
    assert all("background" in c and (" at the " in c or " in the " in c) for c in full)


def test_a_finish_stage_trains_the_frozen_ema_copies_it_is_given(tmp_path):
    """The UNet's finish continues from the first stage's EMA copies, which are
    frozen (requires_grad off): it must still train them."""
    from training.data import CaptionEncoder, build_scene_set
    from training.stages import EMA, target_latents, train_unet
    from training.tokenizer import load_tokenizer, write_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer(write_tokenizer(tmp_path / "tokenizer"))
    unet, text = arch.build_unet(), arch.build_text_encoder(len(tokenizer))
    frozen_unet, frozen_text = EMA(unet, 0.9).module, EMA(text, 0.9).module
    before = [p.clone() for p in frozen_unet.parameters()]
    data = build_scene_set(8, seed=1)
    latents = target_latents(data.pixels(torch.arange(8)))
    config = StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=7)
    finished, _, log = train_unet(
        frozen_unet, frozen_text, latents, data, CaptionEncoder(tokenizer),
        NoiseSchedule.of(arch.build_scheduler()), config, name="unet-finish",
    )  # fmt: skip
    assert log.name == "unet-finish" and len(log.points) == 2
    moved = [not torch.equal(a, b) for a, b in zip(before, finished.parameters(), strict=True)]
    assert sum(moved) > len(moved) // 2


def test_the_judge_reads_a_rendered_scene():
    scene = make_scene(random.Random(5), "star", "yellow", "black", "large", "top right")
    reading = read(render(scene))
    assert (reading.shape, reading.colour, reading.background) == ("star", "yellow", "black")
    assert (reading.size, reading.position) == ("large", "top right")


def test_the_evaluation_samples_a_candidate_folder_as_the_bundled_model(monkeypatch):
    """A model trained into a folder is not the catalog entry: left to the engine
    it would be sampled with a generic model's 25 steps and guidance 7, and its
    scores compared with the bundled model's at 12 and 4."""
    requests = []

    def fake_generate(request, store):
        requests.append(request)
        return SimpleNamespace(images=[Image.new("RGB", (64, 64))])

    monkeypatch.setattr("studio.engine.generate.generate", fake_generate)
    args = evaluate.build_parser().parse_args(["--model", "/tmp/candidate/demo"])
    run = evaluate.make_generator(
        args.model, args.controlnet, args.steps, args.guidance, args.scheduler
    )
    run("a red circle", seed=1)
    demo = CATALOG["demo"].defaults
    assert (requests[0].steps, requests[0].guidance_scale) == (demo.steps, demo.guidance_scale)
    assert requests[0].model == "/tmp/candidate/demo" and requests[0].scheduler is None


def test_a_stage_log_stops_its_clocks_at_its_last_step():
    log = LossLog("vae", total_steps=2, every=1)
    log.add(1, 0.5)
    log.add(2, 0.4)
    wall, cpu = log.elapsed, log.cpu
    sum(i * i for i in range(3_000_000))  # the next stage's CPU time
    assert (log.elapsed, log.cpu) == (wall, cpu)  # read later, as the report does


def test_finish_without_resume_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--out", str(tmp_path), "--finish"])
    assert exit_info.value.code == 2
    assert "--finish goes with --resume" in capsys.readouterr().err


def test_the_layout_stage_runs_between_two_finishes_and_needs_them():
    finish, layout = FULL.unet_finish, FULL.unet_layout
    assert layout is not None and layout.layout_share > 0
    assert FULL.unet_passes() == [
        ("unet-finish", finish), ("unet-layout", layout), ("unet-refinish", finish)
    ]  # fmt: skip
    assert replace(FULL, unet_layout=None).unet_passes() == [("unet-finish", finish)]
    with pytest.raises(ValueError, match="needs a finish"):
        replace(FULL, unet_finish=None)


def test_a_tiny_training_run_writes_a_model_the_engine_draws_with(tmp_path, monkeypatch):
    finish = StageConfig(
        steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=7, weighting="noisy"
    )
    tiny = Recipe(
        images=64,
        vae=StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=2),
        unet=StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=3),
        controlnet=StageConfig(steps=2, batch=4, lr=1e-3, warmup=1, log_every=1, seed=4),
        unet_finish=finish,
        unet_layout=replace(finish, seed=8, layout_share=0.5),
    )
    monkeypatch.setattr("training.train_demo.QUICK", tiny)
    out = tmp_path / "models"
    assert main(["--quick", "--out", str(out)]) == 0
    report = json.loads((out / "training.json").read_text())
    passes = ["unet-finish", "unet-layout", "unet-refinish"]
    stages = {"data", "vae", "unet", "unet_finish", "unet_layout", "unet_refinish", "controlnet"}
    assert set(report["seconds"]) == stages | {"total"}
    assert report["cpu_seconds"]["total"] > 0
    curves = report["loss_curves"]
    assert list(curves) == ["vae", "unet", *passes, "controlnet"]
    assert [len(curve) for curve in curves.values()] == [2] * 6
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

    # --resume --finish trains only the stages after the main one on the model it is given
    again = tmp_path / "resumed"
    assert main(["--quick", "--out", str(again), "--finish", "--resume", str(out / "demo")]) == 0
    resumed = json.loads((again / "training.json").read_text())
    assert list(resumed["loss_curves"]) == [*passes, "controlnet"]
    assert resumed["resumed_from"] == str(out / "demo")
    vae = (out / "demo" / "vae" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert (again / "demo" / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() == vae
    # the configs do not record the folder the parts were resumed from
    assert not any("_name_or_path" in p.read_text() for p in again.glob("demo/*/config.json"))
    # --resume alone: only the ControlNet; the UNet is the one it was given, byte for byte
    cn_only = tmp_path / "controlnet-only"
    assert main(["--quick", "--out", str(cn_only), "--resume", str(out / "demo")]) == 0
    assert list(json.loads((cn_only / "training.json").read_text())["loss_curves"]) == [
        "controlnet"
    ]
    unet = Path("unet", "diffusion_pytorch_model.safetensors")
    assert (cn_only / "demo" / unet).read_bytes() == (out / "demo" / unet).read_bytes()
    assert generate(request.replace(model=str(again / "demo")), store).images[0].size == (64, 64)

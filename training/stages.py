"""The three training stages: VAE, then UNet + text encoder, then ControlNet.

Each stage takes its data and a seed, trains on the CPU with AdamW and a
cosine learning rate, and returns the trained module(s) and its loss log.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .architecture import log_variance_convs
from .curves import LossLog
from .data import EMPTY_CAPTION_RATE, CaptionEncoder, SceneSet

CL = torch.channels_last


@dataclass(frozen=True)
class StageConfig:
    steps: int
    batch: int
    lr: float
    warmup: int = 50
    log_every: int = 50
    seed: int = 0
    # Loss weights in v space, γ = 5. "min-snr": min(SNR, γ) / (SNR + 1), the
    # usual min-SNR-γ. "noisy": min(1, γ / (SNR + 1)), full weight on the
    # high-noise steps where background and layout are decided. "plain": 1.
    # Tried on 2026-11-22 (docs/MODEL_CARD.md): "noisy" for 2,000 steps got
    # every background right but drew blobs (shape 10 %); the shipped model
    # uses "min-snr" for the UNet's main stage, then "noisy" for a short finish
    # and for the ControlNet (train_demo.FULL).
    weighting: str = "min-snr"
    # "uniform" timesteps; "cubic": biased towards high noise (tried for the
    # finish on 2026-11-27: it starved the low-noise steps and softened shapes);
    # "weighted": drawn in proportion to their loss weight, every sample then
    # weighted alike (the same expected loss as "uniform"); kept so the runs in
    # docs/MODEL_CARD.md can be repeated: at batch 64 it learnt shapes no
    # sooner than "uniform" (44 % against 93 % after 2,400 steps)
    timesteps: str = "uniform"
    # The share of every batch drawn from the noisiest timesteps (t >= LAYOUT_T)
    # with its full caption. There the model sees no picture, only the words, and
    # decides where the shape goes; with captions that leave words out, and a
    # weight near 0 under min-SNR, the position words never took hold. Half the
    # batch teaches the positions but costs shapes, a quarter taught nothing;
    # the recipe's layout stage uses half and runs the finish again after it
    # (held-out position 23 % -> 100 %, shape 92 % -> 88 %: docs/MODEL_CARD.md).
    layout_share: float = 0.0

    def __post_init__(self) -> None:
        # a misspelt choice must not silently train with another one
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting {self.weighting!r} is not one of {WEIGHTINGS}")
        if self.timesteps not in TIMESTEP_DRAWS:
            raise ValueError(f"timesteps {self.timesteps!r} is not one of {TIMESTEP_DRAWS}")
        if not 0.0 <= self.layout_share < 1.0:
            raise ValueError(f"layout_share {self.layout_share} is not in [0, 1)")
        if self.layout_share and self.weighting == "min-snr":
            raise ValueError("layout samples need a weighting that counts the noisiest steps")

    @property
    def layout_samples(self) -> int:
        return round(self.batch * self.layout_share)


WEIGHTINGS = ("min-snr", "noisy", "plain")
TIMESTEP_DRAWS = ("uniform", "cubic", "weighted")
MIN_SNR_GAMMA = 5.0
LAYOUT_T = 950


def _lr_lambda(config: StageConfig):
    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _optimizer(params, config: StageConfig):
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(config))


class EMA:
    """Exponential moving average of weights, with a warm-up of the decay."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(list(self.module.parameters()), list(module.parameters()), 1 - d)


# -- VAE -----------------------------------------------------------------------------
#
# The latent space is fixed, not learned: a latent pixel is the mean colour of
# a 4×4 block, written in the 4 channels such that the engine's live preview
# (studio/engine/preview.py, SD factors) turns it back into that colour. The
# encoder learns to compute it, the decoder to draw crisp shapes from it: two
# supervised problems, many times faster to learn than a free autoencoder.

from studio.engine.catalog import Architecture  # noqa: E402
from studio.engine.preview import _FACTORS  # noqa: E402

PREVIEW = torch.tensor(_FACTORS[Architecture.SD])  # (4 latent channels, RGB)
COLOUR_TO_LATENT = torch.linalg.pinv(PREVIEW)  # (RGB, 4): the least-norm latent
LATENT_NOISE = 0.1  # the decoder learns to ignore latent noise this large
VAE_CROP = 32  # the VAE is fully convolutional: it learns on crops, 4× cheaper


def target_latents(pixels: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """The latents of images in [-1, 1]: block means in preview coordinates."""
    pooled = F.avg_pool2d(pixels, factor)
    return torch.einsum("nchw,cl->nlhw", pooled, COLOUR_TO_LATENT)


def _random_crops(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """One random crop per image, at offsets that are multiples of the VAE factor."""
    n, _, h, w = x.shape
    step = 4
    ys = (torch.randint(0, (h - size) // step + 1, (n,), generator=gen) * step).tolist()
    xs = (torch.randint(0, (w - size) // step + 1, (n,), generator=gen) * step).tolist()
    offsets = enumerate(zip(ys, xs, strict=True))
    crops = [x[i, :, y : y + size, c : c + size] for i, (y, c) in offsets]
    return torch.stack(crops)


def train_vae(vae, data: SceneSet, config: StageConfig):
    torch.manual_seed(config.seed)
    vae = vae.to(memory_format=CL).train()
    opt, sched = _optimizer(vae.parameters(), config)
    channels = PREVIEW.shape[0]
    log = LossLog("vae", config.steps, config.log_every)
    gen = torch.Generator().manual_seed(config.seed)
    for step in range(1, config.steps + 1):
        index = torch.randint(len(data.images), (config.batch,), generator=gen)
        x = _random_crops(data.pixels(index), VAE_CROP, gen).contiguous(memory_format=CL)
        target = target_latents(x)
        mean = vae.encode(x).latent_dist.mean
        noise = (
            torch.randn(target.shape, generator=gen)
            * LATENT_NOISE
            * torch.rand((len(x), 1, 1, 1), generator=gen)
        )
        rec = vae.decode((target + noise).contiguous(memory_format=CL)).sample
        encoder_loss = F.mse_loss(mean, target)
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + encoder_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():  # keep the log-variance rows fixed
            for conv in log_variance_convs(vae):
                conv.weight.grad[channels:] = 0
                conv.bias.grad[channels:] = 0
        opt.step()
        sched.step()
        log.add(step, loss.item())
    return vae.eval(), log


@torch.no_grad()
def encode_latents(vae, data: SceneSet, batch: int = 256) -> torch.Tensor:
    """The posterior means of every image, unscaled."""
    out = []
    for start in range(0, len(data.images), batch):
        index = torch.arange(start, min(start + batch, len(data.images)))
        x = data.pixels(index).contiguous(memory_format=CL)
        out.append(vae.encode(x).latent_dist.mean)
    return torch.cat(out).contiguous()


# -- diffusion -----------------------------------------------------------------------


@dataclass
class NoiseSchedule:
    alphas_cumprod: torch.Tensor

    @classmethod
    def of(cls, scheduler) -> NoiseSchedule:
        return cls(scheduler.alphas_cumprod.float().clone())

    def noisy_and_target(self, z: torch.Tensor, gen: torch.Generator, config: StageConfig):
        """Noised latents, timesteps, the v-prediction target and the loss weights."""
        n = z.shape[0]
        t, weight = self._timesteps(n, gen, config)
        ab = self.alphas_cumprod[t].view(n, 1, 1, 1)
        noise = torch.randn(z.shape, generator=gen)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        noisy = a * z + s * noise
        v = a * noise - s * z
        return noisy.contiguous(memory_format=CL), t, v, weight

    def _timesteps(self, n: int, gen: torch.Generator, config: StageConfig):
        """n timesteps drawn as the config says, and their loss weights; the first
        config.layout_samples of them from t >= LAYOUT_T (StageConfig.layout_share)."""
        snr = self.alphas_cumprod / (1 - self.alphas_cumprod)
        t, weight = self._draw(n, gen, config, snr)
        if layout := config.layout_samples:
            t[:layout] = torch.randint(LAYOUT_T, len(snr), (layout,), generator=gen)
            weight = weight.clone()
            weight[:layout] = loss_weights(snr[t[:layout]], config.weighting)
        return t, weight

    @staticmethod
    def _draw(n: int, gen: torch.Generator, config: StageConfig, snr: torch.Tensor):
        if config.timesteps == "weighted":
            # Importance sampling: draw t in proportion to its loss weight and
            # weigh every sample by the mean weight. The expected loss is the
            # uniform draw's, with fewer samples spent where the weight is ~0.
            weights = loss_weights(snr, config.weighting)
            t = torch.multinomial(weights, n, replacement=True, generator=gen)
            return t, weights.mean().expand(n)
        if config.timesteps == "cubic":  # T2I-Adapter's schedule
            u = torch.rand((n,), generator=gen)
            t = ((1 - u**3) * len(snr)).long().clamp(0, len(snr) - 1)
        else:
            t = torch.randint(0, len(snr), (n,), generator=gen)
        return t, loss_weights(snr[t], config.weighting)


def loss_weights(snr: torch.Tensor, weighting: str) -> torch.Tensor:
    """The loss weight in v space of timesteps with these signal-to-noise ratios."""
    if weighting == "min-snr":
        return torch.clamp(snr, max=MIN_SNR_GAMMA) / (snr + 1)
    if weighting == "noisy":
        return torch.clamp(MIN_SNR_GAMMA / (snr + 1), max=1.0)
    return torch.ones_like(snr)


def _weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor):
    per_sample = ((pred.float() - target) ** 2).mean(dim=(1, 2, 3))
    return (per_sample * weight).mean()


def train_unet(
    unet, text_encoder, latents: torch.Tensor, data: SceneSet, captions: CaptionEncoder,
    schedule: NoiseSchedule, config: StageConfig, ema_decay: float = 0.995, name: str = "unet",
):  # fmt: skip
    """Trains the UNet and the text encoder together; returns their EMA copies.
    A second call on those copies continues from them (the "unet-finish" stage)."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    # requires_grad: a finish stage gets the frozen EMA copies of the first
    unet = unet.to(memory_format=CL).train().requires_grad_(True)
    text_encoder.train().requires_grad_(True)
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt, sched = _optimizer(params, config)
    ema_unet, ema_text = EMA(unet, ema_decay), EMA(text_encoder, ema_decay)
    log = LossLog(name, config.steps, config.log_every)
    for step in range(1, config.steps + 1):
        index = torch.randint(len(latents), (config.batch,), generator=gen)
        layout = config.layout_samples
        texts = data.captions(index[layout:], rng, EMPTY_CAPTION_RATE)
        ids = captions.ids(data.full_captions(index[:layout]) + texts)
        noisy, t, target, weight = schedule.noisy_and_target(latents[index], gen, config)
        hidden = text_encoder(ids).last_hidden_state
        pred = unet(noisy, t, hidden).sample
        loss = _weighted_mse(pred, target, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema_unet.update(unet)
        ema_text.update(text_encoder)
        log.add(step, loss.item())
    return ema_unet.module, ema_text.module, log


def train_controlnet(
    controlnet, unet, text_encoder, latents: torch.Tensor, data: SceneSet,
    captions: CaptionEncoder, schedule: NoiseSchedule, config: StageConfig,
    ema_decay: float = 0.99,
):  # fmt: skip
    """Trains the ControlNet on canny edges with the UNet and text encoder frozen."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    unet = unet.to(memory_format=CL).eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    controlnet = controlnet.to(memory_format=CL).train()
    opt, sched = _optimizer(controlnet.parameters(), config)
    ema = EMA(controlnet, ema_decay)
    log = LossLog("controlnet", config.steps, config.log_every)
    for step in range(1, config.steps + 1):
        index = torch.randint(len(latents), (config.batch,), generator=gen)
        ids = captions.ids(data.captions(index, rng, EMPTY_CAPTION_RATE))
        edges = data.edges(index).contiguous(memory_format=CL)
        noisy, t, target, weight = schedule.noisy_and_target(latents[index], gen, config)
        with torch.no_grad():
            hidden = text_encoder(ids).last_hidden_state
        down, mid = controlnet(noisy, t, hidden, controlnet_cond=edges, return_dict=False)
        pred = unet(
            noisy, t, hidden, down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample  # fmt: skip
        loss = _weighted_mse(pred, target, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(controlnet.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.update(controlnet)
        log.add(step, loss.item())
    return ema.module, log

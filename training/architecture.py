"""The demo model's components: small versions of Stable Diffusion's parts, in
the shapes diffusers loads with StableDiffusionPipeline / ControlNetModel.

Sized for a 2-core CPU: 64×64 pixels, a VAE with factor 4 (16×16×4 latents),
a UNet without attention at 16×16 (there it costs more than it gives).
"""

from __future__ import annotations

from .tokenizer import MAX_LENGTH
from .world import SIZE

LATENT_CHANNELS = 4
VAE_CHANNELS = (16, 32, 32)  # three stages: factor 4
VAE_FACTOR = 2 ** (len(VAE_CHANNELS) - 1)
LATENT_SIZE = SIZE // VAE_FACTOR
TEXT_WIDTH = 64
# (32, 64, 128) with a 77-token context until 2026-11-27. This one, with 32 tokens,
# trained as well (loss 0.0117 against 0.0121 after 2,400 steps; held-out shape
# 94 % against 90 %, docs/MODEL_CARD.md) at 0.89 s a batch-64 step against ≈ 1.25 s.
UNET_CHANNELS = (32, 48, 96)
UNET_ATTENTION = (False, True, True)


def build_vae():
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_CHANNELS),
        up_block_types=("UpDecoderBlock2D",) * len(VAE_CHANNELS),
        block_out_channels=VAE_CHANNELS,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=1,  # see below: a flat colour must survive GroupNorm
        sample_size=SIZE,
        mid_block_add_attention=False,
        scaling_factor=1.0,  # the latents already have unit-ish variance (see stages.py)
    )
    fix_log_variance(vae)
    return vae


def log_variance_convs(vae) -> tuple:
    """The convolutions whose rows from LATENT_CHANNELS on output the posterior's
    log-variance: the encoder's last one and the 1×1 `quant_conv` after it."""
    return vae.encoder.conv_out, vae.quant_conv


def fix_log_variance(vae) -> None:
    """A deterministic posterior: log-variance -10 everywhere (std 0.007), so the
    latents img2img and inpainting sample from an image are its mean. Nothing
    trains these rows (stages.train_vae zeroes their gradients)."""
    import torch

    with torch.no_grad():
        for conv in log_variance_convs(vae):
            conv.weight[LATENT_CHANNELS:] = 0.0
            conv.bias[LATENT_CHANNELS:] = -10.0


def build_text_encoder(vocab_size: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=TEXT_WIDTH,
            intermediate_size=4 * TEXT_WIDTH,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=MAX_LENGTH,
            hidden_act="gelu",
            # the tokenizer puts its two special tokens last
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=vocab_size - 1,
            projection_dim=TEXT_WIDTH,
        )
    )


def _unet_blocks():
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in UNET_ATTENTION)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(UNET_ATTENTION))
    return down, up


def build_unet():
    from diffusers import UNet2DConditionModel

    down, up = _unet_blocks()
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=UNET_CHANNELS,
        layers_per_block=1,
        down_block_types=down,
        up_block_types=up,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,  # diffusers' legacy name: the number of heads
        norm_num_groups=16,
    )


def build_controlnet(unet):
    """A ControlNet copied from the trained UNet; its condition embedding
    downsamples by the VAE factor (16 -> 32 -> 64 channels, two strides)."""
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 64))


def build_scheduler():
    """Cosine noise schedule with zero-ish terminal SNR, v-prediction, and
    'trailing' spacing so sampling starts from pure noise: flat backgrounds get
    the prompt's colour instead of the noise's mean."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        algorithm_type="dpmsolver++",
        solver_order=2,
        final_sigmas_type="zero",
        steps_offset=1,  # unused with trailing spacing; diffusers warns on any other value
    )

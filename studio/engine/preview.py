"""Cheap previews of the latents at every denoising step.

A VAE decode per step would cost as much as the step itself; a fixed linear
map from the 4 latent channels to RGB (the factors ComfyUI and InvokeAI use)
costs microseconds and shows the composition forming."""

from __future__ import annotations

from typing import Any

from PIL import Image

from .catalog import Architecture

# rows: latent channels; columns: R, G, B
_FACTORS = {
    Architecture.SD: (
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    Architecture.SDXL: (
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
}
_BIAS = {Architecture.SD: (0.0, 0.0, 0.0), Architecture.SDXL: (0.1084, -0.0175, -0.0011)}


def latents_to_rgb(latents: Any, architecture: Architecture) -> Image.Image:
    """The first image of a (batch, 4, h, w) latent tensor as a small RGB image."""
    import torch

    sample = latents[0, :4].detach().to(device="cpu", dtype=torch.float32)
    factors = torch.tensor(_FACTORS[architecture])
    bias = torch.tensor(_BIAS[architecture])
    rgb = torch.einsum("chw,cr->hwr", sample, factors) + bias
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")

"""The training set: rendered scenes, their captions (with some words left
out, and some captions empty for classifier-free guidance) and edge maps."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from studio.engine.canny import canny_edges

from .world import Scene, caption, random_scene, render

EMPTY_CAPTION_RATE = 0.1  # unconditional examples, so guidance works


@dataclass
class SceneSet:
    scenes: list[Scene]
    images: torch.Tensor  # uint8 (n, 3, 64, 64)

    def pixels(self, index: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], float32."""
        return self.images[index].float() / 127.5 - 1.0

    def captions(self, index: torch.Tensor, rng: random.Random, empty_rate: float) -> list[str]:
        return [
            "" if rng.random() < empty_rate else caption(self.scenes[i], rng)
            for i in index.tolist()
        ]

    def full_captions(self, index: torch.Tensor) -> list[str]:
        return [caption(self.scenes[i]) for i in index.tolist()]

    def edges(self, index: torch.Tensor) -> torch.Tensor:
        """Canny edge maps as the ControlNet pipeline feeds them: (n, 3, h, w) in [0, 1]."""
        hwc = self.images[index].permute(0, 2, 3, 1).numpy()
        pictures = (Image.fromarray(picture) for picture in hwc)
        maps = [np.asarray(canny_edges(p, 100, 200)) for p in pictures]
        return torch.from_numpy(np.stack(maps)).permute(0, 3, 1, 2).float() / 255.0


def build_scene_set(count: int, seed: int, held_out: bool = False) -> SceneSet:
    rng = random.Random(seed)
    scenes = [random_scene(rng, held_out) for _ in range(count)]
    images = np.stack([np.asarray(render(s)) for s in scenes])
    return SceneSet(scenes, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())


class CaptionEncoder:
    """Tokenizes captions as the pipeline does (padded to the full length), with a cache."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[str, torch.Tensor] = {}

    def ids(self, captions: list[str]) -> torch.Tensor:
        missing = [c for c in dict.fromkeys(captions) if c not in self._cache]
        if missing:
            out = self.tokenizer(
                missing,
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            self._cache.update(zip(missing, out, strict=True))
        return torch.stack([self._cache[c] for c in captions])

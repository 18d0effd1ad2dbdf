"""Canny edge maps for ControlNet, with OpenCV.

controlnet-aux's CannyDetector is this same `cv2.Canny` call; its package
import needs torchvision, which breaks beside a CPU build of torch."""

from __future__ import annotations

import numpy as np
from PIL import Image


def canny_edges(image: Image.Image, low: int, high: int) -> Image.Image:
    """White edges on black, as the 3-channel image canny ControlNets expect."""
    import cv2

    gray = np.asarray(image.convert("L"))
    edges = cv2.Canny(gray, int(low), int(high))
    return Image.fromarray(np.stack([edges] * 3, axis=-1), "RGB")

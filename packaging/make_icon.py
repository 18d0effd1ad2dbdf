"""Draws the app icon and writes it in every format the build needs.

    .venv/bin/python packaging/make_icon.py        # writes studio/resources/icons/

A rounded tile with a small landscape (sun, two hills) that dissolves into
coloured noise towards the top-left corner: an image being denoised. Drawn at
1024 px with a fixed seed, so the files only change when this script does.
Outputs: PNGs at 16-512 px (Linux launchers and the window icon),
`diffusion-studio.ico` (Windows) and `diffusion-studio.icns` (macOS).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

NAME = "diffusion-studio"
SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = [(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]
CANVAS = 1024
MARGIN = 64  # launchers expect a little air around the tile
RADIUS = 200
NOISE_CELL = 48  # noise "pixels" stay visible down to 64 px icons


def _vertical_gradient(size: int, top: tuple, bottom: tuple) -> np.ndarray:
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    rows = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.broadcast_to(rows, (size, size, 3)).copy()


def _scene() -> np.ndarray:
    """The clean picture: dusk sky, sun, two hills; float RGB, 0-255."""
    sky = _vertical_gradient(CANVAS, (38, 30, 92), (236, 112, 99))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    sun_centre, sun_r = (610, 470), 170
    glow = Image.new("L", image.size, 0)
    ImageDraw.Draw(glow).ellipse(
        [
            sun_centre[0] - sun_r - 80,
            sun_centre[1] - sun_r - 80,
            sun_centre[0] + sun_r + 80,
            sun_centre[1] + sun_r + 80,
        ],
        fill=110,
    )
    glow = glow.filter(ImageFilter.GaussianBlur(60))
    image.paste(Image.new("RGB", image.size, (255, 200, 120)), mask=glow)
    draw.ellipse(
        [
            sun_centre[0] - sun_r,
            sun_centre[1] - sun_r,
            sun_centre[0] + sun_r,
            sun_centre[1] + sun_r,
        ],
        fill=(255, 214, 102),
    )
    draw.polygon(
        [(0, 700), (260, 560), (560, 690), (760, 600), (1024, 720), (1024, 1024), (0, 1024)],
        fill=(46, 134, 140),
    )
    draw.polygon(
        [(0, 860), (380, 720), (700, 820), (1024, 760), (1024, 1024), (0, 1024)], fill=(24, 78, 96)
    )
    return np.asarray(image, dtype=np.float64)


def _noise(rng: np.random.Generator) -> np.ndarray:
    cells = CANVAS // NOISE_CELL + 1
    coarse = rng.uniform(0, 255, size=(cells, cells, 3))
    return np.kron(coarse, np.ones((NOISE_CELL, NOISE_CELL, 1)))[:CANVAS, :CANVAS]


def draw_icon(seed: int = 7) -> Image.Image:
    """The icon at 1024 px, RGBA."""
    rng = np.random.default_rng(seed)
    scene, noise = _scene(), _noise(rng)
    # How much noise is left: all of it in the top-left corner, none past the
    # middle of the diagonal, snapped to the noise cells so the edge is pixelly.
    y, x = np.mgrid[0:CANVAS, 0:CANVAS] // NOISE_CELL * NOISE_CELL
    along = (x + y) / (2 * CANVAS)
    level = np.clip((0.55 - along) / 0.4, 0.0, 1.0)[..., None]
    jitter = np.kron(
        rng.uniform(-0.25, 0.25, size=(CANVAS // NOISE_CELL + 1,) * 2),
        np.ones((NOISE_CELL, NOISE_CELL)),
    )[:CANVAS, :CANVAS, None]
    level = np.clip(level + jitter * (level > 0) * (level < 1), 0.0, 1.0)
    rgb = (1 - level) * scene + level * noise
    picture = Image.fromarray(rgb.round().astype(np.uint8)).convert("RGBA")

    tile = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(tile).rounded_rectangle(
        [MARGIN, MARGIN, CANVAS - MARGIN, CANVAS - MARGIN], RADIUS, fill=255
    )
    icon = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    icon.paste(picture, mask=tile)
    # A thin light rim keeps the tile readable on dark panels.
    ImageDraw.Draw(icon).rounded_rectangle(
        [MARGIN, MARGIN, CANVAS - MARGIN, CANVAS - MARGIN],
        RADIUS,
        outline=(255, 255, 255, 90),
        width=10,
    )
    return icon


def write_icons(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    icon = draw_icon()
    written = []
    for size in SIZES:
        path = folder / f"{NAME}-{size}.png"
        icon.resize((size, size), Image.Resampling.LANCZOS).save(path, optimize=True)
        written.append(path)
    ico = folder / f"{NAME}.ico"
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(ico, sizes=ICO_SIZES)
    icns = folder / f"{NAME}.icns"
    icon.save(icns)
    return [*written, ico, icns]


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=root / "studio" / "resources" / "icons")
    args = parser.parse_args()
    for path in write_icons(args.out):
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

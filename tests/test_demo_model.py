"""The bundled demo model (resources/models/demo*) follows the prompt.

These run the real engine on the shipped weights, at 64×64 with the model's
own few steps, and judge the pictures by their pixels: a pipeline that returns
noise, ignores the prompt, or inpaints outside the mask fails them."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio.app import main
from studio.engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL, Kind
from studio.engine.errors import ModelNotFoundError
from studio.engine.generate import generate
from studio.engine.image_parameters import read_parameters
from studio.engine.request import GenerationRequest, Mode
from studio.engine.resolve import resolve_model
from studio.paths import bundled_models_dir
from training.judge import read
from training.world import COLOURS, POSITION_PHRASES, POSITIONS, SIZES, anchor, make_scene, render

pytestmark = pytest.mark.quality


def colour_names(image: Image.Image) -> np.ndarray:
    """Each pixel's nearest named colour."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float32)
    nearest = ((pixels[:, :, None, :] - palette) ** 2).sum(-1).argmin(-1)
    return np.array(names)[nearest]


def border(names: np.ndarray) -> np.ndarray:
    return np.concatenate([names[0], names[-1], names[:, 0], names[:, -1]])


def fill_ratio(mask: np.ndarray) -> float:
    """Area over bounding-box area: ~0.79 for a disc, 1 for a square, ~0.5 for a triangle."""
    ys, xs = np.nonzero(mask)
    return mask.sum() / ((np.ptp(xs) + 1) * (np.ptp(ys) + 1))


@pytest.fixture(scope="module")
def demo_store():
    from studio.engine.pipelines import PipelineStore

    return PipelineStore()


@pytest.fixture(scope="module")
def run(demo_store):
    def run(prompt: str, seed: int = 1, **changes) -> Image.Image:
        request = GenerationRequest(prompt, model="demo", seed=seed, **changes)
        return generate(request, demo_store).images[0]

    return run


def test_demo_is_the_default_and_ships_small_with_its_controlnet(demo_store):
    assert DEFAULT_IMAGE_MODEL == "demo" and GenerationRequest("x").model == "demo"
    folder = bundled_models_dir()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 20 * 2**20
    model = resolve_model("demo")
    assert model.path == folder / "demo" and model.controlnet == "demo-controlnet"
    assert (model.defaults.width, model.defaults.height) == (64, 64)
    assert resolve_model("demo-controlnet").kind is Kind.CONTROLNET
    pipe = demo_store.base_for(model)
    # stored in half precision to stay small; on the CPU it must run in float32
    assert {p.dtype for p in pipe.unet.parameters()} == {torch.float32}


def test_a_missing_bundle_is_a_sentence_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setattr("studio.paths.resources_dir", lambda: tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"bundled model 'demo' is missing.*train-demo"):
        resolve_model("demo")
    assert CATALOG["demo"].bundled and CATALOG["demo-controlnet"].bundled


def test_caption_words_are_single_tokens():
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(bundled_models_dir() / "demo" / "tokenizer"))
    words = "a small large red blue green yellow circle square triangle star at the top left"
    for word in words.split():
        assert len(tokenizer(word).input_ids) == 3, word  # <start> word <end>


@pytest.mark.parametrize("seed", [1, 3])
def test_red_circle_on_blue(run, seed):
    image = run("a red circle on a blue background", seed=seed)
    assert image.size == (64, 64)
    names = colour_names(image)
    assert (border(names) == "blue").mean() > 0.8
    red = names == "red"
    assert red.sum() > 0.04 * red.size  # a shape, not a few stray pixels
    assert ((names == "blue") | red).mean() > 0.9  # nothing else in the picture
    assert 0.65 < fill_ratio(red) < 0.92  # round: not a square, triangle or star
    ys, xs = np.nonzero(red)
    assert 0.8 < (np.ptp(xs) + 1) / (np.ptp(ys) + 1) < 1.25


def test_colour_words_change_the_colours(run):
    yellow_star = run("a yellow star on a black background")
    yellow_on_black = colour_names(yellow_star)
    assert (yellow_on_black == "black").mean() > 0.5
    # its stars are small without a size word: 2.1-6.6 % of the picture over seeds 1-10
    assert (yellow_on_black == "yellow").mean() > 0.015
    reading = read(yellow_star)
    assert (reading.colour, reading.background) == ("yellow", "black")
    green_on_white = colour_names(run("a green square on a white background"))
    assert (green_on_white == "white").mean() > 0.5
    assert (green_on_white == "green").mean() > 0.03


# every colour but the shape's; white, yellow and pink failed before the finish stage
@pytest.mark.parametrize("background", [c for c in COLOURS if c != "blue"])
def test_background_words_colour_the_background(run, background):
    for seed in (1, 2, 3):
        names = colour_names(run(f"a blue square on a {background} background", seed=seed))
        assert (border(names) == background).mean() > 0.6, seed


@pytest.mark.parametrize("position", POSITIONS)
def test_position_words_move_the_shape(run, position):
    prompt = f"a small red circle {POSITION_PHRASES[position]} on a white background"
    x, y = anchor(position, SIZES["small"])  # where the training scenes put it
    for seed in (1, 2):
        ys, xs = np.nonzero(colour_names(run(prompt, seed=seed)) == "red")
        assert xs.size > 40, seed  # a shape: a small circle covers about 380 pixels
        # the corners' anchors are 17 px from the centre's, so 8 px tells them apart
        assert abs(xs.mean() - x) < 8 and abs(ys.mean() - y) < 8, (seed, xs.mean(), ys.mean())


def test_inpainting_a_square_with_a_green_star_changes_only_the_mask(run):
    init = Image.new("RGB", (64, 64), COLOURS["gray"])
    ImageDraw.Draw(init).rectangle((18, 18, 45, 45), fill=COLOURS["yellow"])
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((12, 12, 51, 51), fill=255)
    image = run(
        "a large green star in the center on a gray background",
        mode=Mode.INPAINT, init_image=init, mask_image=mask, strength=1.0, mask_blur=0,
    )  # fmt: skip
    outside = np.asarray(mask) == 0
    assert (np.asarray(init)[outside] == np.asarray(image)[outside]).all()
    inside = colour_names(image)[~outside]
    assert (inside == "green").mean() > 0.2
    assert (inside == "yellow").mean() < 0.05


def test_img2img_keeps_the_picture_at_low_strength_and_recolours_at_high(run):
    init = render(make_scene(random.Random(3), "square", "yellow", "purple", "large", "center"))
    prompt = "a green square on a purple background"

    def shares(strength: float) -> dict[str, float]:
        names = colour_names(run(prompt, mode=Mode.IMG2IMG, init_image=init, strength=strength))
        return {c: (names == c).mean() for c in ("yellow", "green", "purple")}

    low, high = shares(0.3), shares(0.8)
    assert low["yellow"] > 0.1 and low["green"] < 0.02  # the init image's square stays
    assert high["green"] > 0.1 and high["yellow"] < 0.05  # the prompt recolours it
    assert low["purple"] > 0.6 and high["purple"] > 0.6  # the background is kept


def test_controlnet_follows_a_triangles_edges(run):
    control = Image.new("RGB", (64, 64), COLOURS["white"])
    ImageDraw.Draw(control).polygon([(32, 10), (54, 50), (10, 50)], fill=COLOURS["blue"])
    triangle = np.asarray(control.convert("L")) < 200
    prompt = "a purple triangle on a yellow background"

    def purple_of(image: Image.Image) -> np.ndarray:
        return colour_names(image) == "purple"

    def overlap(purple: np.ndarray) -> float:
        """Intersection over union of the purple pixels and the control's triangle."""
        return (purple & triangle).sum() / (purple | triangle).sum()

    purple = purple_of(
        run(prompt, mode=Mode.CONTROLNET_CANNY, controlnet="demo-controlnet", control_image=control)
    )
    assert purple.mean() > 0.05  # a shape, in the prompt's colour
    # The control's triangle, where the control has it: drawn inside its edges,
    # though smaller (44 px wide, it is larger than any shape in training; IoU
    # 0.24-0.42 over seeds 1-6, without the control 0-0.22)
    assert (purple & triangle).sum() / purple.sum() > 0.9
    assert overlap(purple) > 0.33
    assert overlap(purple_of(run(prompt))) < 0.15  # same prompt and seed, no control: elsewhere


def test_the_vae_encodes_an_image_to_one_latent_not_a_random_one(demo_store):
    """img2img and inpainting sample the encoder's posterior: a wide one turned
    the inpainted area into coloured noise."""
    pipe = demo_store.base_for(resolve_model("demo"))
    pixels = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        posterior = pipe.vae.encode(pixels).latent_dist
    assert (posterior.sample() - posterior.mean).abs().max() < 0.05


def test_cli_draws_the_readme_example_offline_with_no_model_named(tmp_path):
    prompt = CATALOG[DEFAULT_IMAGE_MODEL].example_prompt  # README's first command
    out = tmp_path / "star.png"
    code = main(["generate", "--prompt", prompt, "--seed", "3", "--out", str(out), "--quiet"])
    assert code == 0
    image = Image.open(out)
    assert image.size == (64, 64)
    assert "Model: demo" in read_parameters(out)
    reading = read(image)
    # "a yellow star on a black background", the example until issue 23, read as a
    # star on 1 of 16 seeds (not on seed 3); this one on 14 of 16
    assert (reading.colour, reading.shape, reading.size, reading.background) == (
        "yellow", "star", "large", "black",
    )  # fmt: skip

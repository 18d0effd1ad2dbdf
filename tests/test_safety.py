"""The safety filter: word-aware keyword matching, normal and strict modes, and
the optional image checker (a tiny random-weight one built here)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.errors import RequestError
from studio.engine.generate import generate
from studio.engine.infotext import parse_infotext
from studio.engine.jobs import JobQueue
from studio.engine.options import ServiceOptions
from studio.engine.pipelines import PipelineStore
from studio.engine.request import GenerationRequest
from studio.engine.safety import (
    PROTECTIVE_NEGATIVE,
    PromptFilter,
    PromptRefused,
    image_checker_status,
    parse_keywords,
    protect,
)


@pytest.mark.parametrize(
    ("prompt", "found"),
    [
        ("a portrait of Gregory, gorgeous light", ()),  # "gore" inside other words
        ("A GORE-soaked battlefield", ("gore",)),
        ("two gores", ("gore",)),  # plural
        ("(nude:1.2), soft light", ("nude",)),  # prompt-weight syntax
        ("nude_woman on a beach", ("nude",)),  # underscores separate words
        ("ｎｕｄｅ statue", ("nude",)),  # full-width letters
        ("denude the hillside, nudibranch", ()),
        ("self harm", ("self harm",)),
        ("self_harm and Self-Harm", ("self harm",)),
        ("selfharm", ()),
        ("a naked sword, nsfw", ("nsfw", "naked")),
        ("an essex cottage, sextant, unisex", ()),
    ],
)
def test_matching_is_word_aware_and_case_insensitive(prompt, found):
    assert PromptFilter("normal").find(prompt) == found


def test_custom_keywords_match_as_words_too():
    words = PromptFilter("normal", parse_keywords("ass, Dark Magic\n# a comment\n"))
    assert words.keywords == ("ass", "dark magic")
    assert words.find("a class on assassins, grass") == ()
    assert words.find("kick ass") == ("ass",)
    assert words.find("DARK   magic spell") == ("dark magic",)


def test_normal_mode_adds_a_protective_negative_and_a_notice():
    outcome = PromptFilter("normal").apply(["a nude figure", "a lighthouse"], "blurry")
    flagged, clean = outcome.negatives
    assert flagged.startswith("blurry, ") and all(t in flagged for t in PROTECTIVE_NEGATIVE)
    assert clean == "blurry"  # only the flagged prompt's negative changes
    assert outcome.terms == ("nude",)
    assert outcome.notices == (
        "The safety filter found “nude” in the prompt and added a protective negative prompt.",
    )


def test_the_protective_negative_is_not_added_twice():
    once = protect("")
    assert protect(once) == once
    assert protect("NSFW, gore") == "NSFW, gore, nudity, sexual content, explicit, blood, violence"


def test_strict_mode_refuses_naming_why():
    with pytest.raises(PromptRefused) as caught:
        PromptFilter("strict").apply(["a gory, naked zombie"], "")
    message = str(caught.value)
    assert message.startswith("The safety filter (strict) refused this prompt because it contains")
    assert "“naked”" in message and "“gory”" in message
    assert isinstance(caught.value, RequestError)  # shown like any bad request
    PromptFilter("strict").apply(["a gorgeous sunset"], "")  # clean prompts pass


def test_off_mode_changes_nothing():
    outcome = PromptFilter("off").apply(["nude"], "")
    assert outcome.negatives == ("",) and outcome.notices == ()


def test_generation_runs_with_the_protective_negative_and_records_it(store, sd_model):
    result = generate(GenerationRequest("a naked tree", model=str(sd_model), steps=1), store)
    negative = parse_infotext(result.infotexts[0]).negative_prompt
    assert "nudity" in negative and result.request.negative_prompt == negative
    assert any("safety filter found “naked”" in n for n in result.notices)


def test_strict_refusal_happens_before_any_model_loads(sd_model):
    store = PipelineStore()
    strict = ServiceOptions(cache=False, safety_mode="strict")
    with pytest.raises(PromptRefused, match="contains “gore”"):
        generate(GenerationRequest("gore", model=str(sd_model)), store, services=strict)
    assert store.loads == 0


def test_the_queue_refuses_at_submit_in_strict_mode(sd_model):
    queue = JobQueue(lambda event: None, services=ServiceOptions(cache=False, safety_mode="strict"))
    with pytest.raises(PromptRefused):
        queue.submit(GenerationRequest("porn", model=str(sd_model)))
    assert queue.pending() == []
    queue.set_services(ServiceOptions(cache=False, safety_mode="normal"))
    job_id = queue.submit(GenerationRequest("porn", model=str(sd_model)))
    assert [job for job, _request in queue.pending()] == [job_id]


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="Unknown safety filter mode 'lax'"):
        ServiceOptions(safety_mode="lax")


# -- the image checker -----------------------------------------------------------------


def _tiny_checker(folder, flag_everything: bool):
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessorPil

    text = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    text |= dict(vocab_size=100, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    vision |= dict(image_size=32, patch_size=8)
    torch.manual_seed(0)
    checker = StableDiffusionSafetyChecker(
        CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
    )
    with torch.no_grad():
        # score = cosine similarity - threshold: below -1 every image is flagged,
        # above 1 none is.
        checker.concept_embeds_weights.fill_(-10.0 if flag_everything else 10.0)
        checker.special_care_embeds_weights.fill_(10.0)
    checker.save_pretrained(folder, safe_serialization=True)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(folder)
    return folder


def test_absent_image_checker_says_so(tmp_path):
    available, sentence = image_checker_status(str(tmp_path / "nowhere"))
    assert not available and "is not on this machine" in sentence
    available, sentence = image_checker_status()
    assert not available and "hf download CompVis/stable-diffusion-safety-checker" in sentence


def test_image_checker_on_but_absent_is_a_notice_not_an_error(store, sd_model, tmp_path):
    services = ServiceOptions(cache=False, image_checker=True, image_checker_model=str(tmp_path))
    result = generate(GenerationRequest("a cat", model=str(sd_model), steps=1), store,
                      services=services)  # fmt: skip
    assert any("not on this machine" in n for n in result.notices)


@pytest.mark.parametrize("flag_everything", [True, False])
def test_image_checker_blacks_out_flagged_images(store, sd_model, tmp_path, flag_everything):
    folder = _tiny_checker(tmp_path / "checker", flag_everything)
    assert image_checker_status(str(folder))[0]
    request = GenerationRequest("a cat", model=str(sd_model), steps=1, seed=1, batch_count=2)
    services = ServiceOptions(cache=False, image_checker=True, image_checker_model=str(folder))
    checked = generate(request, store, services=services)
    unchecked = generate(request, store)
    for image, original in zip(checked.images, unchecked.images, strict=True):
        pixels = np.asarray(image)
        if flag_everything:
            assert pixels.max() == 0
        else:
            assert np.array_equal(pixels, np.asarray(original))
    flagged = [n for n in checked.notices if "image safety checker" in n]
    assert flagged == (
        ["2 of 2 images were flagged by the image safety checker and replaced by a black image."]
        if flag_everything
        else []
    )


def test_the_default_keywords_are_stored_normalised():
    """The settings dialog normalises what it shows; unchanged defaults must
    come back unchanged, or opening Settings would count as an edit."""
    from studio.engine.safety import DEFAULT_KEYWORDS, parse_keywords

    assert parse_keywords(DEFAULT_KEYWORDS) == tuple(DEFAULT_KEYWORDS)

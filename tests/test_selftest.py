"""The self-test's request: the default model at its own settings, put in the
window's panel as one request (the run through the window is in test_packaging)."""

from __future__ import annotations

from studio.app import build_parser
from studio.engine.catalog import DEFAULT_IMAGE_MODEL
from studio.engine.resolve import resolve_model
from studio.selftest.session import NEGATIVE, PROMPT, SEED, first_request


def test_the_self_test_asks_for_what_studio_generate_uses_by_default():
    request = first_request()
    assert request.model == DEFAULT_IMAGE_MODEL
    assert build_parser().parse_args(["generate"]).model == request.model
    own = resolve_model(DEFAULT_IMAGE_MODEL).defaults
    assert (request.steps, request.guidance_scale, request.scheduler) == (
        own.steps,
        own.guidance_scale,
        own.scheduler,
    )
    assert (request.width, request.height) == (own.width, own.height)
    assert (request.prompt, request.negative_prompt, request.seed) == (PROMPT, NEGATIVE, SEED)
    assert request.image_count == 1


def test_the_panel_holds_the_self_test_request_whole(qtbot):
    from studio.ui.generation_panel import GenerationPanel

    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.batch.setValue(4)  # what a user left there does not leak into the self-test
    panel.prompt.setPlainText("something else")
    asked = first_request()
    panel.apply_request(asked)
    shown = panel.request()
    for name in (
        "prompt",
        "negative_prompt",
        "mode",
        "model",
        "scheduler",
        "steps",
        "guidance_scale",
        "width",
        "height",
        "seed",
        "batch_count",
    ):
        assert getattr(shown, name) == getattr(asked, name), name

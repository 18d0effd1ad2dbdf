"""Every field of GenerationRequest goes through every surface that carries it.

A request with a value other than the default in every field (the top of its
range, its last choice) goes to CLI options, API JSON, the Generate panel (and
its saved state) and the infotext, and comes back the same. A surface skips a
field only where its declaration says None; a field without a declaration fails.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from PIL import Image

from studio.app import build_parser
from studio.cli import _open_image
from studio.engine.infotext import format_infotext, request_from_infotext
from studio.engine.jobs import JobQueue
from studio.engine.request import FIELDS, GenerationRequest, LoraSpec, Mode
from studio.engine.request_fields import FieldSpec, RequestField, declared, request_fields
from studio.engine.request_json import request_body
from studio.engine.watermark import Watermark
from studio.request_args import request_from_args
from studio.server.bodies import request_from_body
from studio.server.schemas import ImageRequest

IMAGE_FIELDS = [f for f in FIELDS if f.kind is Image.Image]


def _image(name: str) -> Image.Image:
    # Each image its own colour, so a swapped pair would show.
    shade = 40 + 60 * [f.name for f in IMAGE_FIELDS].index(name)
    return Image.new("L" if name == "mask_image" else "RGB", (64, 48), shade)


def _other_value(f: RequestField) -> Any:
    """A value that is not the default, from the declaration."""
    if f.choices:
        return f.kind(f.choices[-1]) if f.is_enum else f.choices[-1]
    if f.is_number:
        return f.kind(f.spec.high)
    if f.kind is bool:
        return not f.default
    if f.kind is str:
        return f"a test value for {f.name}"
    if f.kind is Image.Image:
        return _image(f.name)
    if f.kind is Watermark:
        return Watermark(text="mark", opacity=0.5, margin=3)
    if f.name == "loras":
        return (LoraSpec("/loras/style.safetensors", 0.5),)
    if f.name == "extra_prompts":
        return ("another prompt",)
    raise AssertionError(f"the test has no value for {f.name} ({f.kind})")


def _request(mode: Mode = Mode.CONTROLNET_CANNY) -> GenerationRequest:
    values = {f.name: _other_value(f) for f in FIELDS}
    values["model"] = "sd15"  # a catalog name: the panel's model list knows it
    values["mode"] = mode
    return GenerationRequest(**values)


def _assert_same(back: GenerationRequest, sent: GenerationRequest, fields: list[RequestField]):
    assert fields
    for f in fields:
        got, want = getattr(back, f.name), getattr(sent, f.name)
        if f.kind is Image.Image:
            assert got.tobytes() == want.tobytes() and got.size == want.size, f.name
        else:
            assert got == want, f.name


def test_every_field_is_declared_and_the_test_would_notice_one_that_is_not():
    names = [f.name for f in dataclasses.fields(GenerationRequest)]
    assert [f.name for f in FIELDS] == names
    for f in FIELDS:
        assert f.default != _other_value(f) or f.name == "prompt", f.name

    @dataclasses.dataclass(frozen=True)
    class Grown:
        prompt: str = declared("", label="Prompt", help="what to draw", infotext="Prompt")
        clip_skip: int = 1  # no declaration

    assert [f.name for f in request_fields(Grown)] == ["prompt"]
    # `infotext` has no default: a declaration always says what the text holds.
    with pytest.raises(TypeError):
        FieldSpec(label="Clip skip", help="CLIP layers to skip")


def _cli_args(request: GenerationRequest, tmp_path) -> list[str]:
    args = ["generate"]
    for f in FIELDS:
        value = getattr(request, f.name)
        if f.cli is None:
            continue
        if f.kind is bool:
            args += [f.cli] if value else []
        elif f.kind is Image.Image:
            path = tmp_path / f"{f.name}.png"
            value.save(path)
            args += [f.cli, str(path)]
        elif f.name == "loras":
            for lora in value:
                args += [f.cli, f"{lora.path}:{lora.weight}"]
        else:
            args += [f.cli, str(value)]
    return args


def test_the_cli_carries_every_field_it_declares(tmp_path):
    sent = _request()
    args = build_parser().parse_args(_cli_args(sent, tmp_path))
    back = request_from_args(args, _open_image)
    _assert_same(back, sent, [f for f in FIELDS if f.cli is not None])
    assert back.extra_prompts == () and back.watermark is None  # by declaration


def test_the_api_carries_every_field_it_declares():
    sent = _request()
    body = request_body(sent)  # what studio.remote sends
    # Through JSON text, as a client sends it: the model is strict about JSON types.
    parsed = ImageRequest.model_validate_json(json.dumps(body))
    back = request_from_body(parsed, "demo")
    _assert_same(back, sent, [f for f in FIELDS if f.api is not None])
    openapi = ImageRequest.model_json_schema()["properties"]
    assert openapi["num_inference_steps"]["maximum"] == 150  # shown; the engine refuses


@pytest.mark.parametrize("mode", list(Mode))
def test_the_panel_and_its_saved_state_carry_every_field_they_declare(qtbot, tmp_path, mode):
    from PySide6.QtCore import QSettings

    from studio.ui.generation_panel import GenerationPanel

    sent = _request(mode)
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    # Modes other than txt2img work at the canvas's size.
    panel.set_canvas_size(sent.width, sent.height)
    panel.apply_request(sent)
    carried = [f for f in FIELDS if f.panel is not None]
    _assert_same(panel.request(), sent, carried)

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel.save_state(settings)
    restored = GenerationPanel()
    qtbot.addWidget(restored)
    restored.set_canvas_size(sent.width, sent.height)
    restored.load_state(settings)
    _assert_same(restored.request(), sent, carried)


def test_the_infotext_carries_every_field_it_declares():
    covered = set()
    for mode in Mode:
        sent = _request(mode)
        text = format_infotext(sent, sent.seed, sent.model)
        back, notices = request_from_infotext(text)
        carried = [f for f in FIELDS if f.spec.infotext and f.applies_to(mode)]
        _assert_same(back, sent, [f for f in carried if f.spec.infotext_read])
        for f in carried:
            assert f"{f.spec.infotext}:" in text or f.name in ("prompt", "negative_prompt")
        covered |= {f.name for f in carried}
        assert all("not restored" not in notice for notice in notices)
    assert covered == {f.name for f in FIELDS if f.spec.infotext}


def test_a_request_is_validated_once_on_each_path(monkeypatch, tmp_path):
    import studio.engine.request as request_module

    calls = []
    real = request_module.validate

    def counting(request):
        calls.append(request.is_validated)
        return real(request)

    monkeypatch.setattr(request_module, "validate", counting)
    first, notices = GenerationRequest("x", width=513, height=64).validated()
    again, notices_again = first.validated()
    assert again is first and notices_again == notices == [
        "Width 513 was rounded to 512 (a multiple of 8)."
    ]
    assert not first.replace(steps=3).is_validated  # a changed request is checked again

    # The queue (the window's and the server's way in) keeps what check() validated.
    queue = JobQueue(lambda _event: None)
    checked = queue.check(GenerationRequest("a boat"))
    queue.submit(checked)
    assert queue.pending()[0][1] is checked
    assert [was for was in calls if not was] == [False, False]  # the two fresh requests

    # The CLI's jobs are the validated ones, so generate() does not validate them again.
    from studio.cli import _jobs_from_args, service_options

    args = build_parser().parse_args(["generate", "-p", "a fox", "--no-cache"])
    (job,) = _jobs_from_args(args, service_options(args))
    assert job.is_validated

"""Device, precision and memory options, and the command-line options and API
fields derived from the options' declarations."""

from __future__ import annotations

import pytest
import torch
from option_values import other_value

from studio.engine.errors import EngineError
from studio.engine.generate import generate
from studio.engine.options import EngineOptions, ServiceOptions
from studio.engine.pipelines import PipelineStore, pick_device, pick_dtype
from studio.engine.request import GenerationRequest
from studio.engine.resolve import resolve_model
from studio.engine.watermark import Watermark
from studio.option_flags import flag_of
from studio.option_spec import declared


def test_auto_picks_float32_on_the_cpu_and_float16_on_gpus():
    assert pick_dtype("auto", "cpu") is torch.float32
    assert pick_dtype("auto", "cuda") is torch.float16
    assert pick_dtype("auto", "mps") is torch.float16
    assert pick_dtype("bfloat16", "cpu") is torch.bfloat16
    assert pick_device("cpu") == "cpu"


def test_float16_on_the_cpu_is_refused():
    with pytest.raises(EngineError, match="float16 is not usable on the CPU"):
        pick_dtype("float16", "cpu")


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        EngineOptions(device="tpu")
    with pytest.raises(ValueError, match="Unknown precision 'int8'"):
        EngineOptions(dtype="int8")


def test_memory_options_and_bfloat16_still_generate(sd_model):
    options = EngineOptions(device="cpu", dtype="bfloat16", attention_slicing=True, vae_tiling=True)
    store = PipelineStore(options)
    result = generate(GenerationRequest("x", model=str(sd_model), steps=2, seed=1), store)
    assert result.images[0].size == (64, 64)
    pipe = store.base_for(resolve_model(str(sd_model)))
    assert pipe.unet.dtype is torch.bfloat16
    assert pipe.vae.use_tiling


def test_a_device_that_is_not_there_is_a_sentence():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so choosing it is not an error")
    with pytest.raises(EngineError, match="NVIDIA GPU \\(CUDA\\) was chosen but none is usable"):
        PipelineStore(EngineOptions(device="cuda"))


def _flagged(cls) -> list:
    return [d for d in declared(cls) if not d.is_nested and d.spec.flag is not None]


def _argv(cls, prefix: str = "") -> tuple[list[str], dict]:
    """Command-line words setting every flagged option of `cls` to another value."""
    argv, values = [], {}
    for d in _flagged(cls):
        value = other_value(d)
        values[d.name] = value
        flag = flag_of(d, prefix)
        if d.kind is bool and d.optional:
            argv.append(flag if value else flag.replace("--", "--no-", 1))
        elif d.kind is bool:
            argv.append(flag)  # store_true, or --no-X for what is on by default
        elif d.spec.choices or d.spec.show:
            argv += [flag, str(d.dump(value))]
        else:
            argv += [flag, str(value)]
    return argv, values


def test_every_engine_and_service_flag_reaches_its_option():
    """The flags are derived from the declarations: each sets its own field."""
    from studio.app import build_parser
    from studio.cli import engine_options, service_options

    engine_argv, engine_values = _argv(EngineOptions)
    service_argv, service_values = _argv(ServiceOptions)
    mark_argv, mark_values = _argv(Watermark, prefix="watermark-")
    for command in (["generate", "-p", "x"], ["serve"]):
        args = build_parser().parse_args(command + engine_argv + service_argv + mark_argv)
        assert engine_options(args) == EngineOptions(**engine_values)
        services = service_options(args)
        assert services == ServiceOptions(**service_values, watermark=Watermark(**mark_values))
    assert {"--device", "--threads", "--no-cache", "--watermark-size"} <= set(
        engine_argv + service_argv + mark_argv
    )


def test_without_flags_the_options_are_the_declared_defaults(capsys):
    from studio.app import build_parser
    from studio.cli import engine_options, service_options

    args = build_parser().parse_args(["generate", "-p", "x"])
    assert engine_options(args) == EngineOptions()
    assert service_options(args) == ServiceOptions()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0 (invisible) to 1 (solid) (default: 0.7)" in help_text
    assert "--watermark TEXT draw TEXT on every image" in help_text


def test_the_api_watermark_is_the_declared_watermark():
    from studio.server.schemas import WatermarkIn

    assert list(WatermarkIn.model_fields) == [d.name for d in declared(Watermark)]
    body = WatermarkIn(text="hi", color=[1, 2, 3]).model_dump()
    assert Watermark.from_dict(body) == Watermark("hi", color=(1, 2, 3))
    defaults = WatermarkIn(text="hi").model_dump()
    assert Watermark.from_dict(defaults) == Watermark("hi").validated()
    with pytest.raises(ValueError, match="position"):
        WatermarkIn(text="hi", position="middle")

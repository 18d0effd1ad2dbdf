"""Device, precision and memory options."""

from __future__ import annotations

import pytest
import torch

from studio.engine.errors import EngineError
from studio.engine.generate import generate
from studio.engine.models import resolve_model
from studio.engine.options import EngineOptions
from studio.engine.pipelines import PipelineStore, pick_device, pick_dtype
from studio.engine.request import GenerationRequest


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

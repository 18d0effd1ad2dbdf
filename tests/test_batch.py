"""Batches of prompts: one pipeline call for prompts that share settings (counted
on diffusers' own pipeline class), one seed and one metadata text per image,
splitting by the memory budget, the job queue and the command line."""

from __future__ import annotations

import threading

import diffusers
import numpy as np
import pytest

from studio.app import main
from studio.engine.batch import plan_batch, prompts_per_call, read_prompt_file, read_prompts
from studio.engine.errors import RequestError
from studio.engine.generate import generate
from studio.engine.image_parameters import read_parameters
from studio.engine.infotext import parse_infotext
from studio.engine.jobs import JobFailed, JobFinished, JobQueue
from studio.engine.options import ServiceOptions
from studio.engine.request import GenerationRequest

PROMPTS = ["a red apple", "a green pear", "a yellow banana"]


@pytest.fixture
def pipeline_calls(monkeypatch):
    """The prompt argument of every StableDiffusionPipeline.__call__ (diffusers' own)."""
    calls = []
    original = diffusers.StableDiffusionPipeline.__call__

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("prompt"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "__call__", counting)
    return calls


def _pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.mark.slow
def test_three_prompts_make_three_images_in_one_pipeline_call(store, sd_model, pipeline_calls):
    base = GenerationRequest("", model=str(sd_model), steps=2, seed=40)
    (job,) = plan_batch(base, PROMPTS, megapixels=1.0)
    result = generate(job, store)
    assert pipeline_calls == [PROMPTS]  # one call, the prompts as diffusers' batch
    assert len(result.images) == 3 and result.seeds == (40, 41, 42)
    parsed = [parse_infotext(text) for text in result.infotexts]
    assert [p.prompt for p in parsed] == PROMPTS
    assert [p.params["Seed"] for p in parsed] == ["40", "41", "42"]
    assert len(set(result.infotexts)) == 3
    # Each image is its own prompt's image: the same as generating it alone.
    for index, prompt in enumerate(PROMPTS):
        alone = generate(base.replace(prompt=prompt, seed=40 + index), store).images[0]
        assert np.abs(_pixels(result.images[index]) - _pixels(alone)).max() <= 2
    assert len(pipeline_calls) == 4


def test_prompts_times_batch_count_keep_order_and_seeds(store, sd_model, pipeline_calls):
    job = GenerationRequest("cat", model=str(sd_model), steps=1, seed=7, batch_count=2)
    result = generate(job.replace(extra_prompts=("dog",)), store)
    assert len(pipeline_calls) == 1
    prompts = [parse_infotext(t).prompt for t in result.infotexts]
    assert prompts == ["cat", "cat", "dog", "dog"] and result.seeds == (7, 8, 9, 10)


def test_a_flagged_prompt_gets_its_own_protective_negative(store, sd_model):
    job = GenerationRequest("a lake", model=str(sd_model), steps=1, extra_prompts=("nude",))
    clean, flagged = (parse_infotext(t) for t in generate(job, store).infotexts)
    assert clean.negative_prompt == "" and "nudity" in flagged.negative_prompt


def test_the_memory_budget_splits_prompts_into_calls():
    base = GenerationRequest("", width=512, height=512, seed=100)
    assert prompts_per_call(base, 1.0) == 3  # 3 × 512² ≈ 0.79 MP fit in 1 MP
    jobs = plan_batch(base, [f"p{i}" for i in range(7)], megapixels=1.0)
    assert [job.prompts for job in jobs] == [("p0", "p1", "p2"), ("p3", "p4", "p5"), ("p6",)]
    assert [job.seed for job in jobs] == [100, 103, 106]  # image k keeps seed 100 + k
    assert prompts_per_call(base.replace(width=2048, height=2048), 1.0) == 1  # never 0
    tiny = base.replace(width=64, height=64, batch_count=4)
    assert prompts_per_call(tiny, 100.0) == 4  # at most 16 images per call
    random = plan_batch(base.replace(seed=None), ["a", "b", "c", "d"], megapixels=1.0)
    assert [job.seed for job in random] == [None, None]


def test_prompt_lists_are_read_one_per_line(tmp_path):
    assert read_prompts(["  a cat ", "", "# a comment", "a dog"]) == ["a cat", "a dog"]
    (tmp_path / "empty.txt").write_text("\n# nothing\n", encoding="utf-8")
    with pytest.raises(RequestError, match="holds no prompts"):
        read_prompt_file(tmp_path / "empty.txt")
    with pytest.raises(RequestError, match="does not exist"):
        read_prompt_file(tmp_path / "missing.txt")
    with pytest.raises(RequestError, match="no prompts"):
        plan_batch(GenerationRequest(""), ["  "], 1.0)


def test_too_many_images_in_one_job_is_a_sentence():
    job = GenerationRequest("a", batch_count=8, extra_prompts=("b", "c"))
    with pytest.raises(RequestError, match="3 prompts × 8 images make 24 images"):
        job.validated()


def test_the_queue_runs_a_batch_as_few_jobs(sd_model):
    events, done = [], threading.Event()

    def record(event):
        events.append(event)
        if sum(isinstance(e, JobFinished | JobFailed) for e in events) == 2:
            done.set()

    queue = JobQueue(record, services=ServiceOptions(cache=False, batch_megapixels=0.009))
    thread = threading.Thread(target=queue.serve, daemon=True)
    thread.start()
    try:
        base = GenerationRequest("", model=str(sd_model), steps=1, seed=5, width=64, height=64)
        ids = queue.submit_prompts(base, [*PROMPTS, "a plum"])  # 2 prompts of 64² per call
        assert len(ids) == 2
        assert done.wait(60)
    finally:
        queue.stop()
        thread.join(30)
    results = [e.result for e in events if isinstance(e, JobFinished)]
    prompts = [parse_infotext(t).prompt for r in results for t in r.infotexts]
    assert prompts == [*PROMPTS, "a plum"]
    assert [s for r in results for s in r.seeds] == [5, 6, 7, 8]


@pytest.mark.slow
def test_cli_reads_a_prompt_file_and_writes_one_png_per_prompt(
    sd_model, tmp_path, capsys, pipeline_calls
):
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    args = ["generate", "--prompts-file", str(tmp_path / "prompts.txt"), "-m", str(sd_model)]
    args += ["--steps", "1", "--seed", "3", "--no-cache", "-q", "-o", str(tmp_path / "fruit.png")]
    code = main(args)
    assert code == 0 and len(pipeline_calls) == 1
    texts = [parse_infotext(read_parameters(tmp_path / f"fruit-{i}.png")) for i in (1, 2, 3)]
    assert [t.prompt for t in texts] == PROMPTS
    assert [t.params["Seed"] for t in texts] == ["3", "4", "5"]
    assert "(seed 5)" in capsys.readouterr().out


def test_cli_needs_a_prompt_or_a_prompt_file(capsys, tmp_path):
    assert main(["generate", "-q", "-o", str(tmp_path / "x.png")]) == 1
    assert "give --prompt TEXT, or --prompts-file FILE" in capsys.readouterr().err

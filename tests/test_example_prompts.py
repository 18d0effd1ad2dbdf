"""The example prompts a new user copies (README, docs, --help, the prompt
placeholder) are ones the bundled demo model draws: each is declared once in
the demo's catalog entry and measured over 16 seeds in docs/MODEL_CARD.md.

"a yellow star on a black background", the README's first example until
issue 23, came out as a yellow blob on 15 of 16 seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from studio.app import main
from studio.engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL
from training.measure_examples import ENOUGH, SEEDS, make_txt2img, measure, named_attributes
from training.world import vocabulary

pytestmark = pytest.mark.quality

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = CATALOG[DEFAULT_IMAGE_MODEL].example_prompts
HEADLINE = CATALOG[DEFAULT_IMAGE_MODEL].example_prompt
# Where a user finds examples. MODEL_CARD.md is left out: it is the record of
# what was measured, prompts that fail included.
USER_TEXTS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
USER_TEXTS.remove("docs/MODEL_CARD.md")
SCRIPTS = [f"scripts/{p.name}" for p in sorted((ROOT / "scripts").iterdir())]


def command_lines(text: str) -> list[str]:
    """The text's lines, shell continuations (a trailing backslash) joined."""
    return re.sub(r"\\\n\s*", " ", text).splitlines()


def default_model_prompts(text: str) -> list[str]:
    """Prompts of `generate -p/--prompt "..."` commands and of curl JSON bodies
    that name no model or the default one."""
    prompts = []
    for line in command_lines(text):
        model = re.search(r"(?:\s-m|--model)[ =](\S+)", line)
        if re.search(r"\bgenerate\b", line) and (model is None or model[1] == DEFAULT_IMAGE_MODEL):
            prompts += re.findall(r'(?:\s-p|--prompt)[ =]"([^"]+)"', line)
        for body in re.findall(r"-d '(\{[^']*\})'", line):
            request = json.loads(body)
            if request.get("model", DEFAULT_IMAGE_MODEL) == DEFAULT_IMAGE_MODEL:
                prompts.append(request["prompt"])
    return prompts


def demo_captions(text: str) -> list[str]:
    """Quoted text made only of the demo world's words, naming a shape: an
    example for the demo model wherever it stands (prose, tables, help)."""
    words = set(vocabulary())
    quoted = (" ".join(q.split()) for q in re.findall(r'"([^"\n]+(?:\n[^"\n]+)?)"', text))
    return [q for q in quoted if set(q.split()) <= words and "shape" in named_attributes(q)]


def test_the_readme_finds_its_examples():
    """The finders see the README's examples, so the tests below cannot pass empty."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADLINE in default_model_prompts(readme)
    assert len(demo_captions(readme)) >= 3
    assert default_model_prompts('scripts/studio generate -p "a fox" -m sd15 -o fox.png') == []
    assert default_model_prompts('curl -d \'{"prompt": "a fox"}\'') == ["a fox"]


@pytest.mark.parametrize("path", USER_TEXTS + SCRIPTS)
def test_every_example_for_the_default_model_is_a_measured_one(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    for prompt in default_model_prompts(text) + demo_captions(text):
        assert prompt in EXAMPLES, f"{path}: {prompt!r} is not one of the demo's measured examples"


def test_help_shows_a_measured_example(capsys):
    for argv in (["--help"], ["generate", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert f'"{HEADLINE}"' in " ".join(text.split()), argv  # argparse may wrap it
        for prompt in default_model_prompts(text) + demo_captions(text):
            assert prompt in EXAMPLES, (argv, prompt)


def test_the_prompt_placeholder_shows_the_headline_example(qtbot):
    from studio.ui.generation_panel import GenerationPanel

    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.model.set_spec(DEFAULT_IMAGE_MODEL)
    assert HEADLINE in panel.prompt.placeholderText()


def test_the_model_card_measures_every_example_on_enough_seeds():
    card = (ROOT / "docs" / "MODEL_CARD.md").read_text(encoding="utf-8")
    for prompt in EXAMPLES:
        row = re.search(rf"^\| {re.escape(prompt)} \| (\d+) / (\d+) \|", card, re.MULTILINE)
        assert row, f"MODEL_CARD.md has no measured row for {prompt!r}"
        assert (int(row[1]), int(row[2])) >= (ENOUGH, SEEDS) and int(row[2]) == SEEDS, row[0]


def test_named_attributes_reads_a_caption_back():
    assert named_attributes("a small red circle at the top left on a blue background") == {
        "colour": "red", "shape": "circle", "size": "small", "position": "top left",
        "background": "blue",
    }  # fmt: skip
    assert named_attributes("a green star in the center") == {
        "colour": "green", "shape": "star", "position": "center",
    }  # fmt: skip
    assert named_attributes("a lighthouse at dusk") == {}


@pytest.mark.slow
def test_the_headline_example_is_drawn_as_asked_on_most_seeds():
    # 14 of 16 seeds read on 2026-12-03, seeds 1-6 all of them; a blob (the old
    # headline's 15 of 16) reads as a circle or a heart, and fails the shape
    read_right, missed = measure(HEADLINE, make_txt2img(DEFAULT_IMAGE_MODEL), range(1, 7))
    assert read_right >= 5, missed

"""What can be checked of the container on a machine that cannot build it (no
Docker daemon, no registry for the base image; docs/DEPLOY.md): the Dockerfile
read as instructions, its command against docs/DEPLOY.md and the app's own
argument parser, what it installs against pyproject and scripts/pick_torch.py,
compose.yaml's GPU reservation, and what .dockerignore keeps out."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from studio.app import build_parser

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pick_torch", ROOT / "scripts" / "pick_torch.py")
assert _spec is not None and _spec.loader is not None
pick_torch = importlib.util.module_from_spec(_spec)
sys.modules["pick_torch"] = pick_torch  # dataclasses look their module up
_spec.loader.exec_module(pick_torch)

KEYWORDS = {
    "ARG", "FROM", "RUN", "COPY", "ENV", "USER", "EXPOSE", "HEALTHCHECK", "CMD",
    "ENTRYPOINT", "WORKDIR", "VOLUME", "LABEL",
}  # fmt: skip
SECRETS = ("STUDIO_API_TOKEN", "HF_TOKEN", "INCEPTION_API_KEY")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int  # where it starts, for the failure message

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not a JSON list"
        return value

    def pairs(self) -> dict[str, str]:
        """ENV/ARG/LABEL's NAME=value pairs (ARG NAME alone: an empty default)."""
        return dict(word.partition("=")[::2] for word in shlex.split(self.args))


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions as Docker reads them: a trailing backslash continues the line,
    and comment or blank lines inside a continuation are dropped."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not parts:
            start = number
        continued = line.endswith("\\")
        parts.append(line[:-1].strip() if continued else line)
        if not continued:
            keyword, _, args = " ".join(parts).partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip(), start))
            parts = []
    assert not parts, "the Dockerfile ends inside a continued line"
    return instructions


def test_parser_joins_continuations_and_skips_comments() -> None:
    text = 'FROM base\n# a comment\nRUN a \\\n    # inside\n    && b\nCMD ["x", "y"]\n'
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.args, i.line) for i in parsed] == [
        ("FROM", "base", 1),
        ("RUN", "a && b", 3),
        ("CMD", '["x", "y"]', 6),
    ]
    assert parsed[2].exec_form() == ["x", "y"]


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def env(instructions: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            values.update(instruction.pairs())
    return values


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    """ARG names and their defaults."""
    values: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ARG":
            values.update(instruction.pairs())
    return values


def runs(instructions: list[Instruction]) -> list[str]:
    return [i.args for i in instructions if i.keyword == "RUN"]


def test_every_instruction_is_one_docker_knows(dockerfile: list[Instruction]) -> None:
    assert {i.keyword for i in dockerfile} <= KEYWORDS
    assert dockerfile[0].keyword in {"ARG", "FROM"}
    only(dockerfile, "FROM")  # one stage: the checks below read all of it


def documented_command() -> list[str]:
    doc = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    found = re.search(r"It runs\s+`(studio serve[^`]*)`", doc)
    assert found, "docs/DEPLOY.md no longer says 'It runs `studio serve ...`'"
    return shlex.split(found.group(1))


def test_the_command_is_the_documented_one(dockerfile: list[Instruction]) -> None:
    assert not [i for i in dockerfile if i.keyword == "ENTRYPOINT"]
    # exec form, so studio is PID 1 and receives docker stop's SIGTERM
    assert only(dockerfile, "CMD").exec_form() == documented_command()


def test_the_app_accepts_the_command_and_the_token_comes_from_the_environment(
    dockerfile: list[Instruction],
) -> None:
    command = only(dockerfile, "CMD").exec_form()
    assert command[:2] == ["studio", "serve"]
    args = build_parser().parse_args(command[1:])  # an unknown flag exits here
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8080)
    assert args.token is None  # a token on the command line would be in the image


def test_without_a_token_the_container_refuses_with_the_apps_sentence(
    dockerfile: list[Instruction],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from studio.app import main
    from studio.server import runner

    def must_not_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the server went on to start without a token")

    # If the refusal ever moved after these, the test fails instead of listening on 0.0.0.0.
    monkeypatch.setattr(runner.ApiServer, "start", must_not_run)
    monkeypatch.setattr(runner.HeadlessEngine, "start", must_not_run)
    monkeypatch.delenv("STUDIO_API_TOKEN", raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(only(dockerfile, "CMD").exec_form()[1:]) == 1
    err = capsys.readouterr().err
    assert "Serving on 0.0.0.0 without a token would let anyone on the network" in err
    assert "set STUDIO_API_TOKEN" in err
    assert "Traceback" not in err


def test_it_runs_as_a_user_that_is_not_root(dockerfile: list[Instruction]) -> None:
    user = [i.args for i in dockerfile if i.keyword == "USER"][-1].split(":")[0]
    assert user not in {"root", "0"}
    # numeric, so Kubernetes' runAsNonRoot can tell; and the image creates that user
    assert user.isdigit()
    assert any(re.search(rf"useradd\b.*--uid {user}\b", run) for run in runs(dockerfile))
    last_user = max(i.line for i in dockerfile if i.keyword == "USER")
    assert only(dockerfile, "CMD").line > last_user


def test_the_port_it_exposes_is_the_one_it_serves_and_checks(
    dockerfile: list[Instruction],
) -> None:
    port = build_parser().parse_args(only(dockerfile, "CMD").exec_form()[1:]).port
    assert only(dockerfile, "EXPOSE").args.split() == [str(port)]
    check = only(dockerfile, "HEALTHCHECK").args
    assert re.search(rf"\bCMD\b.*http://(127\.0\.0\.1|localhost):{port}/health\b", check)


def test_it_installs_the_pinned_torch_first_then_the_project(
    dockerfile: list[Instruction],
) -> None:
    steps = runs(dockerfile)
    torch_step = next(i for i, run in enumerate(steps) if "pick_torch.py" in run)
    project_step = next(i for i, run in enumerate(steps) if "pip install --constraint" in run)
    assert torch_step < project_step
    # The build has no GPU to detect, so the Dockerfile names the index; the pin
    # is pick_torch's alone (STUDIO_TORCH would replace it).
    assert 'STUDIO_TORCH_INDEX="$TORCH_INDEX"' in steps[torch_step]
    assert "STUDIO_TORCH=" not in "".join(steps) and "STUDIO_TORCH" not in env(dockerfile)
    index = build_args(dockerfile)["TORCH_INDEX"]
    choice = pick_torch.choose({"STUDIO_TORCH_INDEX": index}, "Linux", False, lambda _r: None)
    assert choice.pip_args == (pick_torch.TORCH, "--index-url", index)
    # The project's own torch requirement accepts that pin.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    torch_requirement = next(
        Requirement(r) for r in project["dependencies"] if r.startswith("torch")
    )
    assert torch_requirement.specifier.contains(pick_torch.TORCH.split("==")[1])
    # Held at the pin while the project installs, so nothing can swap the build.
    assert "head -n 1 /tmp/torch-args > /tmp/torch-constraint.txt" in steps[torch_step]
    assert "--constraint /tmp/torch-constraint.txt" in steps[project_step]


def pip_installs(run: str) -> list[str]:
    """The positional arguments of each `pip install` in a RUN."""
    named: list[str] = []
    for command in run.split("&&"):
        words = shlex.split(command)
        if words[:2] != ["pip", "install"]:
            continue
        words = words[2:]
        while words:
            word = words.pop(0)
            if word in {"--constraint", "-c", "--index-url", "--extra-index-url"}:
                words.pop(0)
            elif not word.startswith("-"):
                named.append(word)
    return named


def test_the_python_dependencies_are_pyprojects_without_extras(
    dockerfile: list[Instruction],
) -> None:
    # The project is installed from its own pyproject (`pip install .`, no
    # [dev] or [build] unless a build asks for EXTRAS); besides torch (from
    # pick_torch's output, through xargs), nothing else is named.
    named = [name for run in runs(dockerfile) for name in pip_installs(run)]
    assert named == [".${EXTRAS}"]
    assert build_args(dockerfile)["EXTRAS"] == ""
    # the extra the Ray Serve image asks for (docs/DEPLOY.md) is the project's
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "cluster" in project["optional-dependencies"]
    copies = [shlex.split(i.args) for i in dockerfile if i.keyword == "COPY"]
    copied = {source for words in copies for source in words[:-1] if not source.startswith("--")}
    assert {"pyproject.toml", "studio"} <= copied
    # torchvision breaks diffusers beside this torch: the build fails if one appears.
    project_step = next(run for run in runs(dockerfile) if "pip install --constraint" in run)
    assert "pip show --quiet torchvision" in project_step and "exit 1" in project_step


def test_models_live_on_the_volume_and_no_secret_is_built_in(
    dockerfile: list[Instruction],
) -> None:
    volumes = only(dockerfile, "VOLUME").exec_form()
    values = env(dockerfile)
    assert any(Path(values["HF_HOME"]).is_relative_to(v) for v in volumes)
    assert any(Path(values["STUDIO_DATA_DIR"]).is_relative_to(v) for v in volumes)
    assert not (set(values) | set(build_args(dockerfile))) & set(SECRETS)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_reserves_a_gpu_and_serves_the_image_on_its_port(
    compose: dict, dockerfile: list[Instruction]
) -> None:
    (service,) = compose["services"].values()
    assert service["build"] == "."
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        d["driver"] == "nvidia" and "gpu" in d["capabilities"] and d.get("count") in (1, "all")
        for d in devices
    )
    port = only(dockerfile, "EXPOSE").args
    assert any(str(p).split(":")[-1] == port for p in service["ports"])
    (volume,) = only(dockerfile, "VOLUME").exec_form()
    named = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == volume]
    assert named and named[0] in compose["volumes"]
    assert service["restart"] in {"always", "unless-stopped", "on-failure"}


def test_compose_takes_the_secrets_from_the_environment(compose: dict) -> None:
    (service,) = compose["services"].values()
    environment = service["environment"]
    for name in SECRETS:
        assert environment[name].startswith(f"${{{name}:"), name
    # Without a token compose refuses to start it (`:?`), as the app would.
    assert environment["STUDIO_API_TOKEN"].startswith("${STUDIO_API_TOKEN:?")


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) in order; the last pattern that matches decides."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", glob):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token)
            )
        patterns.append((excludes, re.compile(regex)))
    return patterns


def in_build_context(path: str) -> bool:
    """Docker's rule: a pattern that matches a path or one of its folders."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for excludes, pattern in dockerignore_patterns():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            excluded = excludes
    return not excluded


def test_dockerignore_keeps_the_venv_secrets_and_outputs_out(
    dockerfile: list[Instruction],
) -> None:
    for path in (
        ".venv/bin/python", ".env", ".git/HEAD", "build/x", ".pytest_cache/v",
        ".ruff_cache/x", "tests/test_container.py", "diffusion_studio.egg-info/PKG-INFO",
        "studio/__pycache__/app.cpython-311.pyc", "dist/x.whl", "out/a.png",
    ):  # fmt: skip
        assert not in_build_context(path), path
    copies = [shlex.split(i.args) for i in dockerfile if i.keyword == "COPY"]
    for words in copies:
        for source in words[:-1]:
            assert (ROOT / source).exists(), source
            assert in_build_context(source), f"{source} is copied but .dockerignore drops it"
    assert in_build_context("studio/server/api.py")
    assert in_build_context("studio/resources/models/demo/model_index.json")

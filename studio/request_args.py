"""The `studio generate` options of a request, derived from its fields' declarations.

Only the standard library and the request module (no torch) are imported here:
`studio --help` answers at once.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from PIL import Image

from .engine.request import FIELDS, GenerationRequest, LoraSpec
from .engine.request_fields import RequestField

OpenImage = Callable[[str | None, str], Image.Image | None]


def lora_argument(text: str) -> tuple[str, float]:
    """FILE[:WEIGHT]; a colon that is part of the path (C:\\, a folder) is not a weight."""
    path, sep, weight = text.rpartition(":")
    if sep and path and not path.endswith(("/", "\\")) and _is_number(weight):
        return path, float(weight)
    return text, 1.0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per field the CLI carries, with its declared default, range and help."""
    for f in FIELDS:
        if f.cli is None:
            continue
        names = [f.cli, f.spec.cli_short] if f.spec.cli_short else [f.cli]
        parser.add_argument(*names, dest=f.name, **_argument(f))


def _argument(f: RequestField) -> dict[str, Any]:
    spec, default = f.spec, f.default
    if f.kind is bool:
        return {"action": "store_true", "help": spec.help}
    if f.kind is Image.Image:
        return {"metavar": "FILE", "help": spec.help}
    if f.name == "loras":
        return {
            "action": "append",
            "default": [],
            "type": lora_argument,
            "metavar": "FILE[:WEIGHT]",
            "help": spec.help,
        }
    argument: dict[str, Any] = {"help": spec.help}
    if f.choices:
        argument["choices"] = list(f.choices)
    else:
        argument["metavar"] = f.cli.removeprefix("--").replace("-", "_").upper()
        if f.is_number:
            argument["type"] = f.kind
    if spec.random_alias is not None:
        default = spec.random_alias
    if default not in (None, dataclasses.MISSING):
        argument["default"] = default.value if f.is_enum else default
        if default != "" and "default" not in spec.help:
            argument["help"] += f" (default: {argument['default']})"
    return argument


def request_from_args(args: argparse.Namespace, open_image: OpenImage) -> GenerationRequest:
    """The request the options describe (images opened, not yet validated)."""
    values: dict[str, Any] = {}
    for f in FIELDS:
        if f.cli is None:
            continue
        value = getattr(args, f.name)
        if f.kind is Image.Image:
            value = open_image(value, f.what)
        elif f.name == "loras":
            value = tuple(LoraSpec(path, weight) for path, weight in value)
        elif f.spec.random_alias is not None and value == f.spec.random_alias:
            value = None
        values[f.name] = value
    values["prompt"] = values["prompt"] or ""
    return GenerationRequest(**values)

"""Command-line options from the options' declarations (studio/option_spec.py):
the flag, its help, choices, type and default come from the field, and the
parsed arguments go back into the dataclass with `options_from_args`.

Standard library only, so `studio --help` stays quick."""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from pathlib import Path
from typing import Any

from .option_spec import Declared, declared


def flag_of(d: Declared, prefix: str = "") -> str:
    flag = d.spec.flag or ""
    if flag.startswith("--"):
        return flag
    return "--" + prefix + (flag or d.name).replace("_", "-")


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    prefix: str = "",
    group: str | None = None,
    titles: dict[str, str] | None = None,
) -> None:
    """An option for each declared field of `cls` that has a flag, in the
    argument group `group`, else the one its (dialog) group is called in
    `titles`, else that group's name in lower case ("": the plain options).
    A group the parser already has is used, so a caller can set their order."""
    for d in declared(cls):
        if d.is_nested or d.spec.flag is None:
            continue
        title = group if group is not None else (titles or {}).get(d.spec.group)
        title = d.spec.group.lower() if title is None else title
        target = _argument_group(parser, title) if title else parser
        target.add_argument(flag_of(d, prefix), dest=_dest(d, prefix), **_argument(d))


def _argument_group(parser: argparse.ArgumentParser, title: str) -> Any:
    for existing in parser._action_groups:  # argparse offers no public lookup
        if existing.title == title:
            return existing
    return parser.add_argument_group(title)


def _dest(d: Declared, prefix: str) -> str:
    return (prefix + d.name).replace("-", "_")


def _mid_sentence(text: str) -> str:
    """A choice's meaning, written as a label ("Run on the processor"), inside a
    sentence of --help; words in capitals (CUDA) stay as they are."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _argument(d: Declared) -> dict[str, Any]:
    spec = d.spec
    help_text = spec.flag_help or spec.help or spec.label
    if spec.choices and not spec.flag_help:
        meanings = "; ".join(f"{c.name}: {_mid_sentence(c.help)}" for c in spec.choices if c.help)
        help_text = f"{help_text} ({meanings})" if meanings else help_text
    if d.kind is bool and not spec.choices:
        # A flag that is on by default is written as its negation (--no-cache).
        return {"action": "store_false" if d.default else "store_true", "help": help_text}
    if d.kind is bool:  # on, off or automatic (None)
        return {"action": argparse.BooleanOptionalAction, "default": None, "help": help_text}
    argument: dict[str, Any] = {"help": help_text}
    if spec.metavar:
        argument["metavar"] = spec.metavar
    if spec.choices:
        argument["choices"] = [c.name for c in spec.choices]
    elif d.kind in (int, float):
        argument["type"] = d.kind
    if d.default is not MISSING and d.default is not None:
        shown = d.dump(d.default)
        argument["default"] = shown
        argument["help"] = f"{help_text} (default: {f'{shown:g}' if d.kind is float else shown})"
    return argument


def options_from_args(cls: type, args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """The flagged fields of `cls` as parsed, in the field's own type; pass them
    to the dataclass (or `replace`) to get the options."""
    values: dict[str, Any] = {}
    for d in declared(cls):
        if d.is_nested or d.spec.flag is None:
            continue
        raw = getattr(args, _dest(d, prefix))
        if d.spec.choices and d.kind is not bool:
            values[d.name] = d.parse(raw)
        elif d.kind in (str, Path) and d.optional:
            values[d.name] = d.parse(raw or "")
        elif d.kind is Path and raw is not None:
            values[d.name] = Path(raw)
        else:
            values[d.name] = raw
    return values

"""A value other than the default for every declared option, derived from the
declarations, so round-trip tests cover each setting without listing them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.option_spec import Declared, with_value


def other_value(d: Declared) -> Any:
    """A valid value of `d` that is not its default."""
    spec, default = d.spec, d.default
    if spec.choices:
        return next(c.value for c in spec.choices if c.value != default)
    if spec.kind == "colour":
        return (1, 2, 3)
    if d.kind is bool:
        return not default
    if d.kind is int:
        low = int(spec.low) if spec.low is not None else 0
        value = low + 1 if default is None else default + 1
        return value if spec.high is None or value <= spec.high else default - 1
    if d.kind is float:
        low = spec.low or 0.0
        high = spec.high if spec.high is not None else low + 100
        value = round(low + (high - low) / 4, 1)
        return value if value != default else round(value + 0.1, 1)
    if d.kind is tuple:
        if d.item is Path:
            return (Path("/models/one"), Path("/models/two"))
        return ("alpha", "beta gamma")
    if d.kind is Path:
        return Path("/somewhere/else")
    return "/a/chosen/folder" if spec.kind == "folder" else "something else"


def every_option_changed(options: Any, fields: list[tuple[str, Declared]]) -> Any:
    """`options` with every (path, declaration) in `fields` set to its other value."""
    for path, d in fields:
        options = with_value(options, path, other_value(d))
    return options

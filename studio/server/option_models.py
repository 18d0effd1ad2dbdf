"""Pydantic models from declared options (studio/option_spec.py): the field
names, types, defaults and descriptions of the API's JSON come from the
dataclass, so the API cannot drift from the CLI and the settings."""

from __future__ import annotations

from dataclasses import MISSING
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from ..option_spec import Declared, declared


def model_of(cls: type, name: str, base: type[BaseModel]) -> type[BaseModel]:
    """A pydantic model with one field per declared field of `cls`."""
    fields: dict[str, Any] = {d.name: (_annotation(d), _field(d)) for d in declared(cls)}
    doc = cls.__doc__ if not (cls.__doc__ or "").startswith(f"{cls.__name__}(") else None
    return create_model(name, __base__=base, __doc__=doc, **fields)


def _annotation(d: Declared) -> Any:
    if d.spec.choices:
        kind: Any = Literal[tuple(c.name for c in d.spec.choices)]
    elif d.spec.kind == "colour":
        kind = str | list[int]  # a name, "#rrggbb", or [r, g, b]
    elif d.kind is tuple:
        kind = list[d.item or str]  # type: ignore[index]
    else:
        kind = d.kind
    return kind | None if d.optional else kind


def _field(d: Declared) -> Any:
    if d.default is MISSING:
        return Field(description=d.spec.help)
    default = d.dump(d.default) if d.spec.show or d.spec.choices else d.default
    return Field(default, description=d.spec.help)

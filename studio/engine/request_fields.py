"""How each GenerationRequest field is declared once, and what the surfaces read.

A field's type and default live on the dataclass; everything else (range or
choices, label, help, and its name on the CLI, in the HTTP API, in the Generate
panel's saved state and in the A1111 infotext) lives in its `FieldSpec`, given
as `dataclasses.field(metadata=spec(...))`. The CLI options, the API schema, the
panel's widgets, the infotext tables and validation's range checks are derived
from these declarations, so adding a field is one edit in request.py (plus the
code that uses it). No torch and no Qt here.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import NoneType, UnionType
from typing import Any

from .errors import RequestError

SPEC_KEY = "studio.field"  # the metadata key a FieldSpec is stored under
# A surface name left at this value is derived from the field's name.
FROM_NAME = "<the field's name>"


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    """One field's declaration. A surface set to None does not carry the field,
    by design; `infotext` has no default, so each field says what the text holds."""

    label: str  # the panel's row label
    help: str  # --help, and the API's description unless api_help says otherwise
    infotext: str | None  # the A1111 key ("CFG scale"); None: not in the text
    what: str = ""  # the name validation's sentences use; "" -> label in lower case
    low: float | None = None
    high: float | None = None
    hint: str = ""  # added to the out-of-range sentence
    multiple: int = 0  # snapped to a multiple of this (sizes) instead of range-checked
    choices: tuple[str, ...] = ()  # the allowed texts of a str field (enums give their own)
    modes: tuple[str, ...] = ()  # the modes that use the field; (): every mode
    random_alias: int | None = None  # on the CLI and API this value also means None
    cli: str | None = FROM_NAME  # the flag; FROM_NAME: --field-name
    cli_short: str = ""
    api: str | None = FROM_NAME  # the JSON name
    api_help: str = ""
    panel: str | None = FROM_NAME  # the key under [generation] in the settings file
    panel_group: str = "Generation"
    panel_low: float | None = None  # the panel offers less than validation allows
    panel_step: float = 1
    panel_decimals: int = 2
    panel_suffix: str = ""
    choice_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    none_label: str = ""  # the panel's entry for None in a choice box
    infotext_values: Mapping[str, str] = dataclasses.field(default_factory=dict)
    infotext_read: bool = True  # False: written for other tools, never restored from text
    infotext_if_changed: bool = False  # written only when not the default
    infotext_unit: bool = False  # inside the ControlNet unit ("ControlNet 0: ...")


def declared(
    default: Any = dataclasses.MISSING, *, repr: bool = True, compare: bool = True, **spec: Any
) -> Any:
    """A dataclass field with its FieldSpec: `dataclasses.field(metadata=...)`."""
    metadata = {SPEC_KEY: FieldSpec(**spec)}
    return dataclasses.field(default=default, repr=repr, compare=compare, metadata=metadata)


@dataclass(frozen=True)
class RequestField:
    """A field with its declaration, its surface names resolved."""

    name: str
    default: Any  # dataclasses.MISSING for a required field
    kind: Any  # int, float, str, bool, an Enum, or another type (Image, Watermark, tuple)
    optional: bool  # None is a value (the model's default, a random seed)
    spec: FieldSpec

    @property
    def cli(self) -> str | None:
        flag = self.spec.cli
        return "--" + self.name.replace("_", "-") if flag == FROM_NAME else flag

    @property
    def api(self) -> str | None:
        return self.name if self.spec.api == FROM_NAME else self.spec.api

    @property
    def panel(self) -> str | None:
        return self.name if self.spec.panel == FROM_NAME else self.spec.panel

    @property
    def what(self) -> str:
        return self.spec.what or self.spec.label.lower()

    @property
    def is_enum(self) -> bool:
        return isinstance(self.kind, type) and issubclass(self.kind, Enum)

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(m.value for m in self.kind) if self.is_enum else self.spec.choices

    @property
    def is_number(self) -> bool:
        return self.kind in (int, float)

    def applies_to(self, mode: str) -> bool:
        return not self.spec.modes or mode in self.spec.modes

    def choice_sentence(self, value: object) -> str:
        choices = self.choices
        if len(choices) == 2:
            allowed = f"choose {choices[0]!r} or {choices[1]!r}"
        else:
            allowed = f"choose one of: {', '.join(choices)}"
        return f"Unknown {self.what} {value!r}; {allowed}."

    def check(self, value: object) -> None:
        """The type and range check of a number; RequestError with a sentence."""
        if value is None and self.optional:
            return
        whole = self.kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            kind = "a whole number" if whole else "a number"
            raise RequestError(f"The {self.what} must be {kind}, not {value!r}.")
        low, high = self.spec.low, self.spec.high
        if low is not None and high is not None and not low <= value <= high:
            raise RequestError(
                f"The {self.what} must be between {low:g} and {high:g}; got {value:g}."
                f"{self.spec.hint}"
            )


@functools.cache
def request_fields(cls: type) -> tuple[RequestField, ...]:
    """The declared fields of a request dataclass, in declaration order (a field
    without a FieldSpec is left out: the round-trip test fails on it)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if SPEC_KEY not in f.metadata:
            continue
        kind, optional = _unwrap(hints[f.name])
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        out.append(RequestField(f.name, default, kind, optional, f.metadata[SPEC_KEY]))
    return tuple(out)


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """`int | None` -> (int, True); `tuple[LoraSpec, ...]` -> (tuple[...], False)."""
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not NoneType]
        return (args[0] if len(args) == 1 else hint), len(args) < len(typing.get_args(hint))
    return hint, False

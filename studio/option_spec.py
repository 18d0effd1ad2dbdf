"""One declaration per setting: a dataclass field says once its default, its
label and help, and its choices or range (`option(...)`); the settings file,
the settings dialog, the command line and the HTTP schema are derived from it.

A leaf module (standard library only): the engine, Mercury and the entry
point declare with it; ui/ and server/ read the declarations.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

_OPTION = "option"
_NESTED = "nested"


@dataclass(frozen=True)
class Choice:
    """One value of a choice: what it means in full (help), and the word the
    settings file and the command line write for it (`token`, default str(value))."""

    value: Any
    label: str
    help: str = ""
    token: str = ""

    @property
    def name(self) -> str:
        return self.token or str(self.value)


@dataclass(frozen=True)
class OptionSpec:
    label: str  # the dialog's row label, or a checkbox's text
    help: str = ""  # tooltip, --help and the API description
    choices: tuple[Choice, ...] = ()
    low: float | None = None  # range, inclusive; a stored value outside it is clamped
    high: float | None = None
    decimals: int = 1  # floats in the dialog
    unit: str = ""  # the dialog's suffix, e.g. " MB"
    auto: str = ""  # what None means (shown at the bottom of a number's range)
    kind: str = ""  # what the type does not say: folder, folders, lines, colour, percent
    hint: str = ""  # a text field's placeholder
    max_length: int = 0
    group: str = ""  # the settings dialog's box; "": not in the dialog
    key: str = ""  # the settings file's key when it is not the field's name
    stored: bool = True  # kept in the settings file
    flag: str | None = ""  # command line: "" from the name, "--x" as given, None: none
    flag_help: str = ""  # --help when it must say more (or other) than `help`
    metavar: str = ""
    parse: Callable[[Any], Any] | None = None  # stored/typed text -> value (raises ValueError)
    show: Callable[[Any], Any] | None = None  # value -> what is stored


def option(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, **spec: Any) -> Any:
    """A dataclass field with its declaration (see OptionSpec for the keywords)."""
    metadata = {_OPTION: OptionSpec(**spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def nested(prefix: str = "", group: str = "") -> dict[str, Any]:
    """The metadata of a field holding another declared dataclass, stored with
    `prefix` before its keys: `field(default_factory=..., metadata=nested(...))`."""
    return {_NESTED: (prefix, group)}


@dataclass(frozen=True)
class Declared:
    """One declared field, with its type taken apart."""

    name: str
    spec: OptionSpec
    kind: type  # bool, int, float, str, Path, tuple, or another declared dataclass
    item: type | None  # a tuple's item type
    optional: bool  # None is allowed (and means `spec.auto`)
    default: Any  # MISSING for a required field
    prefix: str = ""  # nested: the key prefix
    group: str = ""  # nested: the dialog box for its fields

    @property
    def is_nested(self) -> bool:
        return self.kind not in (bool, int, float, str, Path, tuple)

    @property
    def key(self) -> str:
        return self.spec.key or self.name

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def choice_for(self, value: Any) -> Choice:
        for choice in self.spec.choices:
            if choice.value == value and type(choice.value) is type(value):
                return choice
        raise ValueError(f"{value!r} is not one of the choices for {self.name}")

    def parse(self, raw: Any) -> Any:
        """A value from what a settings file or a form holds; raises ValueError."""
        spec = self.spec
        if raw is None and self.kind is tuple:
            raw = []  # how an INI file gives back an empty list
        if spec.choices:
            for choice in spec.choices:
                if choice.name == str(raw):
                    return choice.value
            raise ValueError(f"{raw!r} is not one of the choices for {self.name}")
        if spec.parse is not None:
            return spec.parse(raw)
        if self.kind is tuple:
            items = [raw] if isinstance(raw, str) else list(raw or [])
            item = self.item or str
            return tuple(item(str(x)) for x in items if str(x))
        if self.kind is bool:
            if isinstance(raw, str):  # INI files store "true"/"false"
                return raw.strip().lower() in ("true", "1", "yes")
            return bool(raw)
        if self.kind in (int, float):
            return self._number(raw)
        text = str(raw).strip() if self.optional else str(raw)
        if self.optional and not text:
            return None
        return Path(text) if self.kind is Path else text

    def _number(self, raw: Any) -> Any:
        number = float(raw)
        if not math.isfinite(number):
            raise ValueError(f"{raw!r} is not a number")
        low, high = self.spec.low, self.spec.high
        if self.optional and (number <= 0 or (low is not None and number < low)):
            return None  # 0 (or less) has always meant "automatic" in the file
        if low is not None:
            number = max(number, low)
        if high is not None:
            number = min(number, high)
        return int(number) if self.kind is int else number

    def dump(self, value: Any) -> Any:
        """What the settings file stores; None: nothing (the key is removed)."""
        if self.spec.choices:
            return self.choice_for(value).name
        if self.spec.show is not None:
            return self.spec.show(value)
        if value is None:
            return 0 if self.kind in (int, float) else None if self.kind is tuple else ""
        if self.kind is tuple:
            return [str(x) for x in value]
        return str(value) if self.kind is Path else value


@cache
def declared(cls: type) -> tuple[Declared, ...]:
    """The declared fields of a dataclass, in order (undeclared ones are left out)."""
    hints = typing.get_type_hints(cls)
    result = []
    for f in fields(cls):
        kind, item, optional = _take_apart(hints[f.name])
        if _NESTED in f.metadata:
            prefix, group = f.metadata[_NESTED]
            spec = OptionSpec(label=f.name, flag=None)
            result.append(Declared(f.name, spec, kind, None, optional, _default(f), prefix, group))
        elif _OPTION in f.metadata:
            result.append(Declared(f.name, f.metadata[_OPTION], kind, item, optional, _default(f)))
    return tuple(result)


def find(cls: type, name: str) -> Declared:
    for d in declared(cls):
        if d.name == name:
            return d
    raise KeyError(f"{cls.__name__} declares no option {name!r}")


def value_at(options: Any, path: str) -> Any:
    """The value at a dotted path of nested options ("watermark.mark.text")."""
    for name in path.split("."):
        options = getattr(options, name)
    return options


def with_value(options: Any, path: str, value: Any) -> Any:
    """A copy of `options` with the value at a dotted path replaced."""
    name, _, rest = path.partition(".")
    inner = with_value(getattr(options, name), rest, value) if rest else value
    return replace(options, **{name: inner})


def _default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _take_apart(hint: Any) -> tuple[type, type | None, bool]:
    args = typing.get_args(hint)
    optional = False
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not NoneType]
        optional = len(rest) < len(args)
        if len(rest) != 1:
            raise TypeError(f"a declared option has one type (and maybe None), not {hint}")
        hint = rest[0]
        args = typing.get_args(hint)
    origin = typing.get_origin(hint) or hint
    if origin is tuple:
        return tuple, (args[0] if args else str), optional
    return origin, None, optional


def labelled(values: Iterable[str], label: Callable[[str], str] = str) -> tuple[Choice, ...]:
    """Choices whose label is derived from the value ("bottom-right" -> "Bottom right")."""
    return tuple(Choice(v, label(v)) for v in values)

"""Dataclasses as plain JSON data and back, by one rule for every record that crosses a process or is stored.

`to_plain(record)` gives a dict of JSON types: a `Path` or `Fraction` becomes its text (`"24000/1001"`), an
`Enum` its value, a nested dataclass a dict, a tuple a list. `from_plain(cls, data)` reads such a dict back by the
field types of `cls`; a field that is left out takes its default, a value typed `Any` passes as it is. Jobs,
render requests, batch outcomes and store rows all go through these two functions, so a new field is one edit.
"""

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path, PurePath
from typing import Any, TypeVar

from keydub.core.errors import InvalidParameterError


Record = TypeVar("Record")


def to_plain(value: Any) -> Any:
    """`value` as JSON types: dataclasses as dicts (field order), tuples as lists, paths and fractions as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: to_plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (PurePath, Fraction)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    return value


def from_plain(cls: type[Record], data: Mapping[str, Any]) -> Record:
    """The `cls` dataclass that `to_plain` gave `data` for.

    Raises:
        `InvalidParameterError`: `data` is not an object, names a field `cls` does not have or leaves out one
            without a default.
        `TypeError`, `ValueError`: a value is not of its field's type (e.g. text where a whole number belongs).
    """
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"a {cls.__name__} must be an object, not {data!r}")
    hints = _field_types(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise InvalidParameterError(
            f"{cls.__name__} has no field(s) {', '.join(map(str, unknown))}; known: {', '.join(hints)}"
        )
    missing = [item.name for item in dataclasses.fields(cls) if item.name not in data and _is_required(item)]
    if missing:
        raise InvalidParameterError(f"{cls.__name__} is missing field(s) {', '.join(missing)}")
    return cls(**{name: _read(hints[name], value, name) for name, value in data.items()})


def _is_required(item: dataclasses.Field) -> bool:
    return item.init and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {item.name: hints[item.name] for item in dataclasses.fields(cls) if item.init}


def _read(kind: Any, value: Any, name: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        choices = [arg for arg in args if arg is not type(None)]
        # A value already of one of the types stays as it is (`str | int`: "first" or 3).
        fitting = next((arg for arg in choices if _is_plain_instance(value, arg)), choices[0])
        return _read(fitting, value, name)
    if dataclasses.is_dataclass(kind):
        return from_plain(kind, value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if kind in (Path, Fraction):
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise TypeError(f"{name} must be text, not {value!r}")
        return kind(value)
    if origin is tuple:
        items = list(_sequence(value, name))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_read(args[0], item, name) for item in items)
        return tuple(_read(arg, item, name) for arg, item in zip(args, items, strict=True))
    if origin is list:
        return [_read(args[0], item, name) for item in _sequence(value, name)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} must be an object, not {value!r}")
        return {key: _read(args[1], item, name) for key, item in value.items()}
    if not _is_plain_instance(value, kind):
        raise TypeError(f"{name} must be {getattr(kind, '__name__', kind)}, not {value!r}")
    return value


def _sequence(value: Any, name: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list, not {value!r}")
    return value


def _is_plain_instance(value: Any, kind: Any) -> bool:
    """Whether `value` already is a `kind` as JSON carries it (a bool is no number; an int is a float)."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(kind) or kind
    return isinstance(origin, type) and isinstance(value, origin)

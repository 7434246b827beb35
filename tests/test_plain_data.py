"""The one dataclass <-> JSON rule: paths, fractions, enums, nested records and tuples round-trip exactly."""

import json
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from pathlib import Path

import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.plain_data import from_plain, to_plain


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    rate: Fraction
    point: tuple[float, float] | None = None


@dataclass(frozen=True)
class Outer:
    path: Path
    colour: Colour
    inner: Inner
    items: tuple[Inner, ...] = ()
    identity: str | int = "first"
    report: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)


def test_a_record_round_trips_through_json_text():
    record = Outer(
        path=Path("/media/a b.mov"),
        colour=Colour.BLUE,
        inner=Inner(Fraction(24000, 1001), (1.5, 2.0)),
        items=(Inner(Fraction(25)), Inner(Fraction(-1, 3))),
        identity=12,
        extra={"a": [1, 2]},
    )
    plain = to_plain(record)
    assert plain["path"] == "/media/a b.mov" and plain["colour"] == "blue"
    assert plain["inner"] == {"rate": "24000/1001", "point": [1.5, 2.0]}
    assert plain["items"][1] == {"rate": "-1/3", "point": None}
    assert from_plain(Outer, json.loads(json.dumps(plain))) == record


def test_left_out_fields_take_their_defaults_and_unions_keep_their_kind():
    read = from_plain(Outer, {"path": "x", "colour": "red", "inner": {"rate": "25"}, "identity": "auto"})
    assert read == Outer(Path("x"), Colour.RED, Inner(Fraction(25)), identity="auto")


@pytest.mark.parametrize(
    "change, error, text",
    [
        ({"colour": "green"}, ValueError, "green"),
        ({"inner": {"rate": "25", "size": 3}}, InvalidParameterError, "Inner has no field(s) size"),
        ({"path": 3.5}, TypeError, "path must be text, not 3.5"),
        ({"items": "abc"}, TypeError, "items must be a list"),
        ({"identity": 2.5}, TypeError, "identity must be str, not 2.5"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_with_its_field(change, error, text):
    data = {"path": "x", "colour": "red", "inner": {"rate": "25"}, **change}
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        from_plain(Outer, data)

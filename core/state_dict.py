"""The one strict check of a checkpoint's tensors against the model they are meant for."""

from collections.abc import Mapping
from typing import Any


# How many names of each kind a mismatch message lists.
LISTED_NAMES = 3


def describe_mismatch(
    found: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], notes: Mapping[str, str] | None = None
) -> str | None:
    """What is wrong with `found` (name -> tensor) against `expected` (name -> shape), or `None` if nothing is.

    Args:
        found (`Mapping[str, Any]`): the checkpoint's tensors (anything with a `.shape`).
        expected (`Mapping[str, tuple[int, ...]]`): the model's tensor shapes.
        notes (`Mapping[str, str] | None`): text shown after a missing name (e.g. where it would have gone).

    Returns:
        `str | None`: e.g. `"2 missing (first: a, b), 1 unexpected (first: c)"`, counting missing, unexpected and
        misshapen tensors and naming the first few of each, for the caller's error message.
    """
    missing = [f"{name}{(notes or {}).get(name, '')}" for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    misshapen = [
        f"{name} {list(found[name].shape)} (expected {list(shape)})"
        for name, shape in expected.items()
        if name in found and tuple(found[name].shape) != tuple(shape)
    ]
    problems = [
        f"{len(names)} {what} (first: {', '.join(names[:LISTED_NAMES])})"
        for what, names in (("missing", missing), ("unexpected", unexpected), ("misshapen", misshapen))
        if names
    ]
    return "; ".join(problems) or None

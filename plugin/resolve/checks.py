"""Checked calls of Resolve's API: it fails silently, returning `False`, `None` or `[]`, so every answer is looked at.

Each helper takes the answer, says what was asked (`what`) and what the user can do (`fix`), and raises
`ResolveCallError` when the answer is a silent failure.
"""

import math
from typing import Any

from keydub.plugin.resolve.errors import ResolveCallError


def _fail(what: str, answer: Any, fix: str) -> ResolveCallError:
    return ResolveCallError(f"Resolve failed to {what} (it answered {answer!r}); {fix}")


def require(answer: Any, what: str, fix: str) -> Any:
    """`answer` unless it is `None` or `False` (the API's silent failures)."""
    if answer is None or answer is False:
        raise _fail(what, answer, fix)
    return answer


def require_true(answer: Any, what: str, fix: str) -> None:
    """Nothing, if `answer` is `True` (a setter's success)."""
    if answer is not True:
        raise _fail(what, answer, fix)


def require_int(answer: Any, what: str, fix: str) -> int:
    """`answer` as an int (Resolve answers frame numbers as int or, on some builds, as whole floats)."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != int(answer):
        raise _fail(what, answer, fix)
    return int(answer)


def require_number(answer: Any, what: str, fix: str) -> int | float:
    """`answer` if it is a finite number (a subframe-precision answer is a float)."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer):
        raise _fail(what, answer, fix)
    return answer


def require_str(answer: Any, what: str, fix: str) -> str:
    """`answer` if it is a non-empty string."""
    if not isinstance(answer, str) or not answer:
        raise _fail(what, answer, fix)
    return answer


def as_list(answer: Any, what: str, fix: str) -> list[Any]:
    """`answer` as a list (an empty list is a valid answer here; `None` is not)."""
    if isinstance(answer, dict):  # some list-returning calls answer {1: item, 2: item} on older builds
        return [answer[key] for key in sorted(answer)]
    if not isinstance(answer, (list, tuple)):
        raise _fail(what, answer, fix)
    return list(answer)

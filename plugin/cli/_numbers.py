"""Parsers for the numeric command-line options that are not render options (those derive from `RenderOptions`).

argparse calls them as `type=`; an `argparse.ArgumentTypeError` becomes the one `Error:` line of `keydub.plugin.
cli.main`, naming the option, the value and the allowed range. Limits keep a typo from turning into a request for
terabytes (an offset of days, a million handles) or into a silent wrong result (NaN guidance, a seed torch wraps).
"""

import argparse
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import real_number, shortened, whole_number


Number = TypeVar("Number", int, float)

# Handles and frame counts: 100,000 frames is over an hour at 24 fps, far beyond any clip's handles.
MAX_FRAMES = 100_000
# An audio offset beyond a day is a typo (seconds where frames were meant, or a timecode as seconds).
MAX_OFFSET_SECONDS = 24 * 60 * 60
# Sample rates FFmpeg resamples to without trouble.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 384_000


def argparse_type(parse: Callable[[str], Number], name: str) -> Callable[[str], Number]:
    """An argparse `type` from a parser that raises `InvalidParameterError` (its message becomes argparse's)."""

    def parse_argument(text: str) -> Number:
        try:
            return parse(text)
        except InvalidParameterError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse_argument.__name__ = name
    return parse_argument


def bounded_whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse `type` for a whole number in `[minimum, maximum]`."""
    return argparse_type(lambda text: whole_number(text, minimum, maximum), "whole number")


def finite_number(minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse `type` for a finite decimal number in `[minimum, maximum]` (no NaN, no infinity)."""
    return argparse_type(lambda text: real_number(text, minimum, maximum), "number")


def seconds_offset(text: str) -> Fraction:
    """An argparse `type` for a signed offset in seconds, exact: `0.04`, `-1/25`, `2` (at most a day either way)."""
    try:
        value = Fraction(text.strip())
    except ZeroDivisionError:
        raise argparse.ArgumentTypeError(f"{text!r} divides by zero; write seconds such as 0.04 or -1/25") from None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds such as 0.04 or -1/25, not {shortened(text)!r} (NaN and infinity are not offsets)"
        ) from None
    if abs(value) > MAX_OFFSET_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{shortened(text)} s is out of range: allowed -{MAX_OFFSET_SECONDS} to {MAX_OFFSET_SECONDS} seconds "
            "(a day)"
        )
    return value


frame_count = bounded_whole_number(0, MAX_FRAMES)
sample_rate = bounded_whole_number(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)

"""Parsers for numeric command-line options: each refuses, where the option is parsed, what cannot be honoured.

argparse calls them as `type=`; an `argparse.ArgumentTypeError` becomes the one `Error:` line of `keydub.plugin.
cli.main`, naming the option, the value and the allowed range. Limits keep a typo from turning into a request for
terabytes (an offset of days, a million handles) or into a silent wrong result (NaN guidance, a seed torch wraps).
"""

import argparse
import math
from collections.abc import Callable
from fractions import Fraction


# torch's generators take seeds of up to 64 bits.
MAX_SEED = 2**64 - 1
# Steps per stage: the official schedule starts at 10; above 1000 a render would take days for nothing.
MIN_STEPS, MAX_STEPS = 10, 1000
# Guidance scales: KeySync uses 5 (audio) and 2 (identity); far outside a few tens the output is noise.
MAX_GUIDANCE = 100.0
# Handles and frame counts: 100,000 frames is over an hour at 24 fps, far beyond any clip's handles.
MAX_FRAMES = 100_000
# An audio offset beyond a day is a typo (seconds where frames were meant, or a timecode as seconds).
MAX_OFFSET_SECONDS = 24 * 60 * 60
# Sample rates FFmpeg resamples to without trouble.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 384_000


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse `type` for a whole number in `[minimum, maximum]`."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{_short(text)} is out of range: allowed {minimum} to {maximum}")
        return value

    parse.__name__ = "whole number"
    return parse


def finite_number(minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse `type` for a finite decimal number in `[minimum, maximum]` (no NaN, no infinity)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{_short(text)} is out of range: allowed {minimum:g} to {maximum:g}")
        return value

    parse.__name__ = "number"
    return parse


def seconds_offset(text: str) -> Fraction:
    """An argparse `type` for a signed offset in seconds, exact: `0.04`, `-1/25`, `2` (at most a day either way)."""
    try:
        value = Fraction(text.strip())
    except ZeroDivisionError:
        raise argparse.ArgumentTypeError(f"{text!r} divides by zero; write seconds such as 0.04 or -1/25") from None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds such as 0.04 or -1/25, not {_short(text)!r} (NaN and infinity are not offsets)"
        ) from None
    if abs(value) > MAX_OFFSET_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{_short(text)} s is out of range: allowed -{MAX_OFFSET_SECONDS} to {MAX_OFFSET_SECONDS} seconds (a day)"
        )
    return value


seed = whole_number(0, MAX_SEED)
steps = whole_number(MIN_STEPS, MAX_STEPS)
guidance = finite_number(-MAX_GUIDANCE, MAX_GUIDANCE)
frame_count = whole_number(0, MAX_FRAMES)
sample_rate = whole_number(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)


def _short(text: str) -> str:
    """A value as typed, cut so that a pasted megabyte does not become a megabyte of error message."""
    return text if len(text) <= 40 else f"{text[:40]}..."

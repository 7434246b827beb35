"""Exact time at the OTIO boundary: OTIO stores rates and values as doubles, Keydub counts integer frames.

Every conversion from an OTIO `RationalTime` goes through this module so that the rounding is explicit and
checked: a value that does not land on a frame boundary is an error, never silently rounded.
"""

import functools
import math
from fractions import Fraction

import opentimelineio as otio

from keydub.core.errors import TimelineError


# Rates editors use are whole (24, 25, 30, 48000 Hz) or NTSC (24000/1001, 30000/1001, 60000/1001). Exporters
# store them as doubles, some after a detour through a 32-bit float (23.97602462768555 for 24000/1001, off by
# 3e-8): a rate within this relative distance of a standard rate is that rate.
RATE_TOLERANCE = 1e-6

# Some exporters write NTSC rates as rounded decimals (23.976, 23.98, 29.97); they always mean the 1001 rate, and
# reading them as 2997/100 would drift a frame every ~17 minutes against the media. Absolute, in frames a second.
NTSC_DECIMAL_TOLERANCE = 0.005

# OTIO values are doubles; a frame value computed as 86400.0000000001 is still frame 86400. Anything further
# than this from a whole frame is refused as "between frames".
FRAME_TOLERANCE = Fraction(1, 1000)

# The largest denominator of an exact rate read back from its double (1001 covers the NTSC family and the
# fractions containers give variable web clips).
_MAX_RATE_DENOMINATOR = 1001


@functools.lru_cache(maxsize=64)  # a document uses a handful of rate doubles, each snapped once for all its values
def exact_rate(rate: float) -> Fraction:
    """The exact frame (or sample) rate an OTIO double stands for.

    Args:
        rate (`float`): a rate as stored in an OTIO document, e.g. `23.976023976023978`.

    Returns:
        `Fraction`: e.g. `Fraction(24000, 1001)`.

    Raises:
        `TimelineError`: the rate is not positive, or is neither a whole nor an NTSC rate.
    """
    if not (math.isfinite(rate) and rate > 0):
        raise TimelineError(
            f"the timeline uses a frame rate of {rate}, which is not a positive number; "
            "export the timeline again from your editor"
        )
    whole = Fraction(round(rate))
    ntsc = Fraction(round(rate * 1001 / 1000) * 1000, 1001)
    for candidate in (whole, ntsc):
        if abs(float(candidate) - rate) <= RATE_TOLERANCE * rate:
            return candidate
    if abs(float(ntsc) - rate) <= NTSC_DECIMAL_TOLERANCE:
        return ntsc
    # A rate a program computed as a fraction (a web clip's 2010/91 from its container) is that fraction exactly;
    # it has no timecode, but frames and seconds are exact.
    fraction = Fraction(rate).limit_denominator(_MAX_RATE_DENOMINATOR)
    if float(fraction) == rate:
        return fraction
    raise TimelineError(
        f"the timeline uses a frame rate of {rate}, which is neither a whole rate such as 25 nor an "
        "NTSC rate such as 24000/1001; conform the timeline to a standard rate and export it again"
    )


def to_frames(time: otio.opentime.RationalTime, rate: Fraction, what: str) -> int:
    """Convert an OTIO time to a whole number of frames at `rate`, refusing values between frames.

    The value is read two ways, and the first that lands on a frame wins: as frames counted at the exact rate
    its double stands for (`exact_rate`), and as seconds at the double itself (value / rate), which is how an
    exporter that writes 23.976 computes 86399.91 for the frame at 01:00:00:00 of a 24000/1001 timeline.

    Args:
        time (`RationalTime`): the OTIO value (its own rate may differ from `rate`).
        rate (`Fraction`): the frame rate to count in, usually the media's.
        what (`str`): what the value is, for the error message (e.g. `"source start of clip 'A001'"`).

    Returns:
        `int`: the frame count or frame number.

    Raises:
        `TimelineError`: the value is not within 1/1000 of a frame of a whole frame at `rate` either way.
    """
    value = Fraction(time.value)
    as_frames = value * rate / exact_rate(time.rate)
    for exact in (as_frames, value * rate / Fraction(time.rate)):
        frames = round(exact)
        if abs(exact - frames) <= FRAME_TOLERANCE:
            return frames
    raise TimelineError(
        f"{what} is {float(as_frames):.4f} frames at {format_rate(rate)} fps, which is not a whole "
        "frame; Keydub needs frame-accurate edits (is the clip retimed or at another rate?)"
    )


def to_seconds(time: otio.opentime.RationalTime) -> Fraction:
    """The exact number of seconds an OTIO time stands for (its double value taken exactly)."""
    return Fraction(time.value) / exact_rate(time.rate)


def rational_time(frames: int, rate: Fraction) -> otio.opentime.RationalTime:
    """An OTIO time for a whole number of frames (the double of `rate` is the one OTIO itself would store)."""
    return otio.opentime.RationalTime(float(frames), float(rate))


def time_range(start: int, duration: int, rate: Fraction) -> otio.opentime.TimeRange:
    """An OTIO range `[start, start + duration)` in frames at `rate`."""
    return otio.opentime.TimeRange(rational_time(start, rate), rational_time(duration, rate))


def format_timecode(frame: int, rate: Fraction) -> str:
    """SMPTE timecode of an absolute frame number (drop-frame display at 29.97/59.94, as editors show it), or
    `frame N` at a rate where timecode is undefined (2010/91 fps)."""
    if not (rate.denominator == 1 or (rate * Fraction(1001, 1000)).denominator == 1):
        return f"frame {frame}"
    return otio.opentime.to_timecode(rational_time(frame, rate), float(rate))


def format_rate(rate: Fraction) -> str:
    """`24000/1001` or `25`: how a rate is written in messages and reports."""
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"

"""Resolve's frame rates and timecodes as exact numbers, with the standard library only.

Resolve answers a clip's `FPS` as a number (`24.0`, `23.976`, `29.97`: public `GetClipProperty()` dumps) and a
timeline's `timelineFrameRate` as a string (`"23.976"`); either stands for a standard rate, the NTSC ones being the
1001 ratios (`24000/1001`), never the decimals. Drop frame is a separate flag in Resolve
(`timelineDropFrameTimecode`, a clip's `Drop frame`), not something to guess from `;`. The timecode arithmetic
itself is Keydub's one (`keydub.core.timecode`, standard library only).
"""

import re
from fractions import Fraction

from keydub.core.errors import InvalidParameterError
from keydub.core.timecode import frames_to_timecode, nominal_rate, timecode_to_frames
from keydub.plugin.resolve.errors import ResolveCallError


# The rates Resolve offers for timelines and media, exact.
STANDARD_RATES = tuple(
    sorted(
        [Fraction(n) for n in (16, 18, 24, 25, 30, 48, 50, 60, 72, 96, 100, 120)]
        + [Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 96, 120)]
    )
)
# A reported rate stands for the standard rate within this many frames per second ("23.976" and 23.98 are
# 24000/1001; the nearest two standard rates, 23.976 and 24, are 0.024 apart).
RATE_TOLERANCE = Fraction(1, 100)
_RATE_SUFFIXES = re.compile(r"\s*(N?DF|fps)\s*$", re.IGNORECASE)


def parse_frame_rate(value: object) -> Fraction:
    """The standard rate a Resolve frame-rate answer stands for.

    Args:
        value (`object`): a number (`23.976`, `25`, `24.0`) or a string (`"23.976"`, `"29.97 DF"`, `"25"`).

    Returns:
        `Fraction`: e.g. `Fraction(24000, 1001)`.

    Raises:
        `ResolveCallError`: the value is not within 0.01 fps of a standard rate (the message names it).
    """
    reported: Fraction | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        reported = Fraction(value) if value == value and abs(value) != float("inf") else None
    elif isinstance(value, str):
        try:
            reported = Fraction(_RATE_SUFFIXES.sub("", value.strip()))
        except (ValueError, ZeroDivisionError):
            reported = None
    if reported is not None:
        nearest = min(STANDARD_RATES, key=lambda rate: abs(rate - reported))
        if abs(nearest - reported) <= RATE_TOLERANCE:
            return nearest
    raise ResolveCallError(
        f"Resolve reported the frame rate {value!r}, which is not a standard rate; conform the timeline or media "
        "to a standard rate (23.976, 24, 25, 29.97, 30, 50, 59.94, 60...)"
    )


def can_drop_frame(rate: Fraction) -> bool:
    """Drop-frame timecode exists at 29.97 and 59.94 only."""
    return rate.denominator == 1001 and nominal_rate(rate) % 30 == 0


def timecode_to_frame(timecode: str, rate: Fraction, drop_frame: bool = False) -> int:
    """An absolute frame number from a timecode Resolve reported (`"01:00:00:00"` at 24000/1001 is 86400).

    Args:
        timecode (`str`): `HH:MM:SS:FF` (any of `:;.,` before the frames).
        rate (`Fraction`): the exact frame rate.
        drop_frame (`bool`): Resolve's drop-frame flag (ignored at rates without drop frame), whatever the
            separator says.

    Raises:
        `ResolveCallError`: the text is not a timecode at that rate.
    """
    try:
        return timecode_to_frames(timecode, rate, drop_frame=drop_frame and can_drop_frame(rate))
    except InvalidParameterError as error:
        raise ResolveCallError(
            f"Resolve reported the timecode {timecode!r}, which is not a timecode at {rate} fps ({error}); check the "
            "clip's start timecode in its clip attributes"
        ) from None


def frame_to_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """The timecode label of an absolute frame number (the inverse of `timecode_to_frame`)."""
    return frames_to_timecode(frame, rate, drop_frame=drop_frame and can_drop_frame(rate))

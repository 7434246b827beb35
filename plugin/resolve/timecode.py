"""Resolve's frame rates and timecodes as exact numbers, with the standard library only.

Resolve answers a clip's `FPS` as a number (`24.0`, `23.976`, `29.97`: public `GetClipProperty()` dumps) and a
timeline's `timelineFrameRate` as a string (`"23.976"`); either stands for a standard rate, the NTSC ones being the
1001 ratios (`24000/1001`), never the decimals. Timecode counts frames at the nominal (rounded) rate; drop frame is
a separate flag in Resolve (`timelineDropFrameTimecode`, a clip's `Drop frame`), not something to guess from `;`.
"""

import re
from fractions import Fraction

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
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;.,](\d{2,3})$")


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


def nominal_rate(rate: Fraction) -> int:
    """The frames a timecode second counts: 24 for 24000/1001, 30 for 30000/1001."""
    return round(rate)


def can_drop_frame(rate: Fraction) -> bool:
    """Drop-frame timecode exists at 29.97 and 59.94 only."""
    return rate.denominator == 1001 and nominal_rate(rate) in (30, 60)


def _dropped_labels(total_minutes: int, rate: Fraction) -> int:
    # Drop frame skips the first 2 (4 at 59.94) labels of every minute except each tenth minute.
    return 2 * nominal_rate(rate) // 30 * (total_minutes - total_minutes // 10)


def timecode_to_frame(timecode: str, rate: Fraction, drop_frame: bool = False) -> int:
    """An absolute frame number from a timecode (`"01:00:00:00"` at 24000/1001 is 86400).

    Args:
        timecode (`str`): `HH:MM:SS:FF` (any of `:;.,` before the frames).
        rate (`Fraction`): the exact frame rate.
        drop_frame (`bool`): the timecode is drop frame (Resolve's flag; ignored where drop frame does not
            exist).

    Raises:
        `ResolveCallError`: the text is not a timecode at that rate.
    """
    match = _TIMECODE.match(str(timecode).strip())
    base = nominal_rate(rate)
    if match is None or int(match.group(4)) >= base or int(match.group(3)) >= 60 or int(match.group(2)) >= 60:
        raise ResolveCallError(
            f"Resolve reported the timecode {timecode!r}, which is not a timecode at "
            f"{rate} fps; check the clip's start timecode in its clip attributes"
        )
    hours, minutes, seconds, frames = (int(part) for part in match.groups())
    total_minutes = hours * 60 + minutes
    frame = (total_minutes * 60 + seconds) * base + frames
    if drop_frame and can_drop_frame(rate):
        frame -= _dropped_labels(total_minutes, rate)
    return frame


def frame_to_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """The timecode label of an absolute frame number (the inverse of `timecode_to_frame`)."""
    base = nominal_rate(rate)
    separator = ":"
    if drop_frame and can_drop_frame(rate):
        separator = ";"
        dropped = 2 * base // 30
        per_ten_minutes = 600 * base - 9 * dropped
        tens, rest = divmod(frame, per_ten_minutes)
        frame += 9 * dropped * tens + (dropped * ((rest - dropped) // (60 * base - dropped)) if rest > dropped else 0)
    seconds, frames = divmod(frame, base)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{frames:02d}"

"""Resolve's frame rates and timecodes as exact numbers, with the standard library only.

Resolve reports rates as strings (`"23.976"`, `"29.97"`, `"25"`) and timecodes as `HH:MM:SS:FF`, with `;` before
the frames for drop frame. The rates stand for the NTSC ratios (`24000/1001`), never for the decimals, and a
timecode counts frames at the nominal (rounded) rate, with the drop-frame labels skipped at 29.97 and 59.94.
"""

import re
from fractions import Fraction

from keydub.plugin.resolve.errors import ResolveCallError


_NTSC_DECIMALS = {"23.976": 24, "23.98": 24, "29.97": 30, "47.952": 48, "59.94": 60, "119.88": 120}
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def parse_frame_rate(text: str) -> Fraction:
    """The exact rate a Resolve frame-rate string stands for.

    Args:
        text (`str`): e.g. `"23.976"`, `"29.97 DF"`, `"25"`, `"24.0"`.

    Returns:
        `Fraction`: e.g. `Fraction(24000, 1001)`.

    Raises:
        `ResolveCallError`: the text is not a frame rate.
    """
    value = str(text).strip().removesuffix("DF").strip()
    if value in _NTSC_DECIMALS:
        return Fraction(_NTSC_DECIMALS[value] * 1000, 1001)
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None or rate <= 0 or rate.denominator != 1:
        raise ResolveCallError(
            f"Resolve reported the frame rate {text!r}, which Keydub does not know; conform the "
            "timeline or media to a standard rate (23.976, 24, 25, 29.97, 30, 50, 59.94, 60)"
        )
    return rate


def nominal_rate(rate: Fraction) -> int:
    """The frames a timecode second counts: 24 for 24000/1001, 30 for 30000/1001."""
    return round(rate)


def timecode_to_frame(timecode: str, rate: Fraction) -> int:
    """An absolute frame number from a timecode (`"01:00:00:00"` at 24000/1001 is 86400).

    Args:
        timecode (`str`): `HH:MM:SS:FF`, or `HH:MM:SS;FF` for drop frame (only at 29.97 and 59.94).
        rate (`Fraction`): the exact frame rate.

    Raises:
        `ResolveCallError`: the text is not a timecode at that rate.
    """
    match = _TIMECODE.match(str(timecode).strip())
    base = nominal_rate(rate)
    if match is None or int(match.group(5)) >= base or int(match.group(3)) >= 60 or int(match.group(2)) >= 60:
        raise ResolveCallError(
            f"Resolve reported the timecode {timecode!r}, which is not a timecode at "
            f"{rate} fps; check the clip's start timecode in its clip attributes"
        )
    hours, minutes, seconds, separator, frames = match.groups()
    total_minutes = int(hours) * 60 + int(minutes)
    frame = (total_minutes * 60 + int(seconds)) * base + int(frames)
    if separator in ";," and rate.denominator == 1001 and base in (30, 60):
        # Drop frame skips the first 2 (4 at 59.94) labels of every minute except each tenth minute.
        dropped = 2 * base // 30
        frame -= dropped * (total_minutes - total_minutes // 10)
    return frame

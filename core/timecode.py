"""SMPTE timecode <-> frame count, exact for every broadcast rate.

Timecode is a label on frames, not a clock: it counts frames at the *nominal* rate (24 for 24000/1001, 30 for
30000/1001), so a 23.976 clip labelled `01:00:00:00` starts at frame 86400 whatever its real speed. Drop-frame
(`;` before the frames field) is only a display format for 30000/1001 and 60000/1001 that skips labels (not
frames) so the label stays close to the wall clock; it never changes the rate.

This module is pure arithmetic on integers and `Fraction`s and imports only the standard library (and Keydub's
error classes, which import nothing), so the engine, the editor side and the Resolve bridge, which must load under a
bare Python, share it. The editor side converts to OpenTimelineIO `RationalTime` at its own boundary.
"""

import re
from fractions import Fraction

from keydub.core.errors import InvalidParameterError


# `HH:MM:SS:FF`; the last separator is `;`, `,` or `.` for drop-frame (all three occur in the wild).
_TIMECODE_PATTERN = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;,.])(\d{2,3})$")
_DROP_FRAME_SEPARATORS = frozenset(";,.")
# Timecode is a time-of-day label: it wraps after 24 hours.
_HOURS_PER_DAY = 24
# SMPTE 12M drops 2 labels per minute at 30 fps nominal (4 at 60), except in every tenth minute.
_NOMINAL_RATE_PER_DROPPED_LABEL = 15


def nominal_rate(rate: Fraction) -> int:
    """The integer frames-per-second that timecode counts at for `rate`.

    Args:
        rate (`Fraction`): the exact frame rate, e.g. `Fraction(24000, 1001)`.

    Returns:
        `int`: `rate` itself for integer rates, `rate * 1001 / 1000` for the NTSC family (24000/1001 -> 24).

    Raises:
        `InvalidParameterError`: when timecode is not defined at `rate` (e.g. 12.5 fps or a rate that is neither
            an integer nor an NTSC rate).
    """
    rate = Fraction(rate)
    if rate > 0 and rate.denominator == 1:
        return rate.numerator
    ntsc = rate * Fraction(1001, 1000)
    if rate > 0 and ntsc.denominator == 1:
        return ntsc.numerator
    raise InvalidParameterError(
        f"timecode is not defined at {rate} fps: it needs an integer rate or an NTSC rate such as 24000/1001; "
        "conform the clip to a standard rate first"
    )


def is_drop_frame_timecode(timecode: str) -> bool:
    """Whether `timecode` is written in drop-frame notation (`;`, `,` or `.` before the frames field)."""
    return _parse(timecode)[3]


def timecode_to_frames(timecode: str, rate: Fraction, drop_frame: bool | None = None) -> int:
    """Frame number of a timecode label, counted from `00:00:00:00`.

    Args:
        timecode (`str`): `HH:MM:SS:FF`, or `HH:MM:SS;FF` for drop-frame.
        rate (`Fraction`): the exact frame rate of the media the label belongs to.
        drop_frame (`bool | None`, defaults to `None`): read the label as drop-frame; `None` takes it from the
            separator. Pass it when a tool wrote drop-frame timecode with `:` separators.

    Returns:
        `int`: the frame number; e.g. `01:00:00;00` at 30000/1001 is 107892.

    Raises:
        `InvalidParameterError`: the string is not a timecode, a field is out of range for `rate`, the label does
            not exist in drop-frame (e.g. `00:01:00;00`), or drop-frame is asked for at a rate that has none.
    """
    hours, minutes, seconds, written_drop, frames = _parse(timecode)
    is_drop = written_drop if drop_frame is None else drop_frame
    fps = nominal_rate(rate)
    if minutes > 59 or seconds > 59 or frames >= fps:
        raise InvalidParameterError(
            f"timecode {timecode!r} is out of range at {rate} fps (minutes and seconds go to 59, frames to {fps - 1})"
        )
    total_minutes = hours * 60 + minutes
    count = ((hours * 3600 + minutes * 60 + seconds) * fps) + frames
    if not is_drop:
        return count
    dropped = _dropped_per_minute(rate, timecode)
    if seconds == 0 and minutes % 10 != 0 and frames < dropped:
        raise InvalidParameterError(
            f"timecode {timecode!r} does not exist in drop-frame: frames 00-{dropped - 1:02d} are skipped at the "
            "start of every minute not divisible by ten"
        )
    return count - dropped * (total_minutes - total_minutes // 10)


def frames_to_timecode(frames: int, rate: Fraction, drop_frame: bool = False) -> str:
    """Timecode label of a frame number.

    Args:
        frames (`int`): frame number counted from `00:00:00:00`; must not be negative. Timecode is a 24-hour
            clock, so numbers past 24 hours wrap around, as they do on tape and in FFmpeg.
        rate (`Fraction`): the exact frame rate.
        drop_frame (`bool`, defaults to `False`): write drop-frame notation (`HH:MM:SS;FF`); only for rates
            whose nominal rate is a multiple of 30 with a 1001 denominator (30000/1001, 60000/1001).

    Returns:
        `str`: e.g. `frames_to_timecode(107892, Fraction(30000, 1001), drop_frame=True) == "01:00:00;00"`.

    Raises:
        `InvalidParameterError`: negative `frames`, a rate without timecode, or drop-frame at a rate without it.
    """
    if frames < 0:
        raise InvalidParameterError(f"frame number {frames} is negative; timecode starts at 00:00:00:00")
    fps = nominal_rate(rate)
    if drop_frame:
        dropped = _dropped_per_minute(rate, f"frame {frames}")
        per_ten_minutes = fps * 600 - 9 * dropped
        frames %= _HOURS_PER_DAY * 6 * per_ten_minutes
        tens, rest = divmod(frames, per_ten_minutes)
        # Re-insert the skipped labels: 9 minutes in every ten lost `dropped` labels each, the first minute none.
        skipped_in_block = dropped * ((rest - dropped) // (fps * 60 - dropped)) if rest >= dropped else 0
        frames += 9 * dropped * tens + skipped_in_block
    else:
        frames %= _HOURS_PER_DAY * 3600 * fps
    total_seconds, frame = divmod(frames, fps)
    total_minutes, second = divmod(total_seconds, 60)
    hour, minute = divmod(total_minutes, 60)
    separator = ";" if drop_frame else ":"
    width = len(str(fps - 1))
    return f"{hour:02d}:{minute:02d}:{second:02d}{separator}{frame:0{max(2, width)}d}"


def _parse(timecode: str) -> tuple[int, int, int, bool, int]:
    match = _TIMECODE_PATTERN.match(timecode.strip()) if isinstance(timecode, str) else None
    if match is None:
        raise InvalidParameterError(
            f"{timecode!r} is not a timecode; write it as HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame)"
        )
    hours, minutes, seconds, separator, frames = match.groups()
    return int(hours), int(minutes), int(seconds), separator in _DROP_FRAME_SEPARATORS, int(frames)


def _dropped_per_minute(rate: Fraction, what: str) -> int:
    fps = nominal_rate(rate)
    if Fraction(rate).denominator != 1001 or fps % 30 != 0:
        raise InvalidParameterError(
            f"drop-frame timecode ({what}) exists only at 30000/1001 and 60000/1001 fps, not at {rate} fps; "
            "use non-drop-frame (HH:MM:SS:FF)"
        )
    return fps // _NOMINAL_RATE_PER_DROPPED_LABEL

"""Timecode maths: known SMPTE values, exhaustive round trips around minute boundaries, OTIO agreement, errors."""

import subprocess
import sys
from fractions import Fraction

import opentimelineio as otio
import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.timecode import (
    frames_to_timecode,
    is_drop_frame_timecode,
    nominal_rate,
    timecode_to_frames,
)


NTSC_24 = Fraction(24000, 1001)
NTSC_30 = Fraction(30000, 1001)
NTSC_60 = Fraction(60000, 1001)

# (timecode, rate, frame number): values from SMPTE 12M arithmetic, worked by hand.
KNOWN = [
    ("01:00:00:00", NTSC_24, 86400),
    ("00:00:01:00", NTSC_24, 24),
    ("01:00:00:00", Fraction(25), 90000),
    ("10:00:00:00", Fraction(50), 1800000),
    ("01:00:00:00", NTSC_30, 108000),
    ("00:01:00;02", NTSC_30, 1800),  # the first label after the two dropped at minute 1
    ("00:00:59;29", NTSC_30, 1799),
    ("00:10:00;00", NTSC_30, 17982),  # minute 10 drops nothing: 10 * 1800 - 9 * 2
    ("01:00:00;00", NTSC_30, 107892),
    ("23:59:59;29", NTSC_30, 2589407),  # one frame before the 24-hour wrap
    ("00:01:00;04", NTSC_60, 3600),
    ("01:00:00;00", NTSC_60, 215784),
]


@pytest.mark.parametrize(("timecode", "rate", "frames"), KNOWN)
def test_known_values_both_ways(timecode: str, rate: Fraction, frames: int) -> None:
    drop_frame = ";" in timecode
    assert timecode_to_frames(timecode, rate) == frames
    assert frames_to_timecode(frames, rate, drop_frame=drop_frame) == timecode
    assert is_drop_frame_timecode(timecode) is drop_frame


@pytest.mark.parametrize(
    ("rate", "drop_frame"),
    [
        (NTSC_24, False),
        (Fraction(25), False),
        (NTSC_30, False),
        (NTSC_30, True),
        (Fraction(50), False),
        (NTSC_60, True),
    ],
)
def test_round_trip_is_a_bijection_across_minute_boundaries(rate: Fraction, drop_frame: bool) -> None:
    fps = nominal_rate(rate)
    dropped = fps // 15 if drop_frame else 0
    # The first 11 minutes (ten dropped-label minutes and the tenth-minute exception): a stride through them plus
    # every frame near each minute boundary, and frames near the 24-hour wrap.
    minute = 60 * fps - dropped
    near_minutes = {start + step for start in range(0, 12 * minute, minute) for step in range(-6, 7)}
    frames = sorted((set(range(0, 11 * 60 * fps, 11)) | near_minutes) - {-6, -5, -4, -3, -2, -1})
    frames += list(range(2_000_000, 2_000_100))
    labels = [frames_to_timecode(frame, rate, drop_frame) for frame in frames]
    assert len(set(labels)) == len(labels)
    assert [timecode_to_frames(label, rate) for label in labels] == frames
    if drop_frame:
        skipped = [label for label in labels if label[6:8] == "00" and int(label[9:]) < dropped]
        assert all(int(label[3:5]) % 10 == 0 for label in skipped)


@pytest.mark.parametrize(
    ("rate", "drop_frame", "otio_rate"),
    [
        (NTSC_24, False, 24000 / 1001),
        (Fraction(25), False, 25.0),
        (NTSC_30, True, 30000 / 1001),
        (NTSC_30, False, 30000 / 1001),
        (NTSC_60, True, 60000 / 1001),
        (Fraction(50), False, 50.0),
    ],
)
def test_agrees_with_opentimelineio(rate: Fraction, drop_frame: bool, otio_rate: float) -> None:
    # OTIO is the editor side's timecode authority; core must produce the same labels without importing it.
    for frame in range(0, 400_000, 997):
        expected = otio.opentime.to_timecode(otio.opentime.RationalTime(frame, otio_rate), otio_rate, drop_frame)
        assert frames_to_timecode(frame, rate, drop_frame) == expected


def test_timecode_wraps_after_24_hours() -> None:
    assert frames_to_timecode(24 * 3600 * 25, Fraction(25)) == "00:00:00:00"
    assert frames_to_timecode(2589408, NTSC_30, drop_frame=True) == "00:00:00;00"


def test_drop_frame_can_be_forced_for_labels_written_with_colons() -> None:
    assert timecode_to_frames("01:00:00:00", NTSC_30, drop_frame=True) == 107892
    assert timecode_to_frames("01:00:00;00", NTSC_30, drop_frame=False) == 108000


def test_other_drop_frame_separators_are_read() -> None:
    assert timecode_to_frames("01:00:00.00", NTSC_30) == 107892
    assert timecode_to_frames("01:00:00,00", NTSC_30) == 107892


@pytest.mark.parametrize(
    ("timecode", "rate", "needle"),
    [
        ("1:00:00", Fraction(25), "'1:00:00' is not a timecode"),
        ("01:00:00:00:00", Fraction(25), "is not a timecode"),
        ("aa:bb:cc:dd", Fraction(25), "'aa:bb:cc:dd' is not a timecode"),
        ("01:60:00:00", Fraction(25), "'01:60:00:00' is out of range"),
        ("01:00:00:25", Fraction(25), "frames to 24"),
        ("00:01:00;00", NTSC_30, "'00:01:00;00' does not exist in drop-frame"),
        ("00:01:00;03", NTSC_60, "does not exist in drop-frame"),
        ("01:00:00;00", Fraction(25), "exists only at 30000/1001 and 60000/1001"),
        ("01:00:00;00", NTSC_24, "exists only at 30000/1001"),
        ("01:00:00:00", Fraction(25, 2), "not defined at 25/2 fps"),
    ],
)
def test_parse_errors_name_the_bad_value(timecode: str, rate: Fraction, needle: str) -> None:
    with pytest.raises(InvalidParameterError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        timecode_to_frames(timecode, rate)


def test_frames_to_timecode_refuses_negative_frames_and_drop_frame_at_25() -> None:
    with pytest.raises(InvalidParameterError, match="-1 is negative"):
        frames_to_timecode(-1, Fraction(25))
    with pytest.raises(InvalidParameterError, match="not at 25 fps"):
        frames_to_timecode(10, Fraction(25), drop_frame=True)


def test_the_timecode_module_imports_only_the_standard_library():
    # The Resolve bridge loads under a bare Python: whatever it shares with the engine must need nothing else. What
    # the interpreter loaded at start (site's .pth hooks: an editable install's finder, setuptools' distutils hack)
    # is not the module's doing, so only what the import adds counts.
    code = (
        "import sys; before = set(sys.modules); import keydub.core.timecode; "
        "print(' '.join(sorted(m for m in set(sys.modules) - before "
        "if m.partition('.')[0] not in sys.stdlib_module_names)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert set(loaded) <= {"keydub", "keydub.core", "keydub.core.errors", "keydub.core.timecode"}
    assert "keydub.core.timecode" in loaded

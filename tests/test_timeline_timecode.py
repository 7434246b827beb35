"""Exact time at the OTIO boundary: rates from doubles, whole frames, timecode at 23.976, 25, 29.97 DF, 59.94."""

from fractions import Fraction

import opentimelineio as otio
import pytest

from keydub.core.errors import TimelineError
from keydub.plugin.timeline.timecode import exact_rate, format_rate, format_timecode, rational_time, to_frames


@pytest.mark.parametrize(
    "double, exact",
    [
        (24000 / 1001, Fraction(24000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (23.98, Fraction(24000, 1001)),
        (25.0, Fraction(25)),
        (30000 / 1001, Fraction(30000, 1001)),
        (29.97, Fraction(30000, 1001)),
        (60000 / 1001, Fraction(60000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (48000.0, Fraction(48000)),
        # No standard rate, but exactly a fraction: a web clip's rate, counted in frames (no timecode).
        (2010 / 91, Fraction(2010, 91)),
        (24.5, Fraction(49, 2)),
    ],
)
def test_rates_are_read_exactly(double, exact):
    assert exact_rate(double) == exact


# A hair off 24 beyond the tolerance, and off 23.9 beyond any fraction up to 1001: no rate a program counts in.
@pytest.mark.parametrize("double", [24.00004, 23.9000001, 0.0, -25.0, float("nan"), float("inf")])
def test_rates_that_are_not_editing_rates_are_refused(double):
    with pytest.raises(TimelineError, match="frame rate"):
        exact_rate(double)


@pytest.mark.parametrize(
    "rate, frames, timecode",
    [
        (Fraction(24000, 1001), 86400, "01:00:00:00"),
        (Fraction(24000, 1001), 864020, "10:00:00:20"),
        (Fraction(25), 90000, "01:00:00:00"),
        (Fraction(30000, 1001), 1800, "00:01:00;02"),
        (Fraction(30000, 1001), 107892, "01:00:00;00"),
        (Fraction(60000, 1001), 215784, "01:00:00;00"),
    ],
)
def test_frames_round_trip_through_otio_time_and_timecode(rate, frames, timecode):
    time = rational_time(frames, rate)
    assert to_frames(time, rate, "value") == frames
    assert format_timecode(frames, rate) == timecode


def test_values_written_at_another_rate_are_rescaled_exactly():
    # 48 kHz audio time of one 24000/1001 frame is 2002 samples.
    assert to_frames(otio.opentime.RationalTime(2002 * 100, 48000), Fraction(24000, 1001), "audio") == 100
    # A double a hair off a whole frame (what float maths leaves behind) is still that frame.
    assert to_frames(otio.opentime.RationalTime(86400.0000001, 24000 / 1001), Fraction(24000, 1001), "x") == 86400


def test_values_between_frames_are_refused_with_the_value_named():
    with pytest.raises(TimelineError) as raised:
        to_frames(otio.opentime.RationalTime(10.5, 25), Fraction(25), "source start of clip 'sh010'")
    assert str(raised.value) == (
        "source start of clip 'sh010' is 10.5000 frames at 25 fps, which is not a whole "
        "frame; Keydub needs frame-accurate edits (is the clip retimed or at another rate?)"
    )


def test_rates_are_printed_as_fractions():
    assert (format_rate(Fraction(24000, 1001)), format_rate(Fraction(25))) == ("24000/1001", "25")

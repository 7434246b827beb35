"""The dry run's cost estimate: frames and output time still to render, and their GPU time at a throughput."""

from fractions import Fraction

import pytest
from otio_fixtures import RATE, write_three_clip_timeline

from keydub.core.errors import InvalidParameterError
from keydub.plugin.cli.main import main
from keydub.plugin.cluster.estimate import DEFAULT_THROUGHPUT_S_PER_S, estimate_cost, format_duration


def test_the_estimate_sums_each_job_at_its_own_rate_exactly():
    estimate = estimate_cost([(48, Fraction(24000, 1001)), (50, Fraction(25))], throughput=0.8)

    assert estimate.frames == 98
    assert estimate.output_seconds == Fraction(48 * 1001, 24000) + 2
    assert estimate.gpu_seconds == estimate.output_seconds * Fraction(4, 5), "0.8 as typed, not as a binary float"
    assert estimate_cost([(25, Fraction(25))]).gpu_seconds == DEFAULT_THROUGHPUT_S_PER_S == 1
    with pytest.raises(InvalidParameterError, match="--throughput 0.0 must be a positive number"):
        estimate_cost([], throughput=0.0)


@pytest.mark.parametrize(("seconds", "text"), [(Fraction(21, 5), "4.2 s"), (Fraction(185), "3 min 05 s"),
                                               (Fraction(3725), "1 h 02 min 05 s")])
def test_durations_read_as_people_write_them(seconds, text):
    assert format_duration(seconds) == text


def test_a_dry_run_prints_the_frames_to_render_and_their_gpu_time(tmp_path, capsys):
    fixture = write_three_clip_timeline(tmp_path)

    assert main(["timeline", str(fixture.path), "--dub-track", "DX es-419", "--dry-run", "--executor", "ray",
                 "--throughput", "2.5"]) == 0

    lines = capsys.readouterr().out.splitlines()
    # 20 + 16 + 18 frames and 12 frames of handles each side (clamped by nothing here): 126 frames at 23.976.
    frames = 20 + 16 + 18 + 3 * 2 * 12
    seconds = Fraction(frames) / RATE
    assert lines[-4:-1] == [
        f"To render: {frames} frames, {float(seconds):.1f} s of output.",
        f"Estimated GPU time: {float(seconds * Fraction(5, 2)):.1f} s at 2.50 s of GPU per output second; divide by "
        "the number of GPUs for a farm's wall clock.", ""]
    assert not (tmp_path / "three_keydub").exists(), "a dry run needs no cluster and writes nothing"


def test_the_default_throughput_says_it_is_a_target_not_a_measurement(tmp_path, capsys):
    fixture = write_three_clip_timeline(tmp_path)

    assert main(["timeline", str(fixture.path), "--dub-track", "DX es-419", "--dry-run"]) == 0

    estimate = capsys.readouterr().out.splitlines()[-3]
    assert estimate.startswith("Estimated GPU time: 5.3 s at 1.00 s of GPU per output second (the H100/H200 "
                               "target, not a measurement: pass yours with --throughput)")

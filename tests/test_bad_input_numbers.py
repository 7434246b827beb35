"""Class 5 of the bad-input issue: numbers at their extremes are refused where the option is parsed, with the
allowed range in the message; a dub offset of days costs no memory."""

import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip

from keydub.core.media.audio import iter_audio, load_audio
from keydub.core.render.options import option_from_text
from keydub.plugin.cli import _numbers as numbers


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    write_wav(tmp_path / "dub.wav")
    return tmp_path


def _render(w: Path, *extra: str) -> list[str]:
    return ["render", w / "clip.mkv", "--audio", w / "dub.wav", "-o", w / "out.mov", *extra]


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (lambda w: _render(w, "--seed", str(2**64)), ["--seed", "allowed 0 to 18446744073709551615"]),
        (lambda w: _render(w, "--seed", "-1"), ["--seed", "out of range"]),
        (lambda w: _render(w, "--seed", "9" * 5000), ["--seed", "expected a whole number"]),
        (lambda w: _render(w, "--steps", "100000000"), ["--steps", "allowed 10 to 1000"]),
        (lambda w: _render(w, "--steps", "0"), ["--steps", "allowed 10 to 1000"]),
        (lambda w: _render(w, "--audio-guidance", "nan"), ["--audio-guidance", "allowed -100 to 100"]),
        (lambda w: _render(w, "--ref-guidance", "inf"), ["--ref-guidance", "out of range"]),
        (lambda w: _render(w, "--ref-guidance", "1e308"), ["--ref-guidance", "out of range"]),
        (lambda w: _render(w, "--handles", "1000000000"), ["--handles", "allowed 0 to 100000"]),
        (lambda w: _render(w, "--handles", "-3"), ["--handles", "out of range"]),
        (lambda w: _render(w, "--audio-offset", "1/0"), ["--audio-offset", "divides by zero"]),
        (lambda w: _render(w, "--audio-offset", "nan"), ["--audio-offset", "NaN and infinity are not offsets"]),
        (lambda w: _render(w, "--audio-offset=-inf"), ["--audio-offset", "expected seconds"]),
        (lambda w: _render(w, "--audio-offset", "2000000"), ["--audio-offset", "allowed -86400 to 86400 seconds"]),
        (lambda w: _render(w, "--audio-offset", "1e400"), ["--audio-offset", "out of range"]),
        (lambda w: ["timeline", w / "clip.mkv", "--audio-rate", "0"], ["--audio-rate", "allowed 8000 to 384000"]),
        (lambda w: ["timeline", w / "clip.mkv", "--handles", "99999999999"], ["--handles", "out of range"]),
    ],
)
def test_extreme_numbers_are_refused_with_the_allowed_range(workspace, capsys, argv, needles):
    before = snapshot(workspace)
    outcome = run_cli(argv(workspace), capsys)
    assert_refused(outcome, workspace, before, *needles, code=2)


def test_the_parsers_keep_what_is_in_range():
    assert option_from_text("seed", str(2**64 - 1)) == 2**64 - 1
    assert numbers.seconds_offset("-1/25") == Fraction(-1, 25)
    assert numbers.seconds_offset("0.04") == Fraction(1, 25)
    assert option_from_text("audio_guidance", "5") == 5.0 and option_from_text("steps", "10") == 10
    assert numbers.frame_count("0") == 0


def test_a_dub_offset_of_days_costs_no_memory(tmp_path):
    dub = write_wav(tmp_path / "dub.wav", seconds=1.0)
    days = Fraction(20 * 24 * 3600)
    tracemalloc.start()
    try:
        # The render asks for the window under its frames: two seconds, twenty days after the dub's clock starts.
        samples = load_audio(dub, 16000, start=-days, duration=Fraction(2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples.shape == (32000,) and not samples.any()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB for two seconds of silence"


def test_leading_silence_streams_in_blocks_of_at_most_a_second(tmp_path):
    dub = write_wav(tmp_path / "dub.wav", seconds=0.5)
    blocks = iter_audio(dub, sample_rate=16000, start=Fraction(-3600))
    first = [next(blocks) for _ in range(5)]
    assert all(block.shape == (1, 16000) and not block.any() for block in first)
    blocks.close()
    assert np.isfinite(first[0]).all()

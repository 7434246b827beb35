"""Class 7 of the bad-input issue: hostile documents.

A deeply nested OTIO document used to kill the interpreter inside OTIO's C++ reader; it is now refused in one line
before that reader sees it (checked in a subprocess, where a segfault would show as a signal). Clips with
negative or non-finite ranges are reported by name and reason, not skipped as "no dialogue"; a zero-length clip
is skipped on its own, with its reason.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest
from bad_input import assert_refused, run_cli, run_cli_process, snapshot
from otio_fixtures import (
    TONES,
    audio_clip,
    audio_track,
    resolve_timeline,
    video_clip,
    video_track,
    write_sources,
    write_tone_wav,
)

from keydub.plugin.timeline.otio_file import MAX_NESTING_DEPTH, json_nesting_depth


def _nested(depth: int) -> str:
    return '{"OTIO_SCHEMA": "Timeline.1", "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def test_a_deeply_nested_timeline_is_refused_in_one_line_not_a_segfault(tmp_path):
    path = tmp_path / "deep.otio"
    path.write_text(_nested(200_000))
    before = snapshot(tmp_path)
    outcome = run_cli_process(["timeline", path, "--dub-track", "DX", "--dry-run"])
    assert outcome.code == 1, outcome  # a segfault would be -11
    assert_refused(
        outcome, tmp_path, before, "deep.otio nests 200001 levels deep", f"more than the {MAX_NESTING_DEPTH}"
    )


def test_the_same_document_crashes_the_otio_reader_itself(tmp_path):
    """Why the depth is measured first: OTIO's reader, given the file, dies with SIGSEGV."""
    path = tmp_path / "deep.otio"
    path.write_text(_nested(200_000))
    script = f"import opentimelineio as otio; otio.adapters.read_from_file({str(path)!r}, adapter_name='otio_json')"
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert process.returncode < 0 or process.returncode >= 128


@pytest.mark.parametrize(
    ("write", "needle"),
    [
        (
            lambda path: path.write_text("[" * (MAX_NESTING_DEPTH + 1) + "]" * (MAX_NESTING_DEPTH + 1)),
            f"nests {MAX_NESTING_DEPTH + 1} levels deep",
        ),
        (lambda path: path.write_bytes(b'{"name": "\xff\xfe broken"}'), "is not a text file (byte 10 is not UTF-8)"),
        (lambda path: path.mkdir(), "is a folder, not a file"),
        (lambda path: os.mkfifo(path), "is a FIFO (named pipe), not a file"),
        (
            lambda path: path.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": '),
            "is not a valid OpenTimelineIO file",
        ),
    ],
)
def test_hostile_timeline_files_are_refused_by_what_they_are(tmp_path, capsys, write, needle):
    path = tmp_path / "episode.otio"
    write(path)
    before = snapshot(tmp_path)
    outcome = run_cli(["timeline", path, "--dub-track", "DX", "--dry-run"], capsys)
    assert_refused(outcome, tmp_path, before, needle)


def test_depth_ignores_brackets_inside_strings():
    assert json_nesting_depth(b'{"a": "[[[{{{", "b": [[1]], "c": "\\"[["}') == 3
    assert json_nesting_depth(b"[]") == 1 and json_nesting_depth(b"1") == 0


def _timeline_with(folder: Path, clips: list[otio.schema.Clip], dub: list[otio.schema.Clip] | None = None) -> Path:
    wav = folder / "line.wav"
    write_tone_wav(wav, TONES["es_line1"])
    dub_clips = dub if dub is not None else [audio_clip("line", wav, 0, 40)]
    timeline = resolve_timeline("nonsense", [video_track("Video 1", clips), audio_track("DX es", dub_clips)])
    path = folder / "nonsense.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


@pytest.mark.parametrize(
    ("durations", "needles"),
    [
        ((-5,), ["Video 1 clip 'sh010'", "negative duration (-5 frames"]),
        ((12, -1, -2), ["2 clip(s) have ranges no edit can have", "'sh020'", "'sh030'"]),
    ],
)
def test_clips_with_nonsense_ranges_are_named_with_the_reason(tmp_path, capsys, durations, needles):
    media = write_sources(tmp_path / "media")
    source = next(iter(media.values()))
    clips = [video_clip(f"sh0{index + 1}0", source, 10, duration, 0) for index, duration in enumerate(durations)]
    path = _timeline_with(tmp_path, clips)
    before = snapshot(tmp_path)
    outcome = run_cli(["timeline", path, "--dub-track", "DX es", "--dry-run"], capsys)
    assert_refused(outcome, tmp_path, before, *needles)
    assert "no dialogue" not in outcome.stderr


def test_a_zero_length_clip_is_skipped_and_the_others_still_planned(tmp_path, capsys):
    media = write_sources(tmp_path / "media")
    source = next(iter(media.values()))
    clips = [video_clip("sh010", source, 10, 12, 0), video_clip("sh020", source, 30, 0, 0)]
    path = _timeline_with(tmp_path, clips)
    outcome = run_cli(["timeline", path, "--dub-track", "DX es", "--dry-run", "--json"], capsys)
    assert outcome.code == 0, outcome
    rows = {row["name"]: row for row in json.loads(outcome.stdout)["clips"]}
    assert rows["sh010"]["state"] == "pending" and rows["sh010"]["source_frames"] == [0, 34]
    assert rows["sh020"]["state"] == "skipped"
    assert rows["sh020"]["message"] == "its source range is zero frames long (nothing on it to render)"


def test_a_dub_clip_with_a_nonsense_rate_is_named(tmp_path, capsys):
    media = write_sources(tmp_path / "media")
    source = next(iter(media.values()))
    write_tone_wav(tmp_path / "line.wav", TONES["es_line1"])
    bad = audio_clip("line_bad_rate", tmp_path / "line.wav", 0, 40)
    bad.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(40, -24))
    path = _timeline_with(tmp_path, [video_clip("sh010", source, 10, 12, 0)], dub=[bad])
    before = snapshot(tmp_path)
    outcome = run_cli(["timeline", path, "--dub-track", "DX es", "--dry-run"], capsys)
    assert_refused(outcome, tmp_path, before, "DX es clip 'line_bad_rate'", "rate of -24 fps")


def test_a_clip_whose_media_is_a_folder_is_called_one(tmp_path, capsys):
    (tmp_path / "media" / "A001.mov").mkdir(parents=True)
    write_sources(tmp_path / "sources")
    path = _timeline_with(tmp_path, [video_clip("sh010", tmp_path / "media" / "A001.mov", 10, 12, 0)])
    outcome = run_cli(["timeline", path, "--dub-track", "DX es", "--dry-run"], capsys)
    assert "is a folder, not a movie file; relink the clip to its file" in outcome.stdout + outcome.stderr
    assert "offline" not in outcome.stdout

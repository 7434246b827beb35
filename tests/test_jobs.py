"""ClipJob: JSON round trip, what the content hash covers and what it ignores, render option checks."""

import dataclasses
import json
import os
from fractions import Fraction
from pathlib import Path

import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.render import FaceChoice, RenderRequest
from keydub.core.render.options import RenderOptions
from keydub.plugin.jobs import AudioPiece, ClipJob, SourceFile


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "A001.mov"
    path.write_bytes(b"\0" * 1000)
    return path


@pytest.fixture
def job(source: Path, tmp_path: Path) -> ClipJob:
    return ClipJob(
        job_id="DX es-419/Video 1@01:00:00:00",
        name="sh010",
        source=SourceFile.of(source),
        frame_rate=Fraction(24000, 1001),
        start_frame=8,
        end_frame=62,
        timecode_start=864008,
        audio_pieces=(
            AudioPiece(
                path=tmp_path / "line.wav",
                file_start=Fraction(1001, 2000),
                duration=Fraction(17017, 12000),
                offset=Fraction(3003, 4000),
                label="DX: line",
            ),
        ),
        audio_file=tmp_path / "audio" / "abc.wav",
        audio_sha256="ab" * 32,
        audio_sample_rate=16000,
        face=FaceChoice(point=(10.5, 20.0), frame=3),
        occluders=({"frame": 4, "points": [[1, 2]], "labels": [1]},),
        options={"steps": 10, "codec": "ffv1", "device": "cpu"},
    )


def test_job_round_trips_through_json_exactly(job):
    again = ClipJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job
    assert again.audio_pieces[0].file_start == Fraction(1001, 2000)
    assert again.content_hash() == job.content_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"face": FaceChoice(point=(11.0, 20.0), frame=3)},
        {"occluders": ()},
        {"options": {"steps": 12, "codec": "ffv1", "device": "cpu"}},
        {"options": {"steps": 10, "codec": "prores", "device": "cpu"}},
        {"start_frame": 9},
        {"end_frame": 63},
        {"timecode_start": 864009},
        {"audio_sha256": "cd" * 32},
        {"audio_sample_rate": 48000},
        {"frame_rate": Fraction(24)},
    ],
)
def test_hash_changes_with_everything_that_changes_the_output(job, change):
    assert dataclasses.replace(job, **change).content_hash() != job.content_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"job_id": "another"},
        {"name": "renamed"},
        {"options": {"steps": 10, "codec": "ffv1", "device": "cuda:1"}},
        {"audio_file": Path("/elsewhere/abc.wav")},
        {"audio_pieces": ()},
    ],
)
def test_hash_ignores_what_does_not_change_the_output(job, change):
    assert dataclasses.replace(job, **change).content_hash() == job.content_hash()


def test_hash_changes_when_the_source_file_changes(job, source):
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))
    assert dataclasses.replace(job, source=SourceFile.of(source)).content_hash() != job.content_hash()


def test_output_name_is_safe_and_names_the_container(job):
    renamed = dataclasses.replace(job, name="sh 010/../é:take")
    name = renamed.output_name()
    assert name == f"sh_010_.._take_{job.content_hash()[:12]}.mkv"
    assert dataclasses.replace(job, options={"codec": "prores"}).output_name().endswith(".mov")


def test_render_request_carries_the_job(job, tmp_path):
    request = job.render_request(tmp_path / "out.mkv")
    assert request == RenderRequest(
        video=job.source.path,
        audio=job.audio_file,
        output=tmp_path / "out.mkv",
        start_frame=8,
        end_frame=62,
        face=job.face,
        occluders=job.occluders,
        options=RenderOptions(steps=10, codec="ffv1", device="cpu"),
    )


def test_a_job_refuses_an_empty_frame_range(job):
    with pytest.raises(InvalidParameterError, match=r"frame range \[8, 8\) is empty"):
        dataclasses.replace(job, end_frame=8)

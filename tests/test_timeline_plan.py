"""Planning a Resolve-shaped dubbing timeline: jobs, handles, skip reasons and sample-exact dub audio."""

import json
import math
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from otio_fixtures import MODEL_SAMPLE_RATE, RATE, SOURCE_STARTS, START, write_dubbing_timeline

from keydub.core.errors import InvalidParameterError, TimelineError
from keydub.core.render.options import RenderOptions
from keydub.plugin.jobs import ClipJob
from keydub.plugin.timeline.audio import assemble_audio, audio_digest
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline


FRAME = Fraction(1, 1) / RATE  # seconds per frame at 24000/1001


@pytest.fixture(scope="module")
def dubbing(tmp_path_factory: pytest.TempPathFactory):
    return write_dubbing_timeline(tmp_path_factory.mktemp("dubbing"))


@pytest.fixture(scope="module")
def plan(dubbing):
    timeline = read_timeline(dubbing.path)
    cache = dubbing.path.parent / "renders" / ".keydub" / "audio"
    return plan_timeline(timeline, dubbing.path.parent, cache, PlanOptions(dub_tracks=("DX es-419",)))


def test_plan_lists_every_picture_clip_with_its_job_or_skip_reason(plan):
    summary = [
        (clip.name, clip.clip_id, clip.record_start, clip.duration, clip.job is not None) for clip in plan.clips
    ]
    assert summary == [
        ("sh010", "Video 1@01:00:00:00", START, 30, True),
        ("sh020", "Video 1@01:00:01:06", START + 30, 24, True),
        ("sh030_off", "Video 1@01:00:02:16", START + 64, 12, False),
        ("sh040_missing", "Video 1@01:00:03:04", START + 76, 12, False),
        ("sh050_retimed", "Video 1@01:00:03:16", START + 88, 12, False),
        ("sh060_wide", "Video 1@01:00:04:04", START + 100, 30, False),
        ("sh070_fr", "Video 1@01:00:05:10", START + 130, 24, True),
    ]
    reasons = {clip.name: clip.skip_reason for clip in plan.clips if clip.job is None}
    assert reasons["sh030_off"] == "disabled in the timeline"
    assert reasons["sh040_missing"].startswith("media offline:") and "A004.mov not found" in reasons["sh040_missing"]
    assert reasons["sh050_retimed"].startswith("retimed (speed x2)")
    assert reasons["sh060_wide"] == "no dialogue under the clip on DX es-419"
    assert plan.dub_label == "DX es-419" and plan.rate == RATE


def test_jobs_cover_the_source_range_plus_handles_in_file_frames(plan, dubbing):
    jobs = {job.name: job for job in plan.jobs}
    # sh010: A001 +20 for 30 frames; 12-frame handles fit in the media (20 before, 46 after).
    assert (jobs["sh010"].start_frame, jobs["sh010"].end_frame) == (8, 62)
    assert jobs["sh010"].timecode_start == SOURCE_STARTS["A001"] + 8
    assert (jobs["sh020"].start_frame, jobs["sh020"].end_frame) == (18, 66)
    # sh070: A002 +60 for 24 frames ends exactly 12 frames before the end of the 96-frame media.
    assert (jobs["sh070_fr"].start_frame, jobs["sh070_fr"].end_frame) == (48, 96)
    assert all(job.frame_rate == RATE for job in jobs.values())
    assert jobs["sh010"].source.path == dubbing.sources["A001"]
    assert jobs["sh070_fr"].face.point == (32.0, 20.0) and jobs["sh070_fr"].face.frame == 70
    assert jobs["sh010"].job_id == "DX es-419/Video 1@01:00:00:00"


def test_audio_pieces_follow_the_timeline_across_j_and_l_cuts(plan, dubbing):
    pieces = {job.name: [(p.path, p.file_start, p.offset, p.duration) for p in job.audio_pieces] for job in plan.jobs}
    lines = dubbing.lines
    # sh010 window = record -12..42: es_line1 (record 6-40, from WAV frame 12) starts 18 frames into the window.
    assert pieces["sh010"] == [(lines["es_line1"], 12 * FRAME, 18 * FRAME, 34 * FRAME)]
    # sh020 window = record 18..66: the L cut's tail of es_line1, then the J cut's es_line2.
    assert pieces["sh020"] == [
        (lines["es_line1"], 24 * FRAME, 0 * FRAME, 22 * FRAME),
        (lines["es_line2"], 0 * FRAME, 26 * FRAME, 16 * FRAME),
    ]
    # sh070 takes its audio from "DX fr-FR" (clip metadata), not from es_line3 under it on the batch's track.
    assert pieces["sh070_fr"] == [(lines["fr_line1"], 24 * FRAME, 10 * FRAME, 26 * FRAME)]


def _sample(frames: int) -> int:
    """Sample index of a frame boundary at 16 kHz, rounded half up (independent of the implementation)."""
    return math.floor(Fraction(frames) * FRAME * MODEL_SAMPLE_RATE + Fraction(1, 2))


def _expected_buffer(total_frames: int, placements: list[tuple[np.ndarray, int, int, int]]) -> np.ndarray:
    """Silence with `(samples, file_frame, offset_frame, frames)` tone pieces copied in."""
    buffer = np.zeros(_sample(total_frames), dtype=np.float32)
    for samples, file_frame, offset, frames in placements:
        first, last = _sample(offset), _sample(offset + frames)
        file_first = round(Fraction(file_frame) * FRAME * MODEL_SAMPLE_RATE)
        buffer[first:last] = samples[file_first : file_first + last - first]
    return buffer


def test_dub_audio_is_assembled_sample_exactly_and_cached_by_content(plan, dubbing):
    tones = dubbing.samples
    expected = {
        "sh010": _expected_buffer(54, [(tones["es_line1"], 12, 18, 34)]),
        "sh020": _expected_buffer(48, [(tones["es_line1"], 24, 0, 22), (tones["es_line2"], 0, 26, 16)]),
        "sh070_fr": _expected_buffer(48, [(tones["fr_line1"], 24, 10, 26)]),
    }
    for job in plan.jobs:
        buffer = assemble_audio(job.audio_pieces, Fraction(job.frame_count) * FRAME, MODEL_SAMPLE_RATE)
        np.testing.assert_array_equal(buffer, expected[job.name])
        assert job.audio_sha256 == audio_digest(buffer, MODEL_SAMPLE_RATE)
        assert job.audio_file.name == f"{job.audio_sha256}.wav"
        with wave.open(str(job.audio_file)) as stored:
            assert (stored.getframerate(), stored.getnchannels(), stored.getnframes()) == (
                MODEL_SAMPLE_RATE,
                1,
                buffer.size,
            )
            cached = np.frombuffer(stored.readframes(buffer.size), dtype="<i4") / (2**31 - 1)
        np.testing.assert_allclose(cached, buffer, atol=1e-9)
    # The boundaries really are where the tones change: sh020 holds 220 Hz, then silence, then 330 Hz.
    sh020 = expected["sh020"]
    assert np.abs(sh020[_sample(22) - 50 : _sample(22)]).max() > 0.1
    assert not sh020[_sample(22) : _sample(26)].any()
    assert np.abs(sh020[_sample(26) : _sample(26) + 50]).max() > 0.05


def test_planning_leaves_the_timeline_unchanged(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    before = otio.adapters.write_to_string(timeline)
    plan_timeline(timeline, dubbing.path.parent, tmp_path / "audio", PlanOptions(dub_language="es-419"))
    assert otio.adapters.write_to_string(timeline) == before


def test_handles_are_clamped_to_the_media(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    plan = plan_timeline(
        timeline, dubbing.path.parent, tmp_path, PlanOptions(dub_tracks=("DX es-419",), handles=30), write_audio=False
    )
    granted = {clip.name: (clip.head, clip.tail) for clip in plan.clips if clip.job is not None}
    # sh010 starts 20 frames into its media; sh070 ends 12 frames before the end of its media.
    assert granted == {"sh010": (20, 30), "sh020": (30, 30), "sh070_fr": (30, 12)}
    assert not list(tmp_path.iterdir()), "a plan without write_audio writes nothing"


def test_dissolves_widen_the_handles_they_need(dubbing, tmp_path):
    plan = plan_timeline(
        read_timeline(dubbing.path),
        dubbing.path.parent,
        tmp_path,
        PlanOptions(dub_tracks=("DX es-419",), handles=0),
        write_audio=False,
    )
    granted = {clip.name: (clip.head, clip.tail) for clip in plan.clips if clip.job is not None}
    # The 4+4 frame dissolve between sh010 and sh020 shows 4 frames of media past each cut.
    assert granted == {"sh010": (0, 4), "sh020": (4, 0), "sh070_fr": (0, 0)}


@pytest.mark.parametrize(
    "options, expected_label",
    [
        (PlanOptions(dub_tracks=("DX es-419",)), "DX es-419"),
        (PlanOptions(dub_language="es-419"), "DX es-419"),
        (PlanOptions(dub_language="FR-fr"), "DX fr-FR"),
        (PlanOptions(dub_tracks=("DX es-419", "DX fr-FR")), "DX es-419 + DX fr-FR"),
    ],
)
def test_dub_tracks_are_chosen_by_name_or_language(dubbing, tmp_path, options, expected_label):
    plan = plan_timeline(read_timeline(dubbing.path), dubbing.path.parent, tmp_path, options, write_audio=False)
    assert plan.dub_label == expected_label


def test_only_keeps_the_named_clips_and_rejects_unknown_names(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    plan = plan_timeline(
        timeline,
        dubbing.path.parent,
        tmp_path,
        PlanOptions(dub_language="es-419", only=("sh020", "Video 1@01:00:05:10")),
        write_audio=False,
    )
    assert [clip.name for clip in plan.clips] == ["sh020", "sh070_fr"]
    with pytest.raises(InvalidParameterError, match=r"no picture clip is named 'sh999'; clips: .*'sh010'"):
        plan_timeline(
            timeline,
            dubbing.path.parent,
            tmp_path,
            PlanOptions(dub_language="es-419", only=("sh999",)),
            write_audio=False,
        )


def test_without_a_dub_choice_the_tracks_marked_as_dub_are_summed(dubbing, tmp_path):
    plan = plan_timeline(read_timeline(dubbing.path), dubbing.path.parent, tmp_path, write_audio=False)
    assert plan.dub_label == "DX es-419 + DX fr-FR"
    # sh060_wide now has fr_line1 (record 128-154) under its last two frames.
    sh060 = next(clip for clip in plan.clips if clip.name == "sh060_wide")
    assert sh060.job is not None
    assert [piece.label for piece in sh060.job.audio_pieces] == ["DX es-419: es_line3", "DX fr-FR: fr_line1"]


def test_bad_clip_settings_skip_only_that_clip(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    timeline.tracks[0][0].metadata["keydub"] = {"params": {"steps": 0}}
    timeline.tracks[0][2].metadata["keydub"] = {"enabled": False}
    plan = plan_timeline(
        timeline, dubbing.path.parent, tmp_path, PlanOptions(dub_language="es-419"), write_audio=False
    )
    reasons = {clip.name: clip.skip_reason for clip in plan.clips}
    assert reasons["sh010"] == (
        "invalid Keydub settings: clip 'sh010': metadata keydub.params: steps must be a whole "
        "number from 10 to 1000, not 0"
    )
    assert reasons["sh020"] == "turned off in its Keydub settings (metadata keydub.enabled is false)"
    assert reasons["sh070_fr"] is None


def test_per_clip_params_override_the_batch_options(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    timeline.tracks[0][0].metadata["keydub"] = {"params": {"seed": 7}, "id": "shot-uuid-1"}
    options = PlanOptions(dub_language="es-419", render_options={"seed": 1, "steps": 12})
    plan = plan_timeline(timeline, dubbing.path.parent, tmp_path, options, write_audio=False)
    jobs = {job.name: job for job in plan.jobs}
    assert jobs["sh010"].options == RenderOptions(seed=7, steps=12)
    assert jobs["sh010"].job_id == "DX es-419/shot-uuid-1"
    assert jobs["sh020"].options == RenderOptions(seed=1, steps=12)


def test_nested_stacks_and_generators_are_skipped_with_a_reason(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    picture = timeline.tracks[0]
    title = otio.schema.Clip(
        name="title",
        media_reference=otio.schema.GeneratorReference(generator_kind="Text"),
        source_range=picture[3].source_range,
    )
    picture[3] = title  # the gap becomes a title card
    compound = otio.schema.Stack(name="compound", source_range=picture[8].source_range)
    picture.append(compound)
    plan = plan_timeline(
        timeline, dubbing.path.parent, tmp_path, PlanOptions(dub_language="es-419"), write_audio=False
    )
    reasons = {clip.name: clip.skip_reason for clip in plan.clips}
    assert reasons["title"] == (
        "a generator (Text): a title, solid or other generated picture has no camera picture to dub"
    )
    assert reasons["compound"].startswith("a nested timeline (compound clip) is not supported")


def _plain_timeline(folder: Path, sources: dict[str, Path], line: Path) -> Path:
    """A non-Resolve OTIO: 0-based media ranges, file:// and relative paths, no start time, plain Clip."""
    rate = float(RATE)
    clip = otio.schema.Clip(
        name="plain",
        media_reference=otio.schema.ExternalReference(
            target_url=sources["A002"].as_uri(),
            available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(96, rate)
            ),
        ),
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(30, rate), otio.opentime.RationalTime(24, rate)
        ),
    )
    audio = otio.schema.Clip(
        name="line",
        media_reference=otio.schema.ExternalReference(target_url=f"media/{line.name}"),
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(40, rate)
        ),
    )
    timeline = otio.schema.Timeline(name="plain")
    timeline.tracks.append(otio.schema.Track(name="", kind=otio.schema.TrackKind.Video, children=[clip]))
    timeline.tracks.append(otio.schema.Track(name="dub", kind=otio.schema.TrackKind.Audio, children=[audio]))
    path = folder / "plain.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_plain_otio_with_zero_based_ranges_and_urls(dubbing, tmp_path):
    path = _plain_timeline(dubbing.path.parent, dubbing.sources, dubbing.lines["es_line2"])
    plan = plan_timeline(
        read_timeline(path), path.parent, tmp_path, PlanOptions(dub_tracks=("dub",)), write_audio=False
    )
    (clip,) = plan.clips
    assert clip.clip_id == "V1@00:00:00:00" and clip.record_start == 0
    job = clip.job
    assert (job.start_frame, job.end_frame) == (18, 66)
    # The file's own timecode (11:00:00:00) is what the render carries.
    assert job.timecode_start == SOURCE_STARTS["A002"] + 18
    assert [(p.path, p.offset, p.duration) for p in job.audio_pieces] == [
        (dubbing.lines["es_line2"], 12 * FRAME, 36 * FRAME)
    ]


def test_a_clip_placed_at_the_wrong_timecode_is_refused(dubbing, tmp_path):
    timeline = read_timeline(dubbing.path)
    reference = timeline.tracks[0][0].media_reference
    reference.available_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime(5000, float(RATE)), reference.available_range.duration
    )
    plan = plan_timeline(
        timeline, dubbing.path.parent, tmp_path, PlanOptions(dub_language="es-419"), write_audio=False
    )
    assert plan.clips[0].skip_reason == (
        "the timeline places the media at 00:03:28:08 but the file starts at "
        "10:00:00:00; relink the clip to the right file"
    )


def test_unknown_dub_track_lists_the_audio_tracks(dubbing, tmp_path):
    with pytest.raises(TimelineError) as raised:
        plan_timeline(
            read_timeline(dubbing.path),
            dubbing.path.parent,
            tmp_path,
            PlanOptions(dub_tracks=("DX de-DE",)),
            write_audio=False,
        )
    assert str(raised.value) == (
        "the timeline has no audio track named 'DX de-DE'; audio tracks: 'Audio 1', 'DX es-419', 'DX fr-FR'"
    )


def test_unknown_picture_track_lists_the_video_tracks(dubbing, tmp_path):
    with pytest.raises(TimelineError, match=r"no video track named 'V9'; video tracks: 'Video 1'$"):
        plan_timeline(
            read_timeline(dubbing.path),
            dubbing.path.parent,
            tmp_path,
            PlanOptions(picture_tracks=("V9",), dub_language="es-419"),
            write_audio=False,
        )


def test_a_plan_round_trips_its_jobs_through_json(plan):
    for job in plan.jobs:
        again = ClipJob.from_dict(json.loads(json.dumps(job.to_dict())))
        assert again == job and again.content_hash() == job.content_hash()


@pytest.mark.parametrize(
    "start, expected_file_start, expected_offset",
    [
        ("1001/1000", 24 * FRAME - 12 * FRAME, 0 * FRAME),  # the clip's first frame hears 1.001 s of the file
        (0, 0 * FRAME, 12 * FRAME),  # the head handle lies before the file's first sample: silence there
    ],
)
def test_a_clip_can_take_its_dub_from_a_file(dubbing, tmp_path, start, expected_file_start, expected_offset):
    timeline = read_timeline(dubbing.path)
    # A relative path is taken from the timeline file's folder.
    timeline.tracks[0][8].metadata["keydub"] = {"audio": {"file": "media/fr_line1.wav", "start": start}}
    plan = plan_timeline(
        timeline, dubbing.path.parent, tmp_path, PlanOptions(dub_language="es-419"), write_audio=False
    )
    job = next(clip.job for clip in plan.clips if clip.name == "sh070_fr")
    (piece,) = job.audio_pieces
    assert (piece.path, piece.file_start, piece.offset) == (
        dubbing.lines["fr_line1"],
        expected_file_start,
        expected_offset,
    )
    assert piece.offset + piece.duration == 48 * FRAME and piece.label == "file: fr_line1.wav"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"enabled": "no"}, "metadata keydub.enabled must be true or false, not 'no'"),
        (
            {"colour": "red"},
            "metadata keydub has unknown key(s) colour; known: audio, enabled, face, id, occluders, params",
        ),
        ({"face": {"point": [1, "x"]}}, "metadata keydub.face.point must be [x, y] in source pixels, not [1, 'x']"),
        ({"face": {"frame": -1}}, "metadata keydub.face.frame must be a whole number >= 0, not -1"),
        ({"audio": {"track": 3}}, 'metadata keydub.audio must be {"track": NAME}'),
        ({"audio": {"file": "x.wav", "start": "-1"}}, "metadata keydub.audio.start must be seconds >= 0"),
        ({"params": {"device": "cpu"}}, "metadata keydub.params may only set audio_guidance, feather, identity,"),
        ({"occluders": {"frame": 1}}, "metadata keydub.occluders must be a list of prompt objects"),
    ],
)
def test_clip_settings_are_checked_with_the_key_named(dubbing, tmp_path, settings, message):
    timeline = read_timeline(dubbing.path)
    timeline.tracks[0][0].metadata["keydub"] = settings
    plan = plan_timeline(
        timeline, dubbing.path.parent, tmp_path, PlanOptions(dub_language="es-419"), write_audio=False
    )
    assert plan.clips[0].job is None
    assert plan.clips[0].skip_reason.startswith(f"invalid Keydub settings: clip 'sh010': {message}")

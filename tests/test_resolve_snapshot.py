"""`snapshot`: a Resolve timeline as the Resolve-shaped OTIO the planner takes as is, every answer checked."""

import json
import shutil
from fractions import Fraction

import opentimelineio as otio
import pytest
from fake_resolve import library, three_clip_project, use_fake_resolve
from otio_fixtures import RATE, START, write_three_clip_timeline

from keydub.plugin.cli.main import main
from keydub.plugin.resolve import ResolveCallError, ResolveUnavailableError, snapshot
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline
from keydub.plugin.timeline.timecode import to_frames


DURATIONS = (20, 16, 18)
OPTIONS = PlanOptions(dub_tracks=("DX es-419",), handles=12)


@pytest.fixture
def studio(tmp_path, monkeypatch, resolve_profile):
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS, profile=resolve_profile)
    use_fake_resolve(monkeypatch, fake.resolve)
    return fixture, fake


def test_a_24000_1001_timeline_at_01_00_00_00_plans_exactly_as_its_otio_export(studio, tmp_path):
    fixture, _ = studio
    picture = snapshot()
    exported = read_timeline(fixture.path)

    assert picture.global_start_time == otio.opentime.RationalTime(START, float(RATE))
    assert picture.metadata["Resolve_OTIO"] == {"Resolve OTIO Meta Version": "1.0"}
    assert [track.name for track in picture.tracks] == ["Video 1", "Audio 1", "DX es-419"]
    ours, theirs = (list(timeline.tracks[0].find_clips()) for timeline in (picture, exported))
    for clip, expected in zip(ours, theirs, strict=True):
        assert (clip.source_range, clip.range_in_parent()) == (expected.source_range, expected.range_in_parent())
        assert clip.available_range() == expected.available_range()
        assert clip.media_reference.target_url == expected.media_reference.target_url
    planned = plan_timeline(picture, base_dir=tmp_path, audio_cache=tmp_path / "a", options=OPTIONS)
    reference = plan_timeline(exported, base_dir=tmp_path, audio_cache=tmp_path / "b", options=OPTIONS)
    assert [clip.record_start for clip in planned.clips] == [START, START + 20, START + 40]
    assert [job.content_hash() for job in planned.jobs] == [job.content_hash() for job in reference.jobs]
    assert [(job.start_frame, job.end_frame, job.timecode_start) for job in planned.jobs] == [
        (8, 52, 864008),
        (18, 58, 950418),
        (28, 70, 1036828),
    ]


def test_transitions_disabled_clips_and_track_states_are_kept(studio, tmp_path):
    _, fake = studio
    timeline = fake.timeline
    timeline.fake_add_transition(1, START + 20, 4, 4)
    (last,) = [item for item in timeline.GetItemListInTrack("video", 1) if item.GetName() == "A003.mov"]
    assert last.SetClipEnabled(False)
    assert timeline.SetTrackEnable("audio", 1, False) and timeline.SetTrackLock("video", 1, True)
    assert timeline.AddTrack("video") and timeline.SetTrackName("video", 2, "Keydub DX es-419 v1")

    picture = snapshot("three")
    video = picture.tracks[0]
    kinds = [type(item).__name__ for item in video]
    assert kinds == ["Clip", "Transition", "Clip", "Gap", "Clip"]
    dissolve = video[1]
    assert (dissolve.in_offset.to_frames(), dissolve.out_offset.to_frames()) == (4, 4)
    assert [clip.enabled for clip in video.find_clips()] == [True, True, False]
    assert video.metadata["Resolve_OTIO"] == {"Locked": True}
    assert picture.tracks[1].name == "Keydub DX es-419 v1" and picture.tracks[1].metadata["keydub"]["role"] == "output"
    assert [track.enabled for track in picture.audio_tracks()] == [False, True]
    assert picture.audio_tracks()[1].metadata["Resolve_OTIO"]["Audio Type"] == "Mono"
    # The planner widens the handles over the dissolve and skips the disabled clip.
    plan = plan_timeline(
        picture,
        base_dir=tmp_path,
        audio_cache=tmp_path / "a",
        options=PlanOptions(dub_tracks=("DX es-419",), handles=0),
    )
    assert [(clip.head, clip.tail) for clip in plan.clips[:2]] == [(0, 4), (4, 0)]
    assert plan.clips[2].skip_reason == "disabled in the timeline"


def test_snapshot_writes_a_resolve_shaped_otio_file(studio, tmp_path, capsys):
    assert main(["resolve", "snapshot", "-o", str(tmp_path / "snap.otio")]) == 0
    assert "timeline 'three', 3 tracks" in capsys.readouterr().out
    document = json.loads((tmp_path / "snap.otio").read_text())
    clip = document["tracks"]["children"][0]["children"][0]
    assert clip["OTIO_SCHEMA"] == "Clip.2" and clip["active_media_reference_key"] == "DEFAULT_MEDIA"
    reference = clip["media_references"]["DEFAULT_MEDIA"]
    assert reference["target_url"].startswith("/") and reference["available_range"]["start_time"]["value"] == 864000
    assert main(["resolve", "snapshot", "-o", str(tmp_path / "snap.otio")]) == 1
    assert "already exists" in capsys.readouterr().err


def test_a_render_selected_as_a_take_reads_as_its_original_from_the_renders_metadata(studio, tmp_path):
    fixture, fake = studio
    item = fake.timeline.GetItemListInTrack("video", 1)[0]
    shutil.copyfile(fixture.sources["A002"], tmp_path / "render.mov")  # any other file, stamped as a Keydub render
    (render,) = fake.project.GetMediaPool().ImportMedia([str(tmp_path / "render.mov")])
    stamp = {
        "keydub.job_id": "DX es-419/Video 1@01:00:00:00",
        "keydub.source_path": str(fixture.sources["A001"]),
        "keydub.source_in": "20",
        "keydub.source_frames": "20",
    }
    for key, value in stamp.items():
        assert render.SetThirdPartyMetadata(key, value)
    assert item.AddTake(render, 0, 20) and item.SelectTakeByIndex(2)
    assert item.GetMediaPoolItem() is render
    # What take 1 reports is not documented ("by default, the full clip extents"): the metadata decides.
    item.takes[0]["startFrame"] = 0
    clip = snapshot().tracks[0].find_clips()[0]
    assert clip.media_reference.target_url == str(fixture.sources["A001"])
    assert to_frames(clip.source_range.start_time, RATE, "start") == 864020

    del render.third_party["keydub.source_path"]  # a render whose original cannot be told is refused, clearly
    with pytest.raises(ResolveCallError, match="shows a Keydub render whose original cannot be told"):
        snapshot()


def test_silent_failures_are_errors_that_say_what_failed(studio, monkeypatch):
    _, fake = studio
    item = fake.timeline.GetItemListInTrack("video", 1)[1]
    monkeypatch.setattr(item, "GetLeftOffset", lambda: None)
    with pytest.raises(ResolveCallError, match=r"to report the source in-point of 'A002.mov' \(it answered None\)"):
        snapshot()
    with pytest.raises(ResolveUnavailableError, match="no timeline named 'nope'; timelines: 'three'"):
        snapshot("nope")


def test_a_real_clip_reads_back_with_its_rate_length_and_timecode(talking_clip, dub_speech, tmp_path, monkeypatch):
    fake = library()
    project = fake.Project("Interview", Fraction(25))
    pool = project.GetMediaPool()
    picture, speech = pool.ImportMedia([str(talking_clip), str(dub_speech)])
    timeline = pool.CreateEmptyTimeline("interview")
    assert timeline.SetTrackName("audio", 1, "DX dub")
    assert (
        len(
            pool.AppendToTimeline(
                [
                    {
                        "mediaPoolItem": picture,
                        "startFrame": 10,
                        "endFrame": 60,
                        "mediaType": 1,
                        "trackIndex": 1,
                        "recordFrame": 90000,
                    }
                ]
            )
        )
        == 1
    )
    assert (
        len(
            pool.AppendToTimeline(
                [
                    {
                        "mediaPoolItem": speech,
                        "startFrame": 0,
                        "endFrame": 50,
                        "mediaType": 2,
                        "trackIndex": 1,
                        "recordFrame": 90000,
                    }
                ]
            )
        )
        == 1
    )
    use_fake_resolve(monkeypatch, fake.Resolve(project))

    picture_timeline = snapshot()
    plan = plan_timeline(
        picture_timeline,
        base_dir=tmp_path,
        audio_cache=tmp_path / "audio",
        options=PlanOptions(dub_tracks=("DX dub",), handles=12),
    )
    (job,) = plan.jobs
    assert (plan.rate, plan.clips[0].record_start) == (Fraction(25), 90000)  # 01:00:00:00 at 25 fps
    assert (job.start_frame, job.end_frame, job.timecode_start) == (0, 72, 0)  # head clamped to the 10 frames there
    assert job.source.path == talking_clip

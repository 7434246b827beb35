"""The bridge against what each Resolve version is measured to do (tests/fake_resolve's profiles): placements of
exactly each clip's length on 19.1.3 (inclusive end) and 21.1, 19.0.1 refused before anything is written, retimes
skipped with their speed, audio offsets counted in timeline frames, drop-frame timelines, and undo on failure."""

import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from fake_resolve import library, three_clip_project, use_fake_resolve
from media_fixtures import make_test_clip
from otio_fixtures import START, Tone, write_three_clip_timeline, write_tone_wav
from queue_fixtures import in_process

from keydub.plugin.cli.main import main
from keydub.plugin.resolve import ResolveCallError, ResolveUnavailableError, apply, snapshot
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline


DURATIONS = (6, 5, 7)
RECORDS = [START, START + 6, START + 15]


def options(handles: int = 2) -> PlanOptions:
    return PlanOptions(dub_tracks=("DX es-419",), handles=handles, render_options={"codec": "ffv1"})


def rendered_project(folder: Path, monkeypatch, profile: str, handles: int = 2):
    fixture = write_three_clip_timeline(folder, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS, profile=profile)
    use_fake_resolve(monkeypatch, fake.resolve)
    run = render_timeline(
        snapshot(), folder / "renders", folder / "result.otio", options(handles), executor=in_process()
    )
    return fake, run


def video_items(timeline, index):
    return [item for item in timeline.GetItemListInTrack("video", index) if item.GetMediaPoolItem() is not None]


def pool_paths(project) -> list[str]:
    return sorted(clip.GetClipProperty("File Path") for clip in project.GetMediaPool().GetRootFolder().every_clip())


@pytest.mark.parametrize("profile", ["19.1.3", "20.3", "21.1"])
@pytest.mark.parametrize("strategy", ["track", "takes", "duplicate"])
def test_every_render_is_placed_with_exactly_its_clips_length(tmp_path, monkeypatch, profile, strategy):
    fake, run = rendered_project(tmp_path, monkeypatch, profile)
    report = apply(run.timeline, strategy)
    assert report.warnings == [], "this version's end convention placed every render the first time"
    timeline = fake.project.GetTimelineByIndex(2) if strategy == "duplicate" else fake.timeline
    shown = video_items(timeline, 1 if strategy == "takes" else 2)
    outputs = [str(outcome.output) for outcome in run.outcomes]
    assert [item.GetMediaPoolItem().GetClipProperty("File Path") for item in shown] == outputs
    assert [item.GetStart() for item in shown] == RECORDS
    # The fake's own record of the item, not only what GetDuration reports: on 19.1 GetEnd() is inclusive.
    assert [item.end - item.start for item in shown] == list(DURATIONS)
    assert [item.GetLeftOffset() for item in shown] == [2, 2, 2]
    if strategy == "takes":
        assert [(item.GetTakesCount(), item.GetSelectedTakeIndex()) for item in shown] == [(2, 2)] * 3
    media = shown[0].GetMediaPoolItem().GetThirdPartyMetadata()
    assert media["keydub.source_in"] == "20" and media["keydub.source_frames"] == "6"
    assert media["keydub.source_path"].endswith("A001.mov")


@pytest.mark.parametrize("profile", ["19.1.3", "21.1"])
def test_renders_without_a_tail_handle_still_place(tmp_path, monkeypatch, profile):
    fake, run = rendered_project(tmp_path, monkeypatch, profile, handles=0)
    assert apply(run.timeline, "track").added_items == 3
    assert [item.end - item.start for item in video_items(fake.timeline, 2)] == list(DURATIONS)


@pytest.mark.parametrize(
    "variant, warning",
    [
        ({"inclusive_end": True}, "took the end frame of a placement as inclusive"),
        ({"refuses_end_at_frames": True}, "took the end frame of a placement only when left out"),
    ],
)
def test_an_unmeasured_end_convention_is_detected_by_reading_back(tmp_path, monkeypatch, variant, warning):
    fake_library = library()
    fake, run = rendered_project(tmp_path, monkeypatch, "20.3", handles=0)
    fake.resolve.profile_ = fake_library.Profile("20.3-variant", (20, 3, 2, 9, ""), **variant)
    report = apply(run.timeline, "track")
    assert report.added_items == 3 and len(report.warnings) == 1 and warning in report.warnings[0]
    assert [item.end - item.start for item in video_items(fake.timeline, 2)] == list(DURATIONS)
    assert [item.GetStart() for item in video_items(fake.timeline, 2)] == RECORDS


def test_resolve_19_0_1_is_refused_naming_the_minimum_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    fake, run = rendered_project(tmp_path, monkeypatch, "20.3")
    fake.resolve.profile_ = library().PROFILES["19.0.1"]
    before = (pool_paths(fake.project), fake.timeline.GetTrackCount("video"), fake.project.saves)

    assert main(["resolve", "status"]) == 1
    captured = capsys.readouterr()
    assert "Keydub cannot use it: DaVinci Resolve Studio 19.0.1.6 is older than 19.0.2" in captured.out
    assert "update DaVinci Resolve to 19.0.2 or newer" in captured.out and "OTIO round trip" in captured.out
    out_dir = tmp_path / "new_renders"
    for argv in (
        ["resolve", "render", "--dub-track", "DX es-419", "--out-dir", str(out_dir)],
        ["resolve", "apply", str(tmp_path / "result.otio"), "--as", "takes"],
        ["resolve", "snapshot", "-o", str(tmp_path / "snap.otio")],
    ):
        assert main(argv) == 1
        error = capsys.readouterr().err
        assert (
            error.startswith("Error: DaVinci Resolve Studio 19.0.1.6 is older than 19.0.2") and error.count("\n") == 1
        )
    assert not out_dir.exists() and not (tmp_path / "snap.otio").exists()
    assert (pool_paths(fake.project), fake.timeline.GetTrackCount("video"), fake.project.saves) == before
    with pytest.raises(ResolveUnavailableError) as error:
        snapshot()
    assert error.value.cause == "old_version"


def test_a_retimed_clip_is_skipped_naming_its_speed(tmp_path, monkeypatch, resolve_profile):
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS, profile=resolve_profile)
    second = video_items(fake.timeline, 1)[1]
    library().fake_retime(second, Fraction(2))
    assert second.GetLeftOffset() == 15  # the warped domain: 30 / 2
    use_fake_resolve(monkeypatch, fake.resolve)

    picture = snapshot()
    retimed = picture.tracks[0].find_clips()[1]
    # Its in-point is the media's own frame 30, not the warped 15 GetLeftOffset gives.
    assert retimed.source_range.start_time.to_frames() == 950400 + 30
    plan = plan_timeline(picture, base_dir=tmp_path, audio_cache=tmp_path / "audio", options=options())
    assert [clip.skip_reason is None for clip in plan.clips] == [True, False, True]
    assert "speed x2" in plan.clips[1].skip_reason and "bake the speed change" in plan.clips[1].skip_reason


def test_a_dub_wav_imported_at_24_on_a_23_976_timeline_is_cut_at_the_right_sample(tmp_path, monkeypatch):
    fake = library()
    rate = Fraction(24000, 1001)
    dub = tmp_path / "dub_stem.wav"
    samples = write_tone_wav(dub, Tone(330.0, 0.4), seconds=16)
    picture = make_test_clip(tmp_path / "B001.mov", frame_rate=rate, frame_count=48, codec="h264")
    project = fake.Project("Mixed", Fraction(24))
    pool = project.GetMediaPool()
    (wav,) = pool.ImportMedia([str(dub)])
    assert wav.GetClipProperty("FPS") == 24.0  # the project's rate at import, kept [LIM]
    assert project.SetSetting("timelineFrameRate", "23.976")
    (video,) = pool.ImportMedia([str(picture)])
    timeline = pool.CreateEmptyTimeline("mixed")
    assert timeline.SetTrackName("audio", 1, "DX dub")
    start = timeline.GetStartFrame()
    for info in (
        {"mediaPoolItem": video, "startFrame": 0, "endFrame": 24, "mediaType": 1, "trackIndex": 1},
        # The stem from 10 s in: frame 240 at the WAV's 24 fps.
        {"mediaPoolItem": wav, "startFrame": 240, "endFrame": 264, "mediaType": 2, "trackIndex": 1},
    ):
        assert len(pool.AppendToTimeline([{**info, "recordFrame": start}])) == 1
    audio_item = timeline.GetItemListInTrack("audio", 1)[0]
    assert audio_item.GetLeftOffset() == 239  # timeline frames, not the WAV's 240 [LIM]
    use_fake_resolve(monkeypatch, fake.Resolve(project, profile="21.1"))

    plan = plan_timeline(
        snapshot(),
        base_dir=tmp_path,
        audio_cache=tmp_path / "audio",
        options=PlanOptions(dub_tracks=("DX dub",), handles=0),
    )
    (job,) = plan.jobs
    (piece,) = job.audio_pieces
    assert piece.file_start == 10
    with wave.open(str(job.audio_file), "rb") as excerpt:
        rate_hz = excerpt.getframerate()
        first = np.frombuffer(excerpt.readframes(64), dtype="<i4") / 2**31  # the excerpt is 32-bit PCM
    assert rate_hz == 16_000
    np.testing.assert_allclose(first, samples[160_000 : 160_000 + 64], atol=1e-7)
    # Taken as the WAV's own frames, the offset would have started 1/24 s early.
    assert np.abs(first - samples[159_333 : 159_333 + 64]).max() > 0.1


def test_a_29_97_drop_frame_timeline_from_01_00_00_00_lines_up_frame_exactly(tmp_path, monkeypatch):
    fake = library()
    rate = Fraction(30000, 1001)
    source = make_test_clip(
        tmp_path / "DF001.mov", frame_rate=rate, frame_count=60, codec="h264", timecode="01:00:10:00", drop_frame=True
    )
    dub = tmp_path / "dub.wav"
    write_tone_wav(dub, Tone(220.0, 0.5), seconds=4)
    project = fake.Project("Drop", rate, drop_frame=True)
    pool = project.GetMediaPool()
    video, wav = pool.ImportMedia([str(source), str(dub)])
    assert video.GetClipProperty("Drop frame") == "1" and video.GetClipProperty("Start TC") == "01:00:10;00"
    timeline = pool.CreateEmptyTimeline("drop")
    assert timeline.GetStartTimecode() == "01:00:00;00" and timeline.GetStartFrame() == 107892
    assert timeline.SetTrackName("audio", 1, "DX es")
    record = 107892 + 30
    for info in (
        {"mediaPoolItem": video, "startFrame": 12, "endFrame": 42, "mediaType": 1, "recordFrame": record},
        {"mediaPoolItem": wav, "startFrame": 0, "endFrame": 30, "mediaType": 2, "recordFrame": record},
    ):
        assert len(pool.AppendToTimeline([{**info, "trackIndex": 1}])) == 1
    use_fake_resolve(monkeypatch, fake.Resolve(project, profile="19.1.3"))

    picture = snapshot()
    assert picture.global_start_time.to_frames() == 107892
    media_start = 107892 + 10 * 30 - 2 * 0  # 01:00:10;00 at 29.97 DF (no labels dropped in minute 0)
    clip = picture.tracks[0].find_clips()[0]
    assert clip.source_range.start_time.to_frames() == media_start + 12
    drop_options = PlanOptions(dub_tracks=("DX es",), handles=3, render_options={"codec": "ffv1"})
    (job,) = plan_timeline(picture, base_dir=tmp_path, audio_cache=tmp_path / "audio", options=drop_options).jobs
    assert (job.start_frame, job.end_frame, job.timecode_start) == (9, 45, media_start + 9)
    run = render_timeline(picture, tmp_path / "renders", None, drop_options, executor=in_process())
    report = apply(run.timeline, "track")
    (placed,) = video_items(timeline, 2)
    assert (placed.GetStart(), placed.end - placed.start, placed.GetLeftOffset()) == (record, 30, 3)
    render = placed.GetMediaPoolItem()
    assert render.GetClipProperty("Drop frame") == "1" and render.GetClipProperty("Start TC") == "01:00:10;09"
    assert report.warnings == []


def failing_after(fake, method: str, clip_index: int, monkeypatch) -> None:
    """Make `method` of the picture item `clip_index` fail silently, as Resolve does."""
    item = video_items(fake.timeline, 1)[clip_index]
    monkeypatch.setattr(item, method, lambda *args, **kwargs: False)


@pytest.mark.parametrize("method", ["SelectTakeByIndex", "AddMarker"])
def test_an_apply_that_fails_after_add_take_leaves_no_take(tmp_path, monkeypatch, resolve_profile, method):
    fake, run = rendered_project(tmp_path, monkeypatch, resolve_profile)
    originals = [(item.GetMediaPoolItem(), item.GetLeftOffset()) for item in video_items(fake.timeline, 1)]
    failing_after(fake, method, 2, monkeypatch)
    with pytest.raises(ResolveCallError, match="everything this apply added to the timeline was removed again"):
        apply(run.timeline, "takes")
    items = video_items(fake.timeline, 1)
    assert [item.GetTakesCount() for item in items] == [0, 0, 0]
    assert [(item.GetMediaPoolItem(), item.GetLeftOffset()) for item in items] == originals
    assert [item.GetMarkers() for item in items] == [{}, {}, {}]
    assert fake.project.saves == 0
    # The renders stay in the bin, reused by the next apply, which then succeeds.
    monkeypatch.undo()
    use_fake_resolve(monkeypatch, fake.resolve)
    report = apply(run.timeline, "takes")
    assert len(report.reused) == 3 and report.added_takes == 3


def test_a_placement_that_never_reads_back_rolls_the_whole_track_back(tmp_path, monkeypatch):
    fake, run = rendered_project(tmp_path, monkeypatch, "20.3")
    timeline = fake.timeline
    place = timeline.fake_place

    def one_frame_long(kind, index, info):  # whatever the end convention, the third render lands 8 frames long
        item = place(kind, index, info)
        if item is not None and "A003" in str(info["mediaPoolItem"].path):
            item.end = item.start + DURATIONS[2] + 1
        return item

    monkeypatch.setattr(timeline, "fake_place", one_frame_long)
    with pytest.raises(ResolveCallError, match=r"placed 8 frames from frame 2 then 8 frames from frame 2 .* not 7"):
        apply(run.timeline, "track")
    assert timeline.GetTrackCount("video") == 1 and fake.project.saves == 0


def test_a_duplicate_that_fails_is_deleted_again(tmp_path, monkeypatch):
    fake, run = rendered_project(tmp_path, monkeypatch, "21.1")
    monkeypatch.setattr(fake.project.GetMediaPool(), "AppendToTimeline", lambda items: [])
    with pytest.raises(ResolveCallError, match="removed again"):
        apply(run.timeline, "duplicate")
    assert [fake.project.GetTimelineByIndex(1).GetName()] == ["three"] and fake.project.GetTimelineCount() == 1


def test_apply_reads_the_media_pool_once_however_many_renders(tmp_path, monkeypatch):
    fake, run = rendered_project(tmp_path, monkeypatch, "21.1")
    pool = fake.project.GetMediaPool()
    clutter = pool.AddSubFolder(pool.GetRootFolder(), "Dailies")
    shot = fake.pool_items["A001"]
    for index in range(60):  # an editor's pool: many clips Keydub has nothing to do with
        clutter.clips.append(
            library().MediaPoolItem(tmp_path / f"day{index}.mov", dict(shot.properties), fake.project)
        )
    calls = []
    reading = library().MediaPoolItem.GetClipProperty
    monkeypatch.setattr(
        library().MediaPoolItem, "GetClipProperty", lambda self, key=None: calls.append(key) or reading(self, key)
    )
    apply(run.timeline, "track")
    # One read per pool item for the index (64 items), then a few per render; never the pool once per render.
    assert 64 <= len(calls) < 64 + 10 * len(run.outcomes), len(calls)


def test_a_start_timecode_that_disagrees_with_the_start_frame_is_a_warning(tmp_path, monkeypatch, caplog):
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS)
    monkeypatch.setattr(fake.timeline, "GetStartTimecode", lambda: "00:59:59:00")
    use_fake_resolve(monkeypatch, fake.resolve)
    from keydub.plugin.resolve import read_state

    state = read_state()
    assert state.start_frame == START and state.start_timecode == "01:00:00:00"
    assert state.warnings == (
        "timeline 'three' starts at frame 86400 (01:00:00:00) but reports the start timecode '00:59:59:00'; "
        "Keydub goes by the frame",
    )
    assert state.warnings[0] in caplog.text
    assert snapshot().global_start_time.to_frames() == START


def test_media_at_another_rate_than_the_timeline_is_named_a_frame_rate_mismatch(tmp_path, monkeypatch):
    fake = library()
    clip = make_test_clip(tmp_path / "C001.mov", frame_rate=Fraction(25), frame_count=40, codec="h264")
    dub = tmp_path / "dub.wav"
    write_tone_wav(dub, Tone(220.0, 0.5), seconds=3)
    project = fake.Project("Rates", Fraction(24000, 1001))
    pool = project.GetMediaPool()
    video, wav = pool.ImportMedia([str(clip), str(dub)])
    timeline = pool.CreateEmptyTimeline("rates")
    assert timeline.SetTrackName("audio", 1, "DX")
    for info in (
        {"mediaPoolItem": video, "startFrame": 0, "endFrame": 25, "mediaType": 1},
        {"mediaPoolItem": wav, "startFrame": 0, "endFrame": 24, "mediaType": 2},
    ):
        assert len(pool.AppendToTimeline([{**info, "trackIndex": 1, "recordFrame": timeline.GetStartFrame()}])) == 1
    use_fake_resolve(monkeypatch, fake.Resolve(project))
    plan = plan_timeline(
        snapshot(), base_dir=tmp_path, audio_cache=tmp_path / "audio", options=PlanOptions(dub_tracks=("DX",))
    )
    (clip_plan,) = plan.clips
    assert "runs at 25 fps on a 24000/1001 fps timeline" in clip_plan.skip_reason
    assert "speed" not in clip_plan.skip_reason

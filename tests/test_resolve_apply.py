"""`apply` and `keydub resolve apply`: results rendered elsewhere put back, checked before any write, each write
verified by reading it back, nothing original changed, a second apply adding nothing."""

import json

import pytest
from fake_resolve import three_clip_project, use_fake_resolve
from otio_fixtures import START, write_three_clip_timeline
from queue_fixtures import in_process

from keydub.plugin.cli.main import main
from keydub.plugin.resolve import ResolveCallError, apply, snapshot
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.executors import EXECUTORS
from keydub.plugin.timeline.plan import PlanOptions


DURATIONS = (6, 5, 7)
OPTIONS = PlanOptions(dub_tracks=("DX es-419",), handles=2, render_options={"codec": "ffv1"})


@pytest.fixture
def rendered(tmp_path, monkeypatch, resolve_profile):
    """A fake Resolve project (each supported version) and the result `.otio` of its timeline, rendered by the
    copy stand-in (as a farm would render a snapshot)."""
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS, profile=resolve_profile)
    use_fake_resolve(monkeypatch, fake.resolve)
    run = render_timeline(snapshot(), tmp_path / "renders", tmp_path / "result.otio", OPTIONS, executor=in_process())
    return fake, run


def bins(project):
    return [folder.GetName() for folder in project.GetMediaPool().GetRootFolder().GetSubFolderList()]


def test_apply_of_a_result_file_as_takes_then_again_adds_nothing(rendered, tmp_path, capsys):
    fake, run = rendered
    assert main(["resolve", "apply", str(tmp_path / "result.otio"), "--as", "takes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["timeline"] == "three" and report["bin"] == "Keydub/three/DX es-419"
    assert len(report["imported"]) == 3 and report["added_takes"] == 3 and report["added_markers"] == 3
    items = [item for item in fake.timeline.GetItemListInTrack("video", 1)]
    outputs = [str(outcome.output) for outcome in run.outcomes]
    assert [item.GetMediaPoolItem().GetClipProperty("File Path") for item in items] == outputs
    assert [item.GetLeftOffset() for item in items] == [2, 2, 2]

    assert main(["resolve", "apply", str(tmp_path / "result.otio"), "--as", "takes"]) == 0
    summary = capsys.readouterr().out
    assert "0 imported" in summary and "3 reused" in summary and "0 clips and 0 takes and 0 markers added" in summary
    assert [item.GetTakesCount() for item in items] == [2, 2, 2]


def test_a_render_already_in_the_pool_is_reused_and_stamped(rendered):
    fake, run = rendered
    pool = fake.project.GetMediaPool()
    (already,) = pool.ImportMedia([str(run.outcomes[1].output)])  # the editor imported one render by hand
    report = apply(run.timeline, "track")
    assert report.reused == [str(run.outcomes[1].output)] and len(report.imported) == 2
    assert already.GetThirdPartyMetadata("keydub.job_id") == run.outcomes[1].job_id
    placed = fake.timeline.GetItemListInTrack("video", 2)
    assert placed[1].GetMediaPoolItem() is already and [item.GetStart() for item in placed] == [
        START,
        START + 6,
        START + 15,
    ]


def test_a_clip_changed_since_the_render_stops_apply_before_any_write(rendered):
    fake, run = rendered
    moved = fake.timeline.GetItemListInTrack("video", 1)[2]
    moved.left_offset += 3  # the editor slipped the clip after the render
    changed = r"changed since the render: no longer the same clip at 'A003.mov' at record frame 86415"
    with pytest.raises(ResolveCallError, match=changed):
        apply(run.timeline, "track")
    assert bins(fake.project) == ["Footage"] and fake.timeline.GetTrackCount("video") == 1


def test_a_placement_resolve_drops_silently_is_an_error(rendered, monkeypatch):
    fake, run = rendered
    pool = fake.project.GetMediaPool()
    monkeypatch.setattr(pool, "AppendToTimeline", lambda items: [])
    dropped = (
        r"placed 0 clip\(s\) then 0 clip\(s\) for .*A001.mov_.*mkv at record frame 86400, not 6 frames from "
        r"frame 2 .*; everything this apply added to the timeline was removed again, then apply again"
    )
    with pytest.raises(ResolveCallError, match=dropped):
        apply(run.timeline, "track")
    assert fake.timeline.GetTrackCount("video") == 1


def test_takes_on_a_locked_track_fail_with_the_fix(rendered):
    fake, run = rendered
    assert fake.timeline.SetTrackLock("video", 1, True)
    with pytest.raises(ResolveCallError, match="add the render as a take of 'A001.mov'.*not locked"):
        apply(run.timeline, "takes")


def test_a_new_render_goes_on_a_new_version_of_the_track(rendered, tmp_path):
    fake, run = rendered
    apply(run.timeline, "track")
    other = render_timeline(
        snapshot(),
        tmp_path / "renders",
        None,
        PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={"codec": "ffv1"}),
        executor=in_process(),
    )
    report = apply(other.timeline, "track")
    assert report.tracks == ["Keydub DX es-419 v2"] and report.added_items == 3
    assert [fake.timeline.GetTrackName("video", index) for index in (1, 2, 3)] == [
        "Video 1",
        "Keydub DX es-419 v1",
        "Keydub DX es-419 v2",
    ]


def test_an_untitled_project_is_not_saved_and_says_so(rendered):
    fake, run = rendered
    fake.project.name = "Untitled Project"
    report = apply(run.timeline, "track")
    assert not report.saved and fake.project.saves == 0
    assert report.warnings == [
        "the project is untitled, so it was not saved: save it in Resolve (File > Save Project)"
    ]


def test_an_unknown_strategy_or_a_foreign_timeline_is_refused(rendered, tmp_path, capsys):
    _, run = rendered
    with pytest.raises(Exception, match="unknown write-back strategy 'replace'"):
        apply(run.timeline, "replace")
    assert main(["resolve", "apply", str(tmp_path / "three.otio")]) == 1
    assert "is not a Keydub result" in capsys.readouterr().err


def test_render_prints_the_batch_table_and_what_was_applied(tmp_path, monkeypatch, capsys):
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS)
    use_fake_resolve(monkeypatch, fake.resolve)
    monkeypatch.setitem(EXECUTORS, "in-process", lambda: in_process())
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["resolve", "render", "--dub-track", "DX es-419", "--codec", "ffv1"]) == 0
    out = capsys.readouterr().out
    assert "3 rendered, 0 up to date, 0 skipped, 0 failed." in out
    assert out.strip().endswith(
        "Applied to 'three' as track (track(s) 'Keydub DX es-419 v1'): 3 imported into bin "
        "'Keydub/three/DX es-419', 0 reused, 3 clips and 0 takes and 3 markers added, 0 "
        "already there"
    )
    renders = sorted((tmp_path / "home" / "Keydub" / "Dubbing" / "three").glob("*.mkv"))
    assert len(renders) == 3, "renders go to ~/Keydub/<project>/<timeline> by default"

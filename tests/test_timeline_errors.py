"""Bad inputs to the timeline batch: each a specific KeydubError saying what to do, and nothing left behind."""

import os
from pathlib import Path

import opentimelineio as otio
import pytest
from otio_fixtures import gap, resolve_timeline, video_track, write_dubbing_timeline
from queue_fixtures import in_process

from keydub.core.errors import OutputNotWritableError, TimelineError
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions


OPTIONS = PlanOptions(dub_tracks=("DX es-419",), render_options={"codec": "ffv1"})


@pytest.fixture(scope="module")
def dubbing(tmp_path_factory: pytest.TempPathFactory):
    return write_dubbing_timeline(tmp_path_factory.mktemp("errors"))


def _render(path: Path, out: Path, options: PlanOptions = OPTIONS):
    return render_timeline(path, out / "renders", out / "out.otio", options, executor=in_process())


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"OTIO_SCHEMA": "Timeline.1", "tracks": ', r"is not a valid OpenTimelineIO file \(JSON parse error"),
        ("not json at all", r"is not a valid OpenTimelineIO file .*; export the timeline again as \.otio"),
        ('{"OTIO_SCHEMA": "Clip.2", "name": "x"}', r"is not a valid OpenTimelineIO file"),
        (
            '{"OTIO_SCHEMA": "Track.1", "name": "V1", "children": [], "kind": "Video"}',
            r"holds no timeline \(a Track\); export a whole timeline",
        ),
    ],
)
def test_malformed_timelines_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.otio"
    path.write_text(content)
    with pytest.raises(TimelineError, match=message):
        _render(path, tmp_path)
    assert not (tmp_path / "renders").exists() and not (tmp_path / "out.otio").exists()


def test_a_missing_timeline_file_is_named(tmp_path):
    with pytest.raises(TimelineError, match=r"timeline file .*nowhere\.otio does not exist; check the path"):
        read_timeline(tmp_path / "nowhere.otio")


def test_an_empty_timeline_says_what_is_missing(tmp_path):
    path = tmp_path / "empty.otio"
    otio.adapters.write_to_file(resolve_timeline("empty", []), str(path))
    with pytest.raises(TimelineError, match=r"timeline 'empty' has no enabled video track; enable the picture"):
        _render(path, tmp_path)
    otio.adapters.write_to_file(resolve_timeline("gaps", [video_track("Video 1", [gap(24)])]), str(path))
    with pytest.raises(TimelineError, match=r"has no clips on its picture track\(s\) 'Video 1'; export the timeline"):
        _render(path, tmp_path)


def test_an_unknown_dub_track_lists_the_tracks(dubbing, tmp_path):
    with pytest.raises(TimelineError, match=r"no audio track named 'DX it-IT'; audio tracks: 'Audio 1', 'DX es-419'"):
        _render(dubbing.path, tmp_path, PlanOptions(dub_tracks=("DX it-IT",)))
    assert not (tmp_path / "renders").exists()


def _relinked(dubbing, tmp_path: Path, target_url: str) -> Path:
    timeline = read_timeline(dubbing.path)
    timeline.tracks[0][0].media_reference.target_url = target_url
    path = dubbing.path.parent / f"relinked_{tmp_path.name}.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_media_paths_with_dot_dot_are_refused(dubbing, tmp_path):
    path = _relinked(dubbing, tmp_path, str(dubbing.sources["A002"].parent / ".." / "media" / "A001.mov"))
    with pytest.raises(TimelineError) as raised:
        _render(path, tmp_path)
    message = str(raised.value)
    assert message.startswith("1 path(s) point at media paths Keydub cannot use:\n  Video 1 clip 'sh010': media path")
    assert "contains '..'; relink the clip to the file's full path" in message
    assert not (tmp_path / "renders").exists()


def test_media_in_a_folder_that_does_not_exist_is_refused_up_front(dubbing, tmp_path):
    path = _relinked(dubbing, tmp_path, "/Volumes/Media_not_mounted/A001.mov")
    with pytest.raises(TimelineError) as raised:
        _render(path, tmp_path)
    assert "folder /Volumes/Media_not_mounted (does not exist): 1 clip(s): Video 1 clip 'sh010'" in str(raised.value)
    assert str(raised.value).endswith(
        "Mount the media drive, map the editor's folders onto this machine with --relink FROM=TO, or relink the "
        "clips in your editor and export the timeline again (or leave those clips out with --only)."
    )


@pytest.mark.parametrize(
    "url, message",
    [
        ("https://example.com/A001.mov", r"is a https: URL; Keydub reads local files only"),
        ("D:\\Media\\A001.mov", r"folder D:\\Media \(a Windows folder: map it with --relink\)"),
    ],
)
@pytest.mark.skipif(os.name == "nt", reason="Windows paths are this machine's own paths there")
def test_media_urls_this_machine_cannot_open_are_refused(dubbing, tmp_path, url, message):
    with pytest.raises(TimelineError, match=message):
        _render(_relinked(dubbing, tmp_path, url), tmp_path)


def test_an_output_folder_under_a_file_is_not_writable(dubbing, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    expected = r"cannot write into the output folder .*a_file/renders \(.*a_file is not a folder\); choose another"
    with pytest.raises(OutputNotWritableError, match=expected):
        render_timeline(dubbing.path, blocker / "renders", tmp_path / "out.otio", OPTIONS, executor=in_process())
    assert not (tmp_path / "out.otio").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="permission bits do not stop root")
def test_a_read_only_output_folder_is_not_writable(dubbing, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(OutputNotWritableError, match="cannot be written"):
        render_timeline(dubbing.path, locked / "renders", tmp_path / "out.otio", OPTIONS, executor=in_process())


def test_a_timeline_at_an_unusable_rate_is_refused(tmp_path):
    timeline = resolve_timeline("odd", [video_track("Video 1", [gap(24)])])
    timeline.global_start_time = otio.opentime.RationalTime(0, 24.00004)  # a hair off 24, beyond the tolerance
    path = tmp_path / "odd.otio"
    otio.adapters.write_to_file(timeline, str(path))
    with pytest.raises(TimelineError, match=r"frame rate of 24.00004, which is neither a whole rate"):
        _render(path, tmp_path)

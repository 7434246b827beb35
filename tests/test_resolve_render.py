"""`keydub resolve render` end to end on the fake Resolve: tiny random KeySync weights on CPU over synthetic
timecoded clips, written back as a track, as takes and on a copy of the timeline; a second run adds nothing."""

import hashlib
import json
from pathlib import Path

import pytest
from face_fixtures import DrawnFaceBackend, template_landmarks
from fake_resolve import three_clip_project, use_fake_resolve
from otio_fixtures import RATE, SOURCE_STARTS, START, write_three_clip_timeline
from tiny_models import TINY_FRAME_SIZE, save_tiny_weights, tiny_weight_flags

from keydub.core import render as core_render
from keydub.plugin.cli.main import main
from keydub.plugin.resolve.timecode import timecode_to_frame
from keydub.plugin.timeline.executors import EXECUTORS, InProcessExecutor


WIDTH, HEIGHT = 96, 80
DURATIONS = (4, 3, 5)
RECORDS = [START, START + 4, START + 11]
FACE = template_landmarks(48, 36, 36)
BIN = ("Keydub", "three", "DX es-419")


class TinyEngine:
    """The engine's `render` with the tiny pipeline loaded once and the drawn face reported (synthetic clips have
    no face a detector could find)."""

    def __init__(self) -> None:
        self.renders = 0
        self._pipeline = None

    def render(self, request, progress=None, cancel=None):
        self.renders += 1
        self._pipeline = self._pipeline or core_render.load_pipeline(request)
        return core_render.render_clip(
            request,
            progress,
            cancel=cancel,
            pipeline=self._pipeline,
            landmark_backend=DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH)),
        )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def picture_items(timeline, index=1):
    return [item for item in timeline.GetItemListInTrack("video", index) if item.GetMediaPoolItem() is not None]


def item_state(item):
    return (
        item.GetUniqueId(),
        item.GetStart(),
        item.GetEnd(),
        item.GetLeftOffset(),
        item.GetMediaPoolItem().GetUniqueId(),
        item.GetTakesCount(),
        item.GetMarkers(),
    )


def keydub_bin(project):
    folder = project.GetMediaPool().GetRootFolder()
    for name in BIN:
        folder = next(sub for sub in folder.GetSubFolderList() if sub.GetName() == name)
    return folder


class Session:
    """The shared media, weights, engine and output folder of this module's renders."""

    def __init__(self, folder: Path) -> None:
        self.fixture = write_three_clip_timeline(folder, durations=DURATIONS, size=(WIDTH, HEIGHT))
        weights = save_tiny_weights(folder / "weights", TINY_FRAME_SIZE)
        self.engine = TinyEngine()
        self.argv = [
            "resolve",
            "render",
            "--dub-track",
            "DX es-419",
            "--out-dir",
            str(folder / "renders"),
            "--handles",
            "1",
            *tiny_weight_flags(weights),
            "--codec",
            "ffv1",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--json",
        ]
        self.media = [
            *(self.fixture.sources[name] for name in ("A001", "A002", "A003")),
            self.fixture.lines["premix_es"],
        ]
        self.hashes = [sha256(path) for path in self.media]

    def project(self, monkeypatch):
        fake = three_clip_project(self.fixture, DURATIONS)
        use_fake_resolve(monkeypatch, fake.resolve)
        monkeypatch.setitem(EXECUTORS, "in-process", lambda: InProcessExecutor(self.engine))
        return fake

    def run(self, capsys, *extra: str) -> tuple[int, dict]:
        code = main([*self.argv, *extra])
        captured = capsys.readouterr()
        return code, json.loads(captured.out) if code == 0 else {"error": captured.err}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return Session(tmp_path_factory.mktemp("resolve_render"))


@pytest.fixture(scope="module")
def first_run(session):
    """The first render of the module (`--as track`): the fake project and what the command printed."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake = session.project(monkeypatch)
        before = [item_state(item) for item in picture_items(fake.timeline)]
        code = main([*session.argv, "--as", "track"])
        return fake, before, code


def test_render_as_track_puts_each_render_on_a_new_track_at_its_clip(session, first_run, monkeypatch, capsys):
    fake, before, code = first_run
    assert code == 0 and session.engine.renders == 3
    timeline, project = fake.timeline, fake.project

    # A new track above the picture, each render at its clip's record frame with the handle trimmed off.
    assert timeline.GetTrackCount("video") == 2 and timeline.GetTrackName("video", 2) == "Keydub DX es-419 v1"
    renders = picture_items(timeline, 2)
    assert [item.GetStart() for item in renders] == RECORDS
    assert [item.GetDuration() for item in renders] == list(DURATIONS)
    assert [item.GetLeftOffset() for item in renders] == [1, 1, 1]
    # Frame-exact: the render's frame under each record frame is the original's source frame, by timecode.
    for render, original, offset in zip(renders, picture_items(timeline), (20, 30, 40), strict=True):
        media, source = render.GetMediaPoolItem(), original.GetMediaPoolItem()
        render_tc = timecode_to_frame(media.GetClipProperty("Start TC"), RATE)
        source_tc = timecode_to_frame(source.GetClipProperty("Start TC"), RATE)
        assert (
            render_tc + render.GetLeftOffset()
            == source_tc + original.GetLeftOffset()
            == SOURCE_STARTS[Path(source.GetClipProperty("File Path")).stem] + offset
        )
        assert media.GetClipProperty("FPS") == 23.976
        (marker,) = render.GetMarkers().values()
        job_id = media.GetThirdPartyMetadata("keydub.job_id")
        assert marker["customData"] == job_id == f"DX es-419/Video 1@01:00:00:{original.GetStart() - START:02d}"
        assert (
            marker["note"]
            == f"AI-modified: lower face; face coverage 100.0%, open mouth {marker['note'].split('open mouth ')[1]}"
        )
        assert marker["note"].endswith(f"0 of {render.GetDuration() + 2} frames passed through")
        assert marker["color"] == "Green" and marker["name"] == "Keydub"
    # The renders were imported into their bin; the originals, the dub and the source files are untouched.
    assert [clip.GetClipProperty("File Path") for clip in keydub_bin(project).GetClipList()] == [
        item.GetMediaPoolItem().GetClipProperty("File Path") for item in renders
    ]
    assert [item_state(item) for item in picture_items(timeline)] == before
    assert [sha256(path) for path in session.media] == session.hashes
    assert project.saves == 1 and project.GetCurrentTimeline() is timeline

    # A second run renders nothing and adds nothing.
    monkeypatch.setitem(EXECUTORS, "in-process", lambda: InProcessExecutor(session.engine))
    use_fake_resolve(monkeypatch, fake.resolve)
    code, again = session.run(capsys, "--as", "track")
    assert code == 0, again
    assert again["rendered"] == 0 and session.engine.renders == 3
    applied = again["applied"]
    assert (applied["imported"], applied["added_items"], applied["added_markers"]) == ([], 0, 0)
    assert applied["already_applied"] == 3 and applied["tracks"] == ["Keydub DX es-419 v1"]
    assert timeline.GetTrackCount("video") == 2 and len(keydub_bin(project).GetClipList()) == 3
    assert [len(item.GetMarkers()) for item in picture_items(timeline, 2)] == [1, 1, 1]


def test_render_as_takes_adds_a_selected_take_to_each_original(session, first_run, monkeypatch, capsys):
    fake = session.project(monkeypatch)
    timeline = fake.timeline
    originals = [
        (item.GetUniqueId(), item.GetMediaPoolItem(), item.GetLeftOffset()) for item in picture_items(timeline)
    ]

    code, result = session.run(capsys, "--as", "takes")
    assert code == 0 and result["rendered"] == 0, "the first run's renders are reused"
    assert result["applied"]["added_takes"] == 3 and result["applied"]["added_items"] == 0
    assert timeline.GetTrackCount("video") == 1
    for item, (unique_id, media, left) in zip(picture_items(timeline), originals, strict=True):
        assert item.GetUniqueId() == unique_id and item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
        first, second = item.GetTakeByIndex(1), item.GetTakeByIndex(2)
        assert first["mediaPoolItem"] is media and first["startFrame"] == left
        assert second["mediaPoolItem"].GetThirdPartyMetadata("keydub.job_id")
        assert (second["startFrame"], second["endFrame"]) == (1, 1 + item.GetDuration())
        assert item.GetMediaPoolItem() is second["mediaPoolItem"] and item.GetLeftOffset() == 1
        (marker,) = item.GetMarkers().values()
        assert marker["customData"] == second["mediaPoolItem"].GetThirdPartyMetadata("keydub.job_id")

    code, again = session.run(capsys, "--as", "takes")
    assert code == 0 and again["rendered"] == 0 and again["applied"]["already_applied"] == 3
    assert again["applied"]["added_takes"] == 0 and again["applied"]["added_markers"] == 0
    assert [item.GetTakesCount() for item in picture_items(timeline)] == [2, 2, 2]


def test_render_as_duplicate_writes_a_copy_of_the_timeline(session, first_run, monkeypatch, capsys):
    fake = session.project(monkeypatch)
    original = fake.timeline
    before = [item_state(item) for item in picture_items(original)]

    code, result = session.run(capsys, "--as", "duplicate")
    assert code == 0 and result["applied"]["timeline"] == "three [Keydub DX es-419]"
    names = [fake.project.GetTimelineByIndex(index).GetName() for index in (1, 2)]
    assert names == ["three", "three [Keydub DX es-419]"] and fake.project.GetCurrentTimeline() is original
    copy = fake.project.GetTimelineByIndex(2)
    assert copy.GetTrackName("video", 2) == "Keydub DX es-419 v1"
    assert [item.GetStart() for item in picture_items(copy, 2)] == RECORDS
    assert original.GetTrackCount("video") == 1 and [item_state(item) for item in picture_items(original)] == before

    code, again = session.run(capsys, "--as", "duplicate")
    assert code == 0 and fake.project.GetTimelineCount() == 2 and again["applied"]["already_applied"] == 3
    assert copy.GetTrackCount("video") == 2


def test_an_unknown_dub_track_fails_with_the_audio_tracks_before_any_render(session, first_run, monkeypatch, capsys):
    fake = session.project(monkeypatch)
    renders = session.engine.renders
    argv = [*session.argv, "--dub-track", "DX it-IT"]
    argv.remove("DX es-419")
    argv.remove("--dub-track")
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.strip() == (
        "Error: the timeline has no audio track named 'DX it-IT'; audio tracks: 'Audio 1', 'DX es-419'"
    )
    assert session.engine.renders == renders
    assert [folder.GetName() for folder in fake.project.GetMediaPool().GetRootFolder().GetSubFolderList()] == [
        "Footage"
    ]


def test_render_with_a_cast_plans_through_it_and_names_a_characters_unknown_dub_track(
    session, first_run, monkeypatch, capsys, tmp_path
):
    session.project(monkeypatch)
    renders = session.engine.renders
    cast = tmp_path / "cast.toml"
    cast.write_text('[[character]]\nname = "Anna"\ndub_track = "DX es ANNA"\n')

    assert main([*session.argv, "--cast", str(cast)]) == 1

    error = capsys.readouterr().err
    assert error.strip() == (
        "Error: the timeline has no audio track named 'DX es ANNA'; audio tracks: 'Audio 1', 'DX es-419'"
    )
    assert session.engine.renders == renders


def test_render_with_resolve_unreachable_fails_with_the_fix(session, monkeypatch, capsys):
    fake = three_clip_project(session.fixture, DURATIONS)
    use_fake_resolve(monkeypatch, fake.resolve, mode="external_off")
    assert main([*session.argv, "--as", "track"]) == 1
    error = capsys.readouterr().err
    assert "External scripting using: Local" in error and error.count("\n") == 1


def test_require_consent_refuses_before_any_render_and_changes_nothing(session, first_run, monkeypatch, capsys):
    fake = session.project(monkeypatch)
    before = [item_state(item) for item in picture_items(fake.timeline)]
    renders = session.engine.renders

    code, answer = session.run(capsys, "--as", "track", "--force", "--require-consent")

    assert code == 1 and answer["error"].count("\n") == 1
    assert answer["error"].startswith("Error: consent is required and 3 face(s) have no consent reference: ")
    assert "(the largest face, no character named)" in answer["error"]
    assert session.engine.renders == renders and fake.timeline.GetTrackCount("video") == 1
    assert [item_state(item) for item in picture_items(fake.timeline)] == before

"""The panel's Qt-free controller: opening a video + dub or a timeline into clip sessions, every edit stored
with the jobs and restored on reopening, jobs equal to the command line's, states and staleness from the job
store, and the export as `keydub timeline` writes it."""

import opentimelineio as otio
import pytest
from media_fixtures import make_test_clip
from otio_fixtures import TONES, write_dubbing_timeline, write_tone_wav

from keydub.core.errors import AudioError, InvalidParameterError, KeydubError, MediaNotFoundError, TimelineError
from keydub.core.render.options import RenderOptions
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import ClipChanged
from keydub.plugin.panel.session import ClipSession, SessionStore
from keydub.plugin.panel.status import ClipStatus, clip_status
from keydub.plugin.store import JobProgress, JobStore


@pytest.fixture
def clip_and_dub(tmp_path):
    video = make_test_clip(
        tmp_path / "shot.mov", width=64, height=48, frame_count=25, codec="h264", timecode="01:00:00:00"
    )
    dub = tmp_path / "dub.wav"
    write_tone_wav(dub, TONES["es_line1"], seconds=2)
    return video, dub


@pytest.fixture
def controller(clip_and_dub, tmp_path):
    controller = PanelController(render_options={"codec": "ffv1"}, handles=0)
    controller.open_video(*clip_and_dub, out_dir=tmp_path / "out")
    return controller


def test_a_video_with_its_dub_opens_as_one_clip_with_timecodes(controller, clip_and_dub):
    [session] = controller.sessions
    assert controller.current == session
    assert (session.start_frame, session.end_frame) == (0, 25)
    assert (session.record_in, session.record_out) == ("01:00:00:00", "01:00:00:24")
    assert session.dub == "dub.wav" and not session.has_face
    job = controller.job(session.clip_id)
    assert (job.start_frame, job.end_frame, job.timecode_start) == (0, 25, 90000)
    assert job.options == RenderOptions(codec="ffv1") and job.audio_file.is_file()


def test_edits_fire_events_and_change_the_job(controller):
    events = []
    controller.register_event_callback(ClipChanged, events.append)
    clip_id = controller.current_id
    before = controller.job(clip_id).content_hash()
    controller.choose_face(clip_id, (30.0, 20.0), 4)
    prompt = {"object_id": 1, "frame": 6, "points": [[12.0, 30.0]], "labels": [1], "box": None, "mask": None}
    controller.set_occluders(clip_id, [prompt])
    job = controller.job(clip_id)
    assert job.face.point == (30.0, 20.0) and job.face.frame == 4
    assert job.occluders == (prompt,)
    assert job.content_hash() != before
    assert [event.clip_id for event in events] == [clip_id, clip_id]
    with pytest.raises(InvalidParameterError, match="labels"):
        controller.set_occluders(clip_id, [{**prompt, "labels": []}])


def test_the_range_is_a_setting_of_a_single_clip(controller):
    clip_id = controller.current_id
    controller.set_range(clip_id, 5, 15)
    session = controller.current
    assert (session.start_frame, session.end_frame, session.record_in, session.record_out) == (
        5,
        15,
        "01:00:00:05",
        "01:00:00:14",
    )
    job = controller.job(clip_id)
    assert (job.start_frame, job.end_frame) == (5, 15)
    with pytest.raises(InvalidParameterError, match="in point before the out point"):
        controller.set_range(clip_id, 15, 5)


def test_handles_widen_the_job_and_are_clamped(controller):
    controller.set_range(controller.current_id, 5, 15)
    controller.set_render_options({"codec": "ffv1"}, handles=3)
    job = controller.job(controller.current_id)
    assert (job.start_frame, job.end_frame) == (2, 18)
    controller.set_render_options({"codec": "ffv1"}, handles=12)
    assert (controller.job(controller.current_id).start_frame, controller.job(controller.current_id).end_frame) == (
        0,
        25,
    )


def test_closing_and_reopening_restores_every_choice(controller, clip_and_dub, tmp_path):
    clip_id = controller.current_id
    controller.set_range(clip_id, 3, 20)
    controller.choose_face(clip_id, (30.0, 20.0), 4)
    mask = controller.brush_mask_path(clip_id, 2, 9)
    prompts = [
        {"object_id": 1, "frame": 6, "points": [[12.0, 30.0]], "labels": [1], "box": None, "mask": None},
        {"object_id": 2, "frame": 9, "points": [], "labels": [], "box": None, "mask": str(mask)},
    ]
    controller.set_occluders(clip_id, prompts)
    controller.set_params(clip_id, {"seed": 7})
    controller.set_render_options({"codec": "ffv1", "steps": 12}, handles=2)
    expected_hash = controller.job(clip_id).content_hash()

    # A new process: nothing in memory, the same folder.
    reopened = PanelController(handles=0)
    reopened.open_video(*clip_and_dub, out_dir=tmp_path / "out")
    session = reopened.current
    assert (session.start_frame, session.end_frame) == (3, 20)
    assert session.face.point == (30.0, 20.0) and list(session.occluders) == prompts
    assert session.params == {"seed": 7} and reopened.options == RenderOptions(codec="ffv1", steps=12)
    assert reopened.handles == 2
    assert reopened.job(clip_id).content_hash() == expected_hash
    assert mask.parent.parent == SessionStore(tmp_path / "out").masks


def test_per_clip_params_are_limited_and_render_options_checked_like_the_command_line(controller):
    with pytest.raises(InvalidParameterError, match="cannot be set per clip"):
        controller.set_params(controller.current_id, {"codec": "h264"})
    with pytest.raises(InvalidParameterError, match="steps must be a whole number from 10 to 1000, not 3"):
        controller.set_render_options({"steps": 3})
    with pytest.raises(InvalidParameterError, match="handles"):
        controller.set_render_options({}, handles=-1)


def test_states_come_from_the_job_store_and_a_changed_clip_is_stale(controller, tmp_path):
    clip_id = controller.current_id
    assert controller.status(clip_id).state == "not rendered"
    job = controller.job(clip_id)
    output = tmp_path / "out" / job.output_name()
    output.write_bytes(b"rendered")
    with JobStore.for_folder(tmp_path / "out") as store:
        store.submit(job.job_id, job.name, job.content_hash(), job.to_dict())
        assert controller.status(clip_id).label() == "queued"
        store.claim_next("renderer", 60.0)
        store.heartbeat(job.job_id, "renderer", 60.0, JobProgress("keyframes", 2, 5, eta_seconds=30.0))
        # The share of the whole job: the stages before the keyframes are past (a snapshot of the store).
        assert controller.status(clip_id).label() == "rendering 22 % · keyframes · frame 2/5 · ETA 0:30"
        store.finish(job.job_id, "renderer", output, {"face": {"coverage": 0.96}, "mouth": {"open_share": 0.4}})
    status = controller.status(clip_id)
    assert (status.state, status.face_coverage, status.open_mouth_share) == ("done", 0.96, 0.4)
    controller.choose_face(clip_id, (30.0, 20.0), 0)
    assert controller.status(clip_id).state == "stale"


def test_status_labels():
    assert ClipStatus("rendering", progress=0.4, eta_seconds=72).label() == "rendering 40 % · ETA 1:12"
    assert ClipStatus("failed", message="dub audio is silent\nmore").label() == "failed: dub audio is silent"
    assert clip_status(None, "abc").state == "not rendered"


def test_export_writes_the_timeline_with_the_new_track(controller, tmp_path):
    clip_id = controller.current_id
    with pytest.raises(TimelineError, match="render the clips first"):
        controller.export_timeline(tmp_path / "cut.otio")
    job = controller.job(clip_id)
    output = tmp_path / "out" / job.output_name()
    output.write_bytes(b"rendered")
    with JobStore.for_folder(tmp_path / "out") as store:
        store.mark_done(job.job_id, job.name, job.content_hash(), job.to_dict(), output, {"frames": 25})
    path = controller.export_timeline(tmp_path / "cut.otio")
    timeline = otio.adapters.read_from_file(str(path))
    assert [track.name for track in timeline.video_tracks()] == ["Video 1", "Keydub Dub v1"]
    [rendered] = timeline.video_tracks()[1].find_clips()
    assert rendered.media_reference.target_url == str(output)
    assert rendered.source_range.start_time.to_frames() == 90000


def test_bad_inputs_are_clear_errors(tmp_path, clip_and_dub):
    video, dub = clip_and_dub
    controller = PanelController()
    with pytest.raises(AudioError, match="does not exist"):
        controller.open_video(video, tmp_path / "missing.wav", out_dir=tmp_path / "out")
    with pytest.raises(MediaNotFoundError):
        controller.open_video(tmp_path / "missing.mov", dub, out_dir=tmp_path / "out")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a sound file")
    with pytest.raises(AudioError):
        controller.open_video(video, not_audio, out_dir=tmp_path / "out")
    assert controller.opened is None


def test_a_timeline_opens_one_session_per_renderable_clip_and_restores_edits(tmp_path):
    fixture = write_dubbing_timeline(tmp_path)
    controller = PanelController()
    controller.open_timeline(fixture.path, ("DX es-419",), out_dir=tmp_path / "out")
    names = [session.name for session in controller.sessions]
    assert "sh010" in names and "sh040_missing" not in names
    skipped = dict(controller.opened.skipped)
    assert "offline" in skipped["sh040_missing"]
    sh010 = next(session for session in controller.sessions if session.name == "sh010")
    assert sh010.record_in == "01:00:00:00" and sh010.dub == "DX es-419"
    with pytest.raises(InvalidParameterError, match="trim it in the editor"):
        controller.set_range(sh010.clip_id, 0, 5)
    controller.choose_face(sh010.clip_id, (32.0, 20.0), sh010.start_frame)
    job = controller.job(sh010.clip_id)
    assert job.face.point == (32.0, 20.0) and job.job_id == f"DX es-419/{sh010.clip_id}"

    reopened = PanelController()
    reopened.open_timeline(fixture.path, ("DX es-419",), out_dir=tmp_path / "out")
    assert reopened.session(sh010.clip_id).face.point == (32.0, 20.0)
    assert reopened.job(sh010.clip_id).content_hash() == job.content_hash()


def test_a_session_round_trips_through_json():
    session = ClipSession(
        clip_id="c",
        name="shot",
        video="/media/shot.mov",
        start_frame=2,
        end_frame=9,
        occluders=({"object_id": 1, "frame": 3, "points": [[1.0, 2.0]], "labels": [1]},),
    )
    assert ClipSession.from_dict(session.to_dict()).to_dict() == session.to_dict()
    with pytest.raises(InvalidParameterError, match="empty"):
        ClipSession(clip_id="c", name="shot", video="/m.mov", start_frame=5, end_frame=5)


def test_keydub_panel_refuses_contradictory_arguments_with_one_line(capsys):
    from keydub.plugin.cli.main import main

    assert main(["panel", "--timeline", "EP101"]) == 1
    assert "--timeline, --export and --project name a Resolve timeline; add --resolve" in capsys.readouterr().err
    assert main(["panel", "--resolve", "cut.otio", "--dub-track", "DX"]) == 1
    assert "leave out the file argument" in capsys.readouterr().err
    assert main(["panel", "--resolve", "--export", "cut.otio"]) == 1
    assert "--export needs --project NAME and --timeline NAME" in capsys.readouterr().err


def test_the_dub_audio_is_written_only_when_asked_and_from_what_was_gathered(controller, clip_and_dub):
    clip_id = controller.current_id
    job = controller.job(clip_id, write_audio=False)
    assert not job.audio_file.exists()  # planning alone writes nothing (a window plans on its UI thread)
    write = controller.dub_audio_write([clip_id])
    assert write.audio_files == (job.audio_file,)
    # An edit after gathering (another range, so other audio) does not change what is written.
    controller.set_range(clip_id, 5, 20)
    write.run()
    assert job.audio_file.is_file() and job.audio_file.name == f"{job.audio_sha256}.wav"
    assert controller.job(clip_id).audio_file != job.audio_file


def test_a_dub_changed_after_planning_is_one_error_not_a_job_without_its_audio(controller, clip_and_dub):
    write = controller.dub_audio_write([controller.current_id])
    write_tone_wav(clip_and_dub[1], TONES["es_line2"], seconds=2)  # the dub replaced on disk meanwhile
    with pytest.raises(KeydubError, match=r"the dub audio changed while the job was being queued \(.*\.wav was not"):
        write.run()
    assert not write.audio_files[0].exists()


def test_a_dub_gone_after_planning_is_the_reason_the_clip_cannot_be_rendered(controller, clip_and_dub):
    write = controller.dub_audio_write([controller.current_id])
    clip_and_dub[1].unlink()
    with pytest.raises(KeydubError, match=r"^clip 'shot' cannot be rendered: .*dub\.wav"):
        write.run()

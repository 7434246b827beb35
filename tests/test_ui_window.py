"""The panel's main window, offscreen: opening on a thread, face boxes and the regeneration mask in pixels, a
click choosing the face (named in the clip list with its size), I/O setting the range, Render writing the dub audio
off the UI thread and then queuing, skipped timeline clips greyed in the list with their reason, a rendering clip's
bar of the whole job, clear messages for bad input, drag and drop, settings checked as the command line checks
them, the Play action following playback, a UI thread that never waits during analysis, and a panel without SAM2
whose occluder dock is one line with the install command while the rest works."""

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest


pytest.importorskip("PySide6")
from face_fixtures import template_landmarks  # noqa: E402
from heartbeat import Heartbeat  # noqa: E402
from media_fixtures import make_test_clip  # noqa: E402
from otio_fixtures import TONES, write_tone_wav  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from keydub.core.faces import FaceDetection  # noqa: E402
from keydub.plugin.panel.controller import PanelController  # noqa: E402
from keydub.plugin.panel.queue import QueueController  # noqa: E402
from keydub.ui.app import MainWindow  # noqa: E402
from keydub.ui.face_layers import CHOSEN_FACE_COLOUR, OTHER_FACE_COLOUR  # noqa: E402
from keydub.ui.settings import SettingsDialog, load_settings, save_settings  # noqa: E402


WIDTH, HEIGHT, FRAMES = 320, 240, 20
LEFT, RIGHT = template_landmarks(90, 110, 90), template_landmarks(235, 115, 100)


class TwoFaces:
    """Two faces on every frame (left and right), at known boxes; `delay` seconds of work per frame."""

    name = "two faces"

    def __init__(self, delay: float = 0.0, missing: range = range(0)) -> None:
        self.delay, self.missing, self.seen = delay, missing, 0

    def detect(self, frame):
        self.seen += 1
        if self.delay:
            time.sleep(self.delay)  # stands for a detector: releases the GIL as native code does
        if self.seen - 1 in self.missing:
            return []
        return [
            FaceDetection(box=(*landmarks.min(axis=0), *landmarks.max(axis=0)), score=1.0, landmarks=landmarks)
            for landmarks in (LEFT, RIGHT)
        ]


@pytest.fixture
def media(tmp_path):
    video = make_test_clip(
        tmp_path / "two_shot.mov", width=WIDTH, height=HEIGHT, frame_count=FRAMES, codec="h264", timecode="10:00:00:00"
    )
    dub = tmp_path / "dub.wav"
    write_tone_wav(dub, TONES["es_line2"], seconds=2)
    return video, dub


def make_window(qtbot, backend=None, **kwargs):
    window = MainWindow(PanelController(handles=0), backend_factory=lambda name: backend or TwoFaces(), **kwargs)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    return window


def open_and_analyse(qtbot, window, media, tmp_path):
    window.open_video(*media, out_dir=tmp_path / "out")
    qtbot.waitUntil(lambda: window.controller.current is not None and window.viewer.shown_frame == 0, timeout=10000)
    qtbot.waitUntil(lambda: window.controller.current_id in window.analyses, timeout=10000)


def face_size(landmarks) -> str:
    """`"W×H px"` of the detector box `TwoFaces` gives for `landmarks`."""
    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    return f"{x1 - x0:.0f}×{y1 - y0:.0f} px"


def face_id(window, landmarks) -> int:
    return window.analyses[window.controller.current_id].track_under(tuple(landmarks.mean(axis=0)), 0)


def screen_colour(window, x, y):
    view = window.viewer.view
    image = view.viewport().grab().toImage()
    return image.pixelColor(view.mapFromScene(QtCore.QPointF(x, y)))


def close_to(colour, expected, tolerance=40):
    got, wanted = (colour.red(), colour.green(), colour.blue()), (expected.red(), expected.green(), expected.blue())
    return all(abs(a - b) <= tolerance for a, b in zip(got, wanted, strict=True))


def click(qtbot, window, x, y):
    view = window.viewer.view
    qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view.mapFromScene(QtCore.QPointF(x, y)))


def test_opening_shows_the_clip_its_row_and_the_face_boxes(qtbot, media, tmp_path):
    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    model = window.clip_model
    assert model.rowCount() == 1
    row = [model.index(0, column).data() for column in range(model.columnCount())]
    largest = f"largest (face {face_id(window, RIGHT)}, {face_size(RIGHT)})"
    assert row[:7] == ["two_shot", "10:00:00:00", "10:00:00:19", "0-19 (20 fr)", "dub.wav", largest, "0"]
    assert row[7] == "not rendered"
    assert model.index(0, 5).data(QtCore.Qt.ItemDataRole.ToolTipRole).startswith("no face chosen")
    assert model.index(0, 3).data(QtCore.Qt.ItemDataRole.ToolTipRole) == row[3]  # whole, if the cell is elided
    # The status bar's task bar says what it tracks.
    bar = window.progress_bar
    assert bar.accessibleName() == "Task progress" and bar.toolTip() == "Finding faces in two_shot…"
    assert window.viewer.timecode_label.text() == "10:00:00:00"
    # Both boxes drawn in the "other face" colour on their left edges (no face chosen yet).
    for landmarks in (LEFT, RIGHT):
        x0, y0 = landmarks.min(axis=0)
        y1 = landmarks.max(axis=0)[1]
        assert close_to(screen_colour(window, x0, (y0 + y1) / 2), OTHER_FACE_COLOUR)
    assert "2 face(s) found" in window.message_label.text()


def test_a_click_chooses_the_face_and_its_box_turns_green(qtbot, media, tmp_path):
    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    click(qtbot, window, 235, 120)
    session = window.controller.current
    assert session.face.frame == 0 and abs(session.face.point[0] - 235) <= 2 and abs(session.face.point[1] - 120) <= 2
    assert window.controller.job(session.clip_id).face == session.face
    x0, y0 = RIGHT.min(axis=0)
    y1 = RIGHT.max(axis=0)[1]
    assert close_to(screen_colour(window, x0, (y0 + y1) / 2), CHOSEN_FACE_COLOUR)
    x0, y0 = LEFT.min(axis=0)
    assert close_to(screen_colour(window, x0, (y0 + LEFT.max(axis=0)[1]) / 2), OTHER_FACE_COLOUR)
    face = window.clip_model.index(0, 5)
    x, y = session.face.point
    assert face.data() == f"face {face_id(window, RIGHT)}, {face_size(RIGHT)}"
    assert face.data(QtCore.Qt.ItemDataRole.ToolTipRole) == (
        f"clicked at x {x:.0f}, y {y:.0f} on frame 0 (keydub render --face {x:.0f},{y:.0f}@0)"
    )
    # A click beside every face says so and changes nothing.
    click(qtbot, window, 160, 10)
    assert "no face under the click" in window.message_label.text()
    assert window.controller.current.face == session.face


def test_the_mask_toggle_tints_the_mouth_of_the_chosen_face_red(qtbot, media, tmp_path):
    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    window.controller.choose_face(window.controller.current_id, (90.0, 110.0), 0)
    mouth = LEFT[48:60].mean(axis=0)
    before = screen_colour(window, *mouth)
    window.mask_action.setChecked(True)
    after = screen_colour(window, *mouth)
    assert after.red() > before.red() + 60 and after.green() < before.green() + 10
    # The other face's mouth is not tinted, and switching the mask off gives the picture back.
    other = RIGHT[48:60].mean(axis=0)
    assert abs(screen_colour(window, *other).red() - screen_colour(window, *other).green()) < 30
    window.mask_action.setChecked(False)
    assert screen_colour(window, *mouth) == before


def test_i_and_o_set_the_clip_range_and_the_list_follows(qtbot, media, tmp_path):
    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    viewer = window.viewer
    viewer.setFocus()
    viewer.seek(4)
    qtbot.keyClick(viewer, QtCore.Qt.Key.Key_I)
    viewer.seek(15)
    qtbot.keyClick(viewer, QtCore.Qt.Key.Key_O)
    session = window.controller.current
    assert (session.start_frame, session.end_frame) == (4, 16)
    assert window.clip_model.index(0, 3).data() == "4-15 (12 fr)"
    assert window.clip_model.index(0, 1).data() == "10:00:00:04"
    # The faces are tracked again over the new range.
    qtbot.waitUntil(
        lambda: window.analyses.get(session.clip_id) is not None and window.analyses[session.clip_id].start == 4,
        timeout=10000,
    )


def test_frames_without_the_face_are_marked_on_the_scrub_bar(qtbot, media, tmp_path):
    window = make_window(qtbot, backend=TwoFaces(missing=range(6, 9)))
    open_and_analyse(qtbot, window, media, tmp_path)
    assert window.viewer.scrub.markers("no face") == {6, 7, 8}


@pytest.mark.parametrize("problem", ["missing dub", "unreadable clip", "no face", "missing video"])
def test_bad_input_gives_one_clear_message_and_a_live_window(qtbot, media, tmp_path, problem):
    video, dub = media
    backend = TwoFaces(missing=range(FRAMES)) if problem == "no face" else None
    window = make_window(qtbot, backend=backend)
    if problem == "missing dub":
        dub = tmp_path / "nowhere.wav"
    elif problem == "unreadable clip":
        video = tmp_path / "notes.mov"
        video.write_text("not a movie")
    elif problem == "missing video":
        video = tmp_path / "gone.mov"
    window.open_video(video, dub, out_dir=tmp_path / "out")
    qtbot.waitUntil(lambda: not window.is_busy() and window.is_error_shown, timeout=10000)
    expected = {
        "missing dub": "nowhere.wav",
        "unreadable clip": "notes.mov",
        "no face": "no face was found",
        "missing video": "gone.mov",
    }[problem]
    assert expected in window.message_label.text()
    assert "Traceback" not in window.message_label.toolTip()
    assert window.isVisible()


def test_render_without_a_queue_says_how_to_get_one(qtbot, media, tmp_path):
    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    window.render_action.trigger()
    assert "no render queue" in window.message_label.text()


def test_render_cancel_and_render_again_go_to_the_queue(qtbot, media, tmp_path):
    from keydub.plugin.panel.queue import QueueController

    class Queue(QueueController):
        """The folder's real queue, recording what the window asks instead of starting a worker."""

        calls = []

        def write_submission(self, jobs, force=False):  # on the queue dock's thread
            self.calls.append(("submit", [job.job_id for job in jobs], force))
            return []

        def write_cancel(self, job_ids):
            self.calls.append(("cancel", list(job_ids)))

    window = make_window(qtbot, queue_factory=Queue)
    open_and_analyse(qtbot, window, media, tmp_path)
    queue = window.queue_controller
    assert isinstance(queue, Queue) and queue.folder == tmp_path / "out"
    assert window.queue_panel is not None and window.queue_panel.controller is queue
    window.clip_list.selectRow(0)
    window.clip_list.render_action.trigger()
    assert window.message_label.text() == "queuing 1 clip(s)…"
    # At once, before the store's write: the clip and its queue row say so.
    assert window.clip_model.index(0, 7).data() == "submitting"
    assert window.queue_panel.model.index(0, 1).data() == "submitting"
    qtbot.waitUntil(lambda: queue.calls == [("submit", ["Dub/clip"], False)], timeout=10000)
    window.clip_list.cancel_action.trigger()
    qtbot.waitUntil(lambda: len(queue.calls) == 2, timeout=10000)
    with qtbot.waitSignal(window.queue_panel.submitted, timeout=10000):
        window.clip_list.rerender_action.trigger()
    assert queue.calls == [("submit", ["Dub/clip"], False), ("cancel", ["Dub/clip"]), ("submit", ["Dub/clip"], True)]
    assert window.message_label.text().startswith("already queued or rendered")


class RecordingQueue(QueueController):
    """A folder's real queue, recording on which thread each submission is written and whether the audio files its
    jobs name were there by then."""

    def __init__(self, folder):
        super().__init__(folder)
        self.submissions = []

    def write_submission(self, jobs, force=False):
        jobs = list(jobs)
        self.submissions.append(
            (threading.current_thread(), [(job.audio_file, job.audio_file.is_file()) for job in jobs])
        )
        return super().write_submission(jobs, force)


def slow_audio_writes(monkeypatch, seconds: float = 0.5, error: Exception | None = None) -> list:
    """Make the planner's WAV writer take `seconds` (a long clip's excerpt on a slow disk), or raise `error`; the
    list gets `(path, thread)` of each write."""
    from keydub.plugin.timeline import audio

    real_write_wav, writes = audio.write_wav, []

    def write_wav(path, samples, sample_rate):
        writes.append((Path(path), threading.current_thread()))
        time.sleep(seconds)  # sleeps without the GIL, as a disk write does
        if error is not None:
            raise error
        return real_write_wav(path, samples, sample_rate)

    monkeypatch.setattr(audio, "write_wav", write_wav)
    return writes


def test_without_sam2_the_occluder_dock_is_one_line_and_the_rest_of_the_panel_works(
    qtbot, media, tmp_path, monkeypatch
):
    from keydub.plugin.store import JobState, JobStore

    monkeypatch.setitem(sys.modules, "sam2", None)  # `import sam2` fails, as without the occlusion extra
    window = make_window(qtbot, queue_factory=RecordingQueue)
    dock = window.occluder_panel
    qtbot.waitUntil(lambda: dock.is_sam2_missing, timeout=10000)  # said before any clip is opened
    assert dock.status.text() == "Occluders need SAM2: pip install 'keydub[occlusion]'"
    assert dock.controls.isHidden() and dock.status.isVisible()
    # One line, never wrapped: the dock is as wide as the command.
    line_width = dock.status.fontMetrics().horizontalAdvance(dock.status.text())
    assert not dock.status.wordWrap() and dock.status.minimumSizeHint().width() >= line_width
    qtbot.waitUntil(lambda: dock.status.width() >= line_width, timeout=5000)
    # The clip opens, its faces are found and one is chosen by a click.
    open_and_analyse(qtbot, window, media, tmp_path)
    assert window.viewer.shown_frame == 0 and len(window.analyses[window.controller.current_id].boxes_at(0)) == 2
    click(qtbot, window, 235, 120)
    assert abs(window.controller.current.face.point[0] - 235) <= 2
    # Render queues the clip, without occluders.
    window.queue_panel.auto_start = False  # no worker: the store's row is what is checked
    window.clip_list.selectRow(0)
    with qtbot.waitSignal(window.queue_panel.submitted, timeout=10000) as submitted:
        window.render_action.trigger()
    assert submitted.args == [["Dub/clip"]]
    with JobStore.for_folder(tmp_path / "out", read_only=True) as store:
        record = store.get("Dub/clip")
    assert record.state is JobState.PENDING and record.job["occluders"] == []
    assert record.job["face"]["point"][0] == pytest.approx(235, abs=2)
    # The dock still says the one line; nothing tried to load SAM2 for the clip.
    assert dock.status.text() == "Occluders need SAM2: pip install 'keydub[occlusion]'" and dock.editor is None
    assert not window.is_error_shown
    window.queue_panel.shutdown()


def test_render_writes_the_dub_audio_off_the_ui_thread_then_queues_the_job(qtbot, media, tmp_path, monkeypatch):
    from keydub.plugin.store import JobState, JobStore

    window = make_window(qtbot, queue_factory=RecordingQueue)
    open_and_analyse(qtbot, window, media, tmp_path)
    window.queue_panel.auto_start = False  # no worker: the store's row is what is checked
    writes = slow_audio_writes(monkeypatch)
    heartbeat = Heartbeat()
    heartbeat.start()
    window.clip_list.selectRow(0)
    started = time.perf_counter()
    with qtbot.waitSignal(window.queue_panel.submitted, timeout=10000) as submitted:
        window.clip_list.render_action.trigger()
        clicked = time.perf_counter() - started
        # At once, before the audio's write: the clip and its queue row say so.
        assert window.clip_model.index(0, 7).data() == "submitting"
        assert window.queue_panel.model.index(0, 1).data() == "submitting"
    heartbeat.stop()
    assert clicked < 0.25, clicked
    assert heartbeat.longest_wait() < 0.25, heartbeat_report(heartbeat)

    # The audio was written on the dock's thread, then the same thread queued the job that names it.
    queue = window.queue_controller
    [(audio_file, audio_thread)] = writes
    [(submit_thread, named)] = queue.submissions
    assert audio_thread is submit_thread is not threading.main_thread()
    assert named == [(audio_file, True)] and submitted.args == [["Dub/clip"]]
    with JobStore.for_folder(tmp_path / "out", read_only=True) as store:
        record = store.get("Dub/clip")
    assert record.state is JobState.PENDING and record.job["audio_file"] == str(audio_file)
    # The same audio as the controller writes on its own thread for a script.
    monkeypatch.undo()
    scripted = PanelController(handles=0)
    scripted.open_video(*media, out_dir=tmp_path / "scripted")
    assert scripted.job(scripted.current_id).audio_file.read_bytes() == audio_file.read_bytes()
    window.queue_panel.shutdown()


def test_a_job_queued_after_a_slow_audio_write_renders_with_that_audio(qtbot, media, tmp_path, monkeypatch):
    from queue_fixtures import subprocess_environment

    from keydub.core.media import load_audio
    from keydub.plugin.store import JobState

    window = make_window(
        qtbot, queue_factory=lambda folder: QueueController(folder, device="cpu", engine="queue_fixtures:copy_engine")
    )
    open_and_analyse(qtbot, window, media, tmp_path)
    window.controller.set_render_options({"codec": "ffv1"})
    window.queue_panel.environment = subprocess_environment()
    writes = slow_audio_writes(monkeypatch)
    window.clip_list.selectRow(0)
    window.clip_list.render_action.trigger()
    rows = window.queue_panel.model
    qtbot.waitUntil(lambda: [row.state for row in rows.rows] == [JobState.DONE], timeout=120000)
    [(audio_file, _thread)] = writes
    # The copy stand-in muxes the job's audio under the frames: the render carries the excerpt written.
    rendered, written = load_audio(rows.rows[0].output), load_audio(audio_file)
    assert rendered.size == written.size == 16000 * FRAMES // 25  # the clip's 20 frames at 25 fps
    assert np.abs(rendered - written).max() < 1e-3
    window.queue_panel.shutdown()


def test_an_audio_write_that_fails_is_one_line_and_queues_nothing(qtbot, media, tmp_path, monkeypatch):
    from keydub.core.errors import OutputNotWritableError

    window = make_window(qtbot, queue_factory=RecordingQueue)
    open_and_analyse(qtbot, window, media, tmp_path)
    window.queue_panel.auto_start = False
    error = OutputNotWritableError("cannot write /renders/.keydub/audio/1f.wav (No space left on device)\nmore")
    slow_audio_writes(monkeypatch, seconds=0.1, error=error)
    window.clip_list.selectRow(0)
    with qtbot.waitSignal(window.queue_panel.write_failed, timeout=10000):
        window.clip_list.render_action.trigger()
    assert window.message_label.text() == (
        "Could not queue 1 job(s): cannot write /renders/.keydub/audio/1f.wav (No space left on device)"
    )
    assert window.is_error_shown and window.queue_controller.submissions == []
    qtbot.waitUntil(lambda: window.queue_panel.model.rows == [], timeout=5000)
    window.queue_panel.shutdown()


def test_a_rendering_clip_shows_one_bar_for_the_whole_job_with_its_stage(qtbot, media, tmp_path):
    from keydub.core.progress import Stage, Unit
    from keydub.plugin.panel.job_progress import JobProgressView
    from keydub.plugin.panel.queue import QueueRow
    from keydub.plugin.store import JobProgress, JobState, JobStore
    from keydub.ui.clips.model import FRACTION_ROLE, STATE_COLUMN
    from keydub.ui.progress_delegate import BAR_MAXIMUM

    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    job = window.controller.job(window.controller.current_id)
    with JobStore.for_folder(tmp_path / "out") as store:
        store.submit(job.job_id, job.name, job.content_hash(), job.to_dict())
        store.claim_next("batch", 60.0)
        store.heartbeat(job.job_id, "batch", 60.0, JobProgress(Stage.KEYFRAMES, 11, 22, Unit.STEPS, eta_seconds=90.0))
    model, view = window.clip_model, window.clip_list
    model.refresh_states()
    index = model.index(0, STATE_COLUMN)
    assert index.data() == "rendering 23 % · keyframes · step 11/22 · ETA 1:30"
    # The queue's live view of its worker's job is newer than the store's snapshot.
    live = JobProgressView(0.47, Stage.INTERPOLATION, 33, 66, Unit.STEPS, eta_seconds=72.0)
    model.set_queue_rows([QueueRow(job.job_id, job.name, JobState.RUNNING, live)])
    assert (
        index.data() == "rendering 47 % · interpolation · step 33/66 · ETA 1:12" and index.data(FRACTION_ROLE) == 0.47
    )
    option = QtWidgets.QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = view.visualRect(index)
    bar = view.itemDelegateForColumn(STATE_COLUMN).bar_option(option, index)
    assert bar.progress == round(0.47 * BAR_MAXIMUM) and bar.text == index.data()  # the column fits the text
    assert view.columnWidth(STATE_COLUMN) >= view.fontMetrics().horizontalAdvance(index.data())
    assert index.data(QtCore.Qt.ItemDataRole.ToolTipRole) == index.data()
    # When the job ends, the list reads its outcome from the store at once.
    with JobStore.for_folder(tmp_path / "out") as store:
        store.fail(job.job_id, "batch", "dub audio is silent")
    model.set_queue_rows([QueueRow(job.job_id, job.name, JobState.FAILED)])
    assert index.data() == "failed: dub audio is silent" and index.data(FRACTION_ROLE) is None


def test_skipped_timeline_clips_are_greyed_rows_with_their_reason(qtbot, tmp_path):
    from otio_fixtures import write_dubbing_timeline

    from keydub.ui.clips.model import SKIPPED, STATE_COLUMN, STATE_ROLE

    fixture = write_dubbing_timeline(tmp_path)
    window = make_window(qtbot)
    window.open_timeline(fixture.path, ("DX es-419",), tmp_path / "out")
    qtbot.waitUntil(lambda: window.controller.current is not None, timeout=20000)
    model = window.clip_model
    skipped = dict(window.controller.opened.skipped)
    renderable = len(window.controller.sessions)
    assert skipped and model.rowCount() == renderable + len(skipped)
    rows = {model.index(row, 0).data(): row for row in range(renderable, model.rowCount())}
    row = rows["sh040_missing"]
    state = model.index(row, STATE_COLUMN)
    assert state.data() == f"skipped: {skipped['sh040_missing']}" and "offline" in state.data()
    assert state.data(STATE_ROLE) == SKIPPED and state.data(QtCore.Qt.ItemDataRole.ToolTipRole).startswith(
        "sh040_missing cannot be rendered: "
    )
    assert model.flags(state) == QtCore.Qt.ItemFlag.NoItemFlags
    # A long reason does not widen the State column past a rendering label: it ends in "…", the tooltip has it.
    view = window.clip_list
    label = "rendering 100 % · interpolation · step 888/888 · ETA 88:88"
    assert view.fontMetrics().horizontalAdvance(state.data()) > view.columnWidth(STATE_COLUMN)
    assert (
        view.fontMetrics().horizontalAdvance(label)
        < view.columnWidth(STATE_COLUMN)
        < 1.2 * (view.fontMetrics().horizontalAdvance(label))
    )
    assert state.data(QtCore.Qt.ItemDataRole.ForegroundRole).lightness() == 140
    # Select everything: only the renderable clips are rendered.
    window.clip_list.selectAll()
    assert len(window.clip_list.selected_clip_ids()) == renderable
    assert "cannot be rendered (greyed in the list)" in window.message_label.text()


def test_a_worker_that_cannot_start_is_one_line_in_the_window(qtbot, media, tmp_path):
    from keydub.plugin.panel.queue import QueueController

    window = make_window(qtbot, queue_factory=lambda folder: QueueController(folder, engine="no_such_module:engine"))
    open_and_analyse(qtbot, window, media, tmp_path)
    window.clip_list.selectRow(0)
    window.render_action.trigger()
    qtbot.waitUntil(
        lambda: window.is_error_shown and "no_such_module" in window.message_label.toolTip(), timeout=120000
    )
    assert "\n" not in window.message_label.text() and window.isVisible()
    window.queue_panel.shutdown()


def test_dropping_a_video_and_its_dub_opens_them(qtbot, media, tmp_path):
    window = make_window(qtbot)
    window.open_paths([media[0]])
    assert "needs its dub" in window.message_label.text()
    window.open_paths(list(media))
    qtbot.waitUntil(lambda: window.controller.current is not None, timeout=10000)
    assert window.controller.current.video == media[0]


def test_the_ui_thread_never_waits_more_than_50_ms_during_analysis(qtbot, media, tmp_path):
    window = make_window(qtbot)
    open_and_analyse(qtbot, window, media, tmp_path)
    first = window.analyses[window.controller.current_id]
    slow = TwoFaces(delay=0.05)  # a detector at 20 frames a second
    slow.name = "two faces, slowly"  # another backend: its own landmark pass, not the one cached for the first
    window.backend_factory = lambda name: slow
    heartbeat = Heartbeat()
    heartbeat.start()
    started = time.perf_counter()
    window.analyse_current()
    qtbot.waitUntil(lambda: window.analyses[window.controller.current_id] is not first, timeout=10000)
    heartbeat.stop()
    assert time.perf_counter() - started > FRAMES * 0.05  # the analysis really ran while the timer beat
    assert heartbeat.count > 50
    assert heartbeat.longest_wait() < 0.05, heartbeat_report(heartbeat)


def heartbeat_report(heartbeat: Heartbeat) -> str:
    """What a failed heartbeat assertion shows: the wait it measured, the wall clock and the UI thread's own work."""
    return (
        f"the UI thread waited {heartbeat.longest_wait() * 1000:.0f} ms ({heartbeat.longest_gap() * 1000:.0f} ms wall "
        f"clock, {heartbeat.longest_busy() * 1000:.0f} ms busy)"
    )


def test_settings_refuse_what_the_command_line_refuses_and_persist(qtbot, tmp_path):
    dialog = SettingsDialog({"codec": "prores"}, handles=12, weights_status=[])
    qtbot.addWidget(dialog)
    dialog.fields["steps"].setText("3")
    dialog._on_ok_click()
    assert "--steps: 3 is out of range: allowed 10 to 1000" in dialog.error_label.text()
    assert dialog.result() != QtWidgets.QDialog.DialogCode.Accepted
    dialog.fields["steps"].setText("12")
    dialog.fields["codec"].setCurrentText("ffv1")
    dialog.fields["handles"].setText("6")
    dialog._on_ok_click()
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted
    assert dialog.options.steps == 12 and dialog.options.codec == "ffv1" and dialog.handles == 6

    from PySide6.QtCore import QSettings

    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    save_settings(settings, dialog.options, dialog.handles, 2 << 30)
    options, handles, cache = load_settings(QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat))
    assert options == dialog.options and handles == 6 and cache == 2 << 30
    assert np.isfinite(options.audio_guidance)


def test_playback_notes_reach_the_status_bar_as_plain_messages_and_failures_as_errors(qtbot):
    window = make_window(qtbot)
    window.compare.playback_notice.emit("no audio output device: playing without sound")
    assert window.message_label.text() == "no audio output device: playing without sound"
    assert not window.is_error_shown
    window.compare.playback_failed.emit("cannot play /renders/sh010.mkv: no video stream\nmore detail")
    assert window.message_label.text() == "cannot play /renders/sh010.mkv: no video stream" and window.is_error_shown


def test_the_play_action_shows_whether_the_compare_view_plays_and_unchecks_at_the_end(qtbot):
    from keydub.ui.app import PLAY_TEXT, STOP_TEXT

    window = make_window(qtbot)
    assert window.play_action.isCheckable() and not window.play_action.isChecked()
    window.compare.playing_changed.emit(True)
    assert window.play_action.isChecked() and window.play_action.text() == STOP_TEXT
    window.compare.playing_changed.emit(False)  # what the end of the file emits, with no click
    assert not window.play_action.isChecked() and window.play_action.text() == PLAY_TEXT
    # A click with nothing to play leaves it unchecked, with the reason.
    window.play_action.trigger()
    assert not window.play_action.isChecked() and window.is_error_shown

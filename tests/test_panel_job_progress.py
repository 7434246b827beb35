"""One progress bar per job, without Qt: the share of the whole job from a render's stream of stage events, which only
goes forward, and its text; the queue controller's rows built from it; the clip list's status and face labels."""

from pathlib import Path

import numpy as np
import pytest
from face_fixtures import template_landmarks

from keydub.core.faces.tracking import FaceTrack
from keydub.core.progress import Stage, Unit
from keydub.core.render.request import FaceChoice
from keydub.plugin.jobs import ClipJob
from keydub.plugin.panel.analysis import FaceAnalysis
from keydub.plugin.panel.events import QueueChanged
from keydub.plugin.panel.face_label import face_label
from keydub.plugin.panel.job_progress import STAGE_WEIGHTS, JobProgressTracker, clock_text, progress_view
from keydub.plugin.panel.queue import QueueController
from keydub.plugin.panel.status import ClipStatus, clip_status
from keydub.plugin.store import JobProgress, JobState, JobStore
from keydub.plugin.worker.protocol import Claimed, Done, ProgressEvent


FRAMES = 40
SEGMENTS = ((0, 20), (25, 40))  # frames 20-24 pass through (no face)
STEPS_PER_SEGMENT = 11


def render_events() -> list[JobProgress]:
    """The events of a render of `FRAMES` frames with two face segments, in the order `render_clip` sends them:
    landmarks, the model load, then per segment its crops, audio windows (counted per segment), keyframe steps and
    interpolation steps (counted over the render), with the output frames written as the windows come."""
    crop_total = sum(b - a for a, b in SEGMENTS)
    steps_total = STEPS_PER_SEGMENT * len(SEGMENTS)
    events = [JobProgress(Stage.LANDMARKS, i, FRAMES) for i in range(1, FRAMES + 1)]
    events += [JobProgress(Stage.LOAD_MODEL, 0, 1), JobProgress(Stage.LOAD_MODEL, 1, 1)]
    crops = steps = written = 0
    for start, end in SEGMENTS:
        while written < start:  # frames without the face are written before the next segment starts
            written += 1
            events.append(JobProgress(Stage.RENDER, written, FRAMES))
        for _ in range(start, end):
            crops += 1
            events.append(JobProgress(Stage.CROP, crops, crop_total))
        events += [JobProgress(Stage.AUDIO_FEATURES, i, 5, Unit.ITEMS) for i in range(1, 6)]
        events += [
            JobProgress(Stage.KEYFRAMES, steps + i, steps_total, Unit.STEPS) for i in range(1, STEPS_PER_SEGMENT + 1)
        ]
        for i in range(1, STEPS_PER_SEGMENT + 1):
            events.append(JobProgress(Stage.INTERPOLATION, steps + i, steps_total, Unit.STEPS, eta_seconds=30.0))
            if i == STEPS_PER_SEGMENT:
                while written < end:
                    written += 1
                    events.append(JobProgress(Stage.RENDER, written, FRAMES))
        steps += STEPS_PER_SEGMENT
    while written < FRAMES:
        written += 1
        events.append(JobProgress(Stage.RENDER, written, FRAMES))
    return events


def test_the_job_share_only_goes_forward_and_ends_with_the_last_frame():
    tracker = JobProgressTracker()
    fractions = [tracker.update(event).fraction for event in render_events()]
    stage_fractions = [event.done / event.total for event in render_events()]
    # The stage's own share drops back at each new stage (what a bar per stage showed); the job's never does.
    assert any(later < earlier for earlier, later in zip(stage_fractions, stage_fractions[1:], strict=False))
    assert all(later >= earlier for earlier, later in zip(fractions, fractions[1:], strict=False))
    assert fractions[-1] == 1.0 and fractions.count(1.0) == 1
    assert fractions[FRAMES - 1] == pytest.approx(STAGE_WEIGHTS[Stage.LANDMARKS] / 100)  # all landmarks
    # The denoising steps move the bar most: keyframes and interpolation are 68 of its 100 points.
    steps = [
        (after - before)
        for event, before, after in zip(render_events(), [0.0, *fractions], fractions, strict=False)
        if event.unit == Unit.STEPS
    ]
    assert sum(steps) > 0.5 and max(steps) < 0.04


def test_the_share_at_known_points_of_the_render():
    tracker = JobProgressTracker()
    for event in render_events():
        view = tracker.update(event)
        if (event.stage, event.done) == (Stage.INTERPOLATION, STEPS_PER_SEGMENT):
            # Landmarks and model load done, occlusion skipped (past): 18 points; the first segment's 20 of 35
            # crops, its audio windows, half the keyframe and interpolation steps; none of its frames written yet.
            assert view.fraction == pytest.approx((18 + 3 * 20 / 35 + 1 + (6 + 62) / 2) / 100)
            assert view.text() == "interpolation · step 11/22 · ETA 0:30"
    assert tracker.view.text() == f"render · frame {FRAMES}/{FRAMES}"


def test_stages_a_render_skips_count_as_past_and_older_snapshots_do_not_move_the_bar_back():
    tracker = JobProgressTracker()
    # No landmarks (the clip's analysis was cached) and no occluders: the model load is the first event.
    assert tracker.update(JobProgress(Stage.LOAD_MODEL, 0, 1)).fraction == pytest.approx(0.08)
    assert tracker.update(JobProgress(Stage.CROP, 10, 10)).fraction == pytest.approx((18 + 3) / 100)
    # The store's snapshots, read every second, can arrive late and out of order.
    later = tracker.update(JobProgress(Stage.INTERPOLATION, 20, 22, Unit.STEPS)).fraction
    earlier = tracker.update(JobProgress(Stage.KEYFRAMES, 12, 22, Unit.STEPS))
    assert earlier.fraction == later and earlier.stage_text() == "keyframes · step 12/22"
    # One snapshot alone: the stages before it are past, those interleaved with it as far as it is.
    view = progress_view(JobProgress(Stage.INTERPOLATION, 11, 22, Unit.STEPS, eta_seconds=3725))
    assert view.fraction == pytest.approx((18 + (3 + 1 + 6 + 62) / 2) / 100)
    assert view.text() == "interpolation · step 11/22 · ETA 1:02:05"
    assert progress_view(None) is None
    # A finished stage with nothing after it yet: the worker says 0 s left, the job is not done.
    assert progress_view(JobProgress(Stage.AUDIO_FEATURES, 1, 1, Unit.ITEMS, eta_seconds=0.0)).eta_text() == ""
    assert progress_view(JobProgress(Stage.RENDER, 9, 9, eta_seconds=0.0)).text() == "render · frame 9/9 · ETA 0:00"


def test_an_engine_of_ones_own_moves_the_bar_by_its_own_stage():
    tracker = JobProgressTracker()
    assert [tracker.update(JobProgress("copy", done, 4)).fraction for done in (1, 2, 4)] == [0.25, 0.5, 1.0]
    assert tracker.view.stage_text() == "copy · frame 4/4"
    assert JobProgressTracker().update(JobProgress(Stage.LOAD_MODEL, 0, 1)).stage_text() == "load model"
    assert [clock_text(seconds) for seconds in (0, 72.4, 3600, -3)] == ["0:00", "1:12", "1:00:00", "0:00"]


@pytest.fixture
def job(tmp_path) -> ClipJob:
    from fractions import Fraction

    from media_fixtures import make_test_clip
    from test_render import write_wav

    from keydub.plugin.panel.controller import PanelController

    clip = make_test_clip(tmp_path / "shot.mkv", frame_count=12, frame_rate=Fraction(25))
    controller = PanelController(render_options={"codec": "ffv1"}, handles=0)
    controller.open_video(clip, write_wav(tmp_path / "dub.wav", 12 / 25), tmp_path / "renders")
    return controller.job(controller.current_id)


def test_queue_rows_carry_the_job_share_from_the_worker_events(job, tmp_path):
    queue = QueueController(tmp_path / "renders")
    queue.submit([job])
    with JobStore.for_folder(queue.folder) as store:
        store.claim_next("worker-1", 60.0)
    queue.handle_event(Claimed(job_id=job.job_id, name=job.name, attempt=1, owner="worker-1", device="cpu"))
    queue.reload()
    seen = []
    for event in render_events():
        queue.handle_event(
            ProgressEvent(job.job_id, event.stage, event.done, event.total, event.unit, event.eta_seconds)
        )
        seen.append(queue.rows()[0])
    fractions = [row.fraction for row in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    middle = seen[len(seen) // 2]
    assert middle.progress_text() == middle.progress.stage_text() and " · " in middle.progress_text()
    # A store read while the worker renders keeps the live bar (the heartbeat's snapshot is older).
    queue.reload()
    assert queue.rows()[0].fraction == 1.0
    queue.handle_event(Done(job_id=job.job_id, output=str(tmp_path / "out.mkv")))
    assert queue.rows()[0].progress is None


def test_a_job_another_process_renders_gets_its_bar_from_the_store(job, tmp_path):
    queue = QueueController(tmp_path / "renders")
    queue.submit([job])
    with JobStore.for_folder(queue.folder) as store:
        store.claim_next("batch", 60.0)
        store.heartbeat(job.job_id, "batch", 60.0, JobProgress(Stage.INTERPOLATION, 20, 22, Unit.STEPS, 12.0))
        queue.reload()
        first = queue.rows()[0]
        # An older snapshot (a late write): the bar stays.
        store.heartbeat(job.job_id, "batch", 60.0, JobProgress(Stage.KEYFRAMES, 15, 22, Unit.STEPS, 10.0))
        queue.reload()
        second = queue.rows()[0]
        # The batch stops and another process takes the job again before the next read: its bar starts over.
        store.release(job.job_id, "batch")
        store.claim_next("batch-2", 60.0)
        store.heartbeat(job.job_id, "batch-2", 60.0, JobProgress(Stage.LANDMARKS, 3, 12))
        queue.reload()
    third = queue.rows()[0]
    assert first.state is JobState.RUNNING and first.progress_text() == "interpolation · step 20/22"
    assert second.fraction == first.fraction and second.eta_text() == "0:10"
    assert third.attempts == 2 and third.fraction == pytest.approx(0.02)


def test_submitting_rows_show_at_once_and_go_when_written(job, tmp_path):
    queue = QueueController(tmp_path / "renders")
    events = []
    queue.register_event_callback(QueueChanged, events.append)
    queue.begin_submit([job])
    (row,) = queue.rows()
    assert (row.state_text(), row.is_submitting, row.can_cancel, row.fraction) == ("submitting", True, False, None)
    queued = queue.write_submission([job])
    assert queue.rows()[0].is_submitting  # nothing changes on this side until the answer is taken
    queue.finish_write([job.job_id], queue.read_records())
    (row,) = queue.rows()
    assert queued == [job.job_id] and (row.state, row.is_submitting, row.state_text()) == (
        JobState.PENDING,
        False,
        "pending",
    )
    queue.begin_submit([job])
    queue.finish_write([job.job_id])  # a failed write: the mark goes and the rows are read again
    assert [event.is_stale for event in events] == [False, False, False, True]
    assert not queue.rows()[0].is_submitting


def test_the_clip_status_shows_the_job_share_and_the_stage():
    assert ClipStatus("rendering", progress=0.4, eta_seconds=72).label() == "rendering 40 % · ETA 1:12"
    status = ClipStatus("rendering", progress=0.47, eta_seconds=72, stage="interpolation · step 33/66")
    assert status.label() == "rendering 47 % · interpolation · step 33/66 · ETA 1:12"

    class Record:
        state, job_hash, message, result = JobState.RUNNING, "abc", None, None
        progress = JobProgress(Stage.KEYFRAMES, 11, 22, Unit.STEPS, eta_seconds=30.0)

    status = clip_status(Record(), "abc")
    assert status.label() == "rendering 23 % · keyframes · step 11/22 · ETA 0:30"


def analysis_with_one_face() -> FaceAnalysis:
    """Frames 10-14 of a clip with one face, box 100-312 x 50-290 (212 x 240 px)."""
    count = 5
    landmarks = np.tile(template_landmarks(206, 170, 212).astype(np.float32), (count, 1, 1))
    track = FaceTrack(
        track_id=2,
        first_frame=0,
        present=np.ones(count, dtype=bool),
        boxes=np.tile(np.array([100, 50, 312, 290], dtype=np.float32), (count, 1)),
        landmarks=landmarks,
    )
    return FaceAnalysis(Path("shot.mov"), 10, 15, [track])


def test_the_face_cell_names_the_face_and_its_size_with_the_click_in_the_tooltip():
    clicked = FaceChoice(point=(212.4, 170.0), frame=12)
    label = face_label(clicked, 10)
    assert label.text == "clicked face (frame 12)"
    assert label.tooltip == "clicked at x 212, y 170 on frame 12 (keydub render --face 212,170@12)"
    analysis = analysis_with_one_face()
    assert face_label(clicked, 10, analysis).text == "face 2, 212×240 px"
    assert face_label(FaceChoice(), 10, analysis).text == "largest (face 2, 212×240 px)"
    assert face_label(FaceChoice(), 10).text == "largest face"
    assert face_label(FaceChoice(track_id=2), 10).tooltip == "face track 2 (keydub render --face-track 2)"
    away = face_label(FaceChoice(point=(5.0, 5.0), frame=30), 10, analysis)
    assert away.text == "clicked face (frame 30): not found on frame 30"

"""Face tracking, smoothing, selection and coverage on synthetic detections (no detector, no media)."""

import numpy as np
import pytest

from keydub.core.errors import InvalidParameterError, NoFaceFoundError
from keydub.core.faces import (
    FaceDetection,
    LandmarkSmoothing,
    OneEuroConfig,
    face_coverage,
    select_track,
    smooth_landmarks,
    track_faces,
)
from keydub.core.progress import Progress


def face_points(cx: float, cy: float, size: float, mouth_open: float = 0.0) -> np.ndarray:
    """A 68-point face in iBUG 300-W order, centred at `(cx, cy)`, `size` pixels wide."""
    jaw_angle = np.linspace(np.pi, 0, 17)
    jaw = np.stack([0.5 * np.cos(jaw_angle), 0.05 + 0.5 * np.sin(jaw_angle)], 1)
    brow = np.stack([np.linspace(-0.42, -0.08, 5), -0.28 + 0.03 * np.abs(np.linspace(-1, 1, 5))], 1)
    brows = np.concatenate([brow, brow[::-1] * [-1, 1]])
    nose = np.concatenate(
        [
            np.stack([np.zeros(4), np.linspace(-0.2, 0.08, 4)], 1),
            np.stack([np.linspace(-0.1, 0.1, 5), np.full(5, 0.12)], 1),
        ]
    )
    eye_angle = np.linspace(np.pi, -np.pi, 6, endpoint=False)
    eye = np.stack([0.09 * np.cos(eye_angle), 0.04 * np.sin(eye_angle)], 1)
    eyes = np.concatenate([eye + [-0.22, -0.15], eye + [0.22, -0.15]])
    outer_angle = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    inner_angle = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    outer = np.stack([0.2 * np.cos(outer_angle), 0.3 + (0.06 + mouth_open) * -np.sin(outer_angle)], 1)
    inner = np.stack([0.13 * np.cos(inner_angle), 0.3 + (0.01 + mouth_open) * -np.sin(inner_angle)], 1)
    unit = np.concatenate([jaw, brows, nose, eyes, outer, inner])
    return (unit * size + [cx, cy]).astype(np.float32)


def detection(points: np.ndarray, score: float = 1.0) -> FaceDetection:
    """A detection whose box is the landmarks' bounding box."""
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return FaceDetection(box=(float(x0), float(y0), float(x1), float(y1)), score=score, landmarks=points)


class ScriptedBackend:
    """A landmark backend that returns prepared detections, one list per call, in order."""

    name = "scripted"

    def __init__(self, script: list[list[FaceDetection]]) -> None:
        self._script = iter(script)
        self.calls = 0

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        self.calls += 1
        return next(self._script)


def run_tracking(script: list[list[FaceDetection]], **options) -> list:
    """Track a scripted sequence over blank 8x8 frames (the scripted backend ignores the pixels)."""
    frames = (np.zeros((8, 8, 3), np.uint8) for _ in script)
    return track_faces(frames, ScriptedBackend(script), **options)


def still_face_frames(count: int, noise: float, seed: int = 0, cx: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    truth = np.repeat(face_points(cx, 300, 100)[None], count, 0)
    noisy = truth + np.random.default_rng(seed).normal(0, noise, truth.shape).astype(np.float32)
    return truth, noisy


def test_two_faces_followed_as_two_tracks_numbered_left_to_right():
    script = [
        [detection(face_points(700 - t, 300, 120)), detection(face_points(200 + 2 * t, 320, 100))] for t in range(20)
    ]
    tracks = run_tracking(script, smoothing=None)
    assert [t.track_id for t in tracks] == [0, 1]
    assert [(t.first_frame, t.last_frame, t.frames_present) for t in tracks] == [(0, 19, 20), (0, 19, 20)]
    left, right = tracks
    # Track 0 is the face that starts on the left; it moved 2 px per frame and keeps its own landmarks.
    np.testing.assert_array_equal(left.landmarks[19], face_points(238, 320, 100))
    np.testing.assert_array_equal(right.landmarks[19], face_points(681, 300, 120))
    assert left.landmarks.dtype == np.float32 and left.landmarks.shape == (20, 68, 2)
    assert left.boxes.shape == (20, 4) and left.present.all()


def test_cut_starts_a_new_track():
    before = [[detection(face_points(300, 300, 100))] for _ in range(10)]
    after = [[detection(face_points(900, 500, 100))] for _ in range(8)]
    tracks = run_tracking(before + after)
    assert [(t.track_id, t.first_frame, t.last_frame) for t in tracks] == [(0, 0, 9), (1, 10, 17)]
    assert np.allclose(tracks[1].landmarks[0], face_points(900, 500, 100), atol=1e-3)


def test_size_jump_at_the_same_place_is_a_new_track():
    script = [[detection(face_points(300, 300, 100))] for _ in range(5)]
    script += [[detection(face_points(300, 300, 200))] for _ in range(5)]
    tracks = run_tracking(script)
    assert [(t.first_frame, t.last_frame) for t in tracks] == [(0, 4), (5, 9)]


def test_missed_frames_within_max_gap_are_marked_missing():
    script = [[detection(face_points(300 + t, 300, 100))] for t in range(30)]
    for missed in (10, 20, 21, 22):
        script[missed] = []
    (track,) = run_tracking(script, max_gap=3)
    assert (track.first_frame, track.last_frame, track.frames_present) == (0, 29, 26)
    assert np.flatnonzero(~track.present).tolist() == [10, 20, 21, 22]
    assert np.isnan(track.landmarks[~track.present]).all() and np.isnan(track.boxes[~track.present]).all()
    assert np.isfinite(track.landmarks[track.present]).all()
    assert track.box_at(10) is None and track.box_at(11) is not None


def test_gap_longer_than_max_gap_splits_the_track():
    script = [[detection(face_points(300, 300, 100))] for _ in range(20)]
    for missed in range(8, 12):
        script[missed] = []
    tracks = run_tracking(script, max_gap=3)
    assert [(t.first_frame, t.last_frame, t.frames_present) for t in tracks] == [(0, 7, 8), (12, 19, 8)]


def test_frames_without_faces_give_no_tracks_and_a_clear_error():
    tracks = run_tracking([[] for _ in range(6)])
    assert tracks == []
    assert face_coverage(tracks, 6) == {"frame_count": 6, "frames_with_face": 0, "face_share": 0.0, "tracks": []}
    with pytest.raises(NoFaceFoundError, match="no face was found"):
        select_track(tracks)


def test_face_appearing_late_starts_at_its_first_frame():
    script = [[] for _ in range(4)] + [[detection(face_points(300, 300, 100))] for _ in range(6)]
    (track,) = run_tracking(script)
    assert (track.first_frame, len(track.present)) == (4, 6)
    assert face_coverage([track], 10)["face_share"] == 0.6


def test_one_frame_false_detection_is_dropped_but_short_ranges_keep_their_face():
    face = [detection(face_points(300, 300, 100))]
    script = [list(face) for _ in range(10)]
    script[5] = face + [detection(face_points(900, 900, 50), score=0.1)]
    assert len(run_tracking(script)) == 1
    assert len(run_tracking([list(face), list(face)])) == 1


def test_progress_reports_every_frame():
    seen: list[Progress] = []
    run_tracking([[] for _ in range(5)], progress=seen.append, frame_count=5)
    assert seen == [Progress("landmarks", done, 5) for done in range(1, 6)]


class BatchScriptedBackend(ScriptedBackend):
    """The scripted backend with `detect_batch`, recording the size of each batch it is given."""

    def __init__(self, script: list[list[FaceDetection]]) -> None:
        super().__init__(script)
        self.batch_sizes: list[int] = []

    def detect_batch(self, frames_rgb: list[np.ndarray]) -> list[list[FaceDetection]]:
        self.batch_sizes.append(len(frames_rgb))
        return [self.detect(frame) for frame in frames_rgb]


def test_batching_backends_get_batches_and_give_the_same_tracks():
    script = [
        [detection(face_points(100 + 3 * i, 100, 60)), detection(face_points(400, 100 + 2 * i, 60))] if i != 6 else []
        for i in range(11)
    ]
    single = run_tracking(script)
    backend = BatchScriptedBackend(script)
    pulled: list[int] = []

    def frames():
        for index in range(len(script)):
            pulled.append(index)
            yield np.zeros((8, 8, 3), np.uint8)

    batched = track_faces(frames(), backend, batch_size=4)
    assert backend.batch_sizes == [4, 4, 3]
    assert backend.calls == 11 and pulled == list(range(11))
    assert [(t.track_id, t.first_frame, t.present.tolist()) for t in batched] == [
        (t.track_id, t.first_frame, t.present.tolist()) for t in single
    ]
    for one, other in zip(batched, single, strict=True):
        np.testing.assert_array_equal(one.landmarks, other.landmarks)


def test_frames_are_read_one_batch_ahead_at_most():
    script = [[detection(face_points(200, 200, 80))] for _ in range(6)]
    backend = ScriptedBackend(script)
    reads: list[tuple[int, int]] = []

    def frames():
        for index in range(6):
            reads.append((index, backend.calls))  # frames detected when this one is read
            yield np.zeros((8, 8, 3), np.uint8)

    track_faces(frames(), backend, batch_size=2)
    # Frame 2 is read only once frames 0 and 1 are detected: never more than one batch is held.
    assert reads == [(0, 0), (1, 0), (2, 2), (3, 2), (4, 4), (5, 4)]


def test_bad_tracking_options_are_refused():
    for options in (
        {"batch_size": 0},
        {"max_gap": -1},
        {"max_shift": 0},
        {"max_scale_change": 1.0},
        {"min_frames": 0},
    ):
        with pytest.raises(InvalidParameterError):
            run_tracking([[]], **options)
    with pytest.raises(InvalidParameterError, match="min_cutoff must be in"):
        LandmarkSmoothing(shape=OneEuroConfig(min_cutoff=0.0, beta=1.0))
    with pytest.raises(InvalidParameterError, match="edge_frames"):
        LandmarkSmoothing(edge_frames=-1)


def test_without_smoothing_the_detections_are_kept_exactly():
    _, noisy = still_face_frames(10, noise=1.0)
    (track,) = run_tracking([[detection(p)] for p in noisy], smoothing=None)
    np.testing.assert_array_equal(track.landmarks, noisy)
    (smoothed,) = run_tracking([[detection(p)] for p in noisy])
    assert not np.array_equal(smoothed.landmarks, noisy)


def test_smoothing_removes_jitter_on_a_still_face():
    truth, noisy = still_face_frames(120, noise=1.0)
    (track,) = run_tracking([[detection(p)] for p in noisy])
    raw_jitter = np.abs(np.diff(noisy, axis=0)).mean()
    smooth_jitter = np.abs(np.diff(track.landmarks, axis=0)).mean()
    assert raw_jitter / smooth_jitter > 3.5
    # The face centre, which the crop window follows, is far steadier still.
    raw_centre = np.abs(np.diff(noisy.mean(1), axis=0)).mean()
    smooth_centre = np.abs(np.diff(track.landmarks.mean(1), axis=0)).mean()
    assert raw_centre / smooth_centre > 8
    # And the smoothed points are closer to the truth than the detections were.
    assert np.abs(track.landmarks - truth).mean() < 0.6 * np.abs(noisy - truth).mean()


def test_smoothing_follows_a_moving_face_without_lag():
    frames = np.arange(80)
    truth = np.stack([face_points(200 + 4.0 * t, 300 + 1.5 * t, 100) for t in frames])
    noisy = truth + np.random.default_rng(1).normal(0, 1.0, truth.shape).astype(np.float32)
    (track,) = run_tracking([[detection(p)] for p in noisy])
    error = track.landmarks.mean(1) - truth.mean(1)
    # A one-way filter would trail the face by several pixels along its motion; here the mean error is ~0.
    assert np.abs(error.mean(0)).max() < 0.15
    assert np.abs(error).max() < 1.0


def test_smoothing_keeps_speech_movement_of_the_lips():
    frames = np.arange(100)
    opening = 0.05 * (1 + np.sin(2 * np.pi * 4 / 25 * frames))  # 4 Hz at 25 fps, up to 10 % of the face
    truth = np.stack([face_points(400, 300, 100, mouth_open=o) for o in opening])
    noisy = truth + np.random.default_rng(2).normal(0, 1.0, truth.shape).astype(np.float32)
    (track,) = run_tracking([[detection(p)] for p in noisy])
    gap = track.landmarks[:, 66, 1] - track.landmarks[:, 62, 1]
    true_gap = truth[:, 66, 1] - truth[:, 62, 1]
    assert np.corrcoef(gap, true_gap)[0, 1] > 0.9
    assert np.std(gap) > 0.6 * np.std(true_gap)


def test_smoothing_runs_separately_on_each_run_of_present_frames():
    truth, noisy = still_face_frames(40, noise=1.0)
    present = np.ones(40, bool)
    present[20] = False
    noisy[20] = 1e6  # a missing frame's values must not leak into its neighbours
    smoothed = smooth_landmarks(noisy, present, LandmarkSmoothing())
    assert np.isnan(smoothed[20]).all()
    assert np.abs(smoothed[[19, 21]] - truth[[19, 21]]).max() < 3


def test_select_by_id_click_and_largest():
    small = [detection(face_points(200, 300, 80)) for _ in range(30)]
    big_brief = [detection(face_points(800, 300, 160)) for _ in range(10)]
    script = [[small[t]] + ([big_brief[t - 20]] if t >= 20 else []) for t in range(30)]
    tracks = run_tracking(script)
    assert [(t.track_id, t.first_frame) for t in tracks] == [(0, 0), (1, 20)]
    # Largest is area x frames: 160^2 x 10 frames beats 80^2 x 30 frames.
    assert select_track(tracks).track_id == 1
    assert select_track(tracks, track_id=0).track_id == 0
    assert select_track(tracks, point=(210, 320), frame=25).track_id == 0
    assert select_track(tracks, point=(790, 280), frame=25).track_id == 1
    assert select_track(tracks, point=(210, 320)).track_id == 0  # no frame: the first one


def test_click_on_overlapping_faces_takes_the_nearest_centre():
    script = [[detection(face_points(300, 300, 200)), detection(face_points(380, 300, 200))] for _ in range(5)]
    tracks = run_tracking(script)
    assert select_track(tracks, point=(310, 300), frame=2).track_id == 0
    assert select_track(tracks, point=(370, 300), frame=2).track_id == 1


def test_selection_errors_say_what_exists():
    script = [[detection(face_points(300, 300, 100))] for _ in range(12)]
    tracks = run_tracking(script)
    with pytest.raises(InvalidParameterError, match=r"no face track 7; the tracks are: 0 \(frames 0-11\)"):
        select_track(tracks, track_id=7)
    with pytest.raises(NoFaceFoundError, match=r"no face at \(900, 900\) on frame 3: track 0 at"):
        select_track(tracks, point=(900, 900), frame=3)
    with pytest.raises(NoFaceFoundError, match="no face is detected on that frame"):
        select_track(tracks, point=(300, 300), frame=40)
    with pytest.raises(InvalidParameterError, match="not both"):
        select_track(tracks, point=(300, 300), track_id=0)


def test_face_coverage_summarises_tracks():
    script = [[detection(face_points(300, 300, 100))] for _ in range(10)] + [[] for _ in range(5)]
    script[3] = []
    coverage = face_coverage(run_tracking(script), 15)
    box = detection(face_points(300, 300, 100)).box
    assert coverage == {
        "frame_count": 15,
        "frames_with_face": 9,
        "face_share": 9 / 15,
        "tracks": [
            {
                "track_id": 0,
                "first_frame": 0,
                "last_frame": 9,
                "frames_present": 9,
                "mean_box_size": [round(box[2] - box[0], 1), round(box[3] - box[1], 1)],
            }
        ],
    }
    with pytest.raises(InvalidParameterError, match="frame_count is 5"):
        face_coverage(run_tracking(script), 5)

"""MAR and LipLeak on synthetic and real 68-point landmarks."""

import numpy as np
import pytest

from keydub.core.errors import InvalidParameterError, NoFaceFoundError
from keydub.core.metrics import count_missing, lipleak, mar_series, open_mouth_frames


def mouth_landmarks(gap: float, width: float = 40.0, origin: tuple[float, float] = (100.0, 200.0)) -> np.ndarray:
    """One frame of 68 landmarks whose inner lips are `gap` pixels apart over an inner width of `width`.

    Only the mouth points matter to MAR; the others are spread on a line so that nothing is NaN.
    """
    points = np.stack([np.arange(68, dtype=np.float64), np.zeros(68)], axis=1)
    x0, y0 = origin
    points[60] = (x0, y0)
    points[64] = (x0 + width, y0)
    for k, (top, bottom) in enumerate(((61, 67), (62, 66), (63, 65)), start=1):
        x = x0 + width * k / 4
        points[top] = (x, y0 - gap / 2)
        points[bottom] = (x, y0 + gap / 2)
    return points


def test_mar_of_hand_built_mouths():
    frames = np.stack([mouth_landmarks(0.0), mouth_landmarks(10.0), mouth_landmarks(20.0, width=50.0)])
    # three equal gaps over twice the width: 3 * 0 / 80, 3 * 10 / 80, 3 * 20 / 100
    np.testing.assert_allclose(mar_series(frames), [0.0, 0.375, 0.6])


def test_mar_is_scale_and_translation_invariant():
    frame = mouth_landmarks(12.0)
    scaled = frame * 3.5 + np.array([17.0, -40.0])
    np.testing.assert_allclose(mar_series(scaled[None]), mar_series(frame[None]))


def test_mar_averages_the_three_vertical_pairs():
    frame = mouth_landmarks(0.0)
    frame[62, 1] -= 12.0  # only the centre pair opens, by 12 px over a 40 px width
    assert mar_series(frame[None])[0] == pytest.approx(12.0 / (2 * 40.0))


def test_lipleak_never_open_is_zero_always_open_is_one():
    closed = np.stack([mouth_landmarks(gap) for gap in np.linspace(0.0, 6.5, 10)])  # MAR 0 .. 0.24375
    opened = np.stack([mouth_landmarks(gap) for gap in np.linspace(7.0, 30.0, 10)])  # MAR 0.2625 .. 1.125
    assert lipleak(mar_series(closed)) == 0.0
    assert lipleak(mar_series(opened)) == 1.0


def test_lipleak_threshold_is_strict_and_adjustable():
    # MAR = 3 gap / (2 * 60): 0, 0.25, 0.3, 0.6
    mar = mar_series(np.stack([mouth_landmarks(gap, width=60.0) for gap in (0.0, 10.0, 12.0, 24.0)]))
    assert lipleak(mar) == pytest.approx(2 / 4)  # 0.25 itself is not open
    assert lipleak(mar, threshold=0.35) == pytest.approx(1 / 4)
    assert open_mouth_frames(mar).tolist() == [False, False, True, True]


def test_missing_faces_are_excluded_and_counted():
    frames = np.stack([mouth_landmarks(20.0), mouth_landmarks(0.0), mouth_landmarks(0.0), mouth_landmarks(0.0)])
    frames[1] = np.nan  # no face
    frames[2, 60] = frames[2, 64]  # collapsed corners: degenerate detection
    mar = mar_series(frames)
    assert np.isnan(mar[1]) and np.isnan(mar[2])
    assert count_missing(mar) == 2
    assert lipleak(mar) == pytest.approx(1 / 2)  # one open of the two frames with a face


def test_no_face_at_all_is_an_error():
    with pytest.raises(NoFaceFoundError, match="none of the 3 frames"):
        lipleak(mar_series(np.full((3, 68, 2), np.nan)))


@pytest.mark.parametrize("shape", [(5, 68), (5, 5, 2), (68, 2)])
def test_bad_landmark_shape_is_refused(shape):
    with pytest.raises(InvalidParameterError, match=r"expected \(frames, 68, 2\)"):
        mar_series(np.zeros(shape))


@pytest.mark.parametrize("threshold", [0.0, -0.1, float("nan")])
def test_bad_threshold_is_refused(threshold):
    with pytest.raises(InvalidParameterError, match="positive number"):
        lipleak(np.array([0.1]), threshold=threshold)


# Inner-lip points 60-67 found by dlib's 68-point predictor on two frames of the shared talking clip
# (talking_1080x1920_25fps.mp4), checked by eye: frame 90 has the lips closed, frame 195 the mouth wide open.
REAL_INNER_LIPS = {
    90: [[572, 785], [595, 779], [604, 780], [613, 780], [630, 789], [612, 781], [603, 781], [595, 780]],
    195: [[536, 798], [560, 785], [571, 785], [582, 787], [606, 806], [581, 820], [570, 820], [558, 818]],
}


def real_frame(frame_index: int) -> np.ndarray:
    points = np.full((68, 2), np.nan)  # MAR reads the inner lip only; the rest may be missing
    points[60:68] = REAL_INNER_LIPS[frame_index]
    return points


def test_mar_of_real_closed_and_open_mouths_by_hand():
    mar = mar_series(np.stack([real_frame(90), real_frame(195)]))
    # Frame 90: pairs 61-67 (595,779)-(595,780) = 1, 62-66 (604,780)-(603,781) = sqrt 2, 63-65 = sqrt 2;
    # corners 60-64 (572,785)-(630,789) = sqrt(58^2 + 4^2).
    closed = (1 + 2 * np.sqrt(2)) / (2 * np.sqrt(58**2 + 4**2))
    # Frame 195: sqrt(2^2 + 33^2), sqrt(1 + 35^2), sqrt(1 + 33^2) over twice sqrt(70^2 + 8^2).
    opened = (np.sqrt(2**2 + 33**2) + np.sqrt(1 + 35**2) + np.sqrt(1 + 33**2)) / (2 * np.sqrt(70**2 + 8**2))
    np.testing.assert_allclose(mar, [closed, opened])
    assert closed == pytest.approx(0.03293, abs=1e-5) and opened == pytest.approx(0.71740, abs=1e-5)
    assert open_mouth_frames(mar).tolist() == [False, True]
    assert lipleak(mar) == 0.5


def test_mar_from_the_dlib_backend_on_the_talking_clip(talking_clip):
    faces = pytest.importorskip("keydub.core.faces")
    if not hasattr(faces, "get_landmark_backend"):
        pytest.skip("keydub.core.faces has no landmark backend yet")
    from keydub.core.errors import LandmarkBackendError
    from keydub.core.media import read_frames

    try:
        backend = faces.get_landmark_backend("dlib")
    except LandmarkBackendError as error:
        pytest.skip(f"dlib landmarks unavailable: {error}")
    frames = [next(read_frames(talking_clip, index, index + 1)) for index in sorted(REAL_INNER_LIPS)]
    tracks = faces.track_faces(frames, backend)
    landmarks = faces.select_track(tracks).landmarks
    mar = mar_series(landmarks)
    assert landmarks.shape == (2, 68, 2)
    assert mar[0] < 0.1 and mar[1] > 0.5  # the hand-checked values above are 0.033 and 0.717
    assert lipleak(mar) == 0.5

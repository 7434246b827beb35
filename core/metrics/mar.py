"""Mouth aspect ratio (MAR) and LipLeak, the KeySync leakage metric, on 68-point iBUG landmarks.

LipLeak (KeySync, Sec. 4.2 and supplementary C) feeds silent audio and a talking video to the model; any
generated frame whose mouth is open is then leakage from the input video. "Open" means a mouth aspect ratio
above 0.25, the threshold the paper chose by visual inspection.

The paper defines MAR as "the ratio between the vertical distance between the upper and lower lip landmarks
and the horizontal distance between the corner lip landmarks", cites a dlib-based drowsiness detector for it and
does not name the landmark indices. We use the inner lip contour of the 68-point iBUG scheme (0-based indices)
with the normalisation of the eye aspect ratio that such detectors generalise:

    MAR = (|p61 - p67| + |p62 - p66| + |p63 - p65|) / (2 |p60 - p64|)

* inner lip, not outer: the outer contour (48-59) keeps the thickness of the lips, so a closed mouth with full
  lips already measures well above 0.25; the inner contour closes to ~0 when the lips touch, which is what
  "open" means for leakage;
* three vertical pairs (left, centre, right of the inner lip), so one badly placed point moves the value by a
  third only;
* the sum over twice the width, i.e. 1.5 times the mean gap over the width. This scale is what makes the
  paper's threshold behave as the paper says: on the shared talking test clip (dlib landmarks), frames with
  parted lips and visible teeth have a mean gap of 0.15-0.23 mouth widths and must count as open ("any MAR below
  this value consistently represents a closed mouth"); with this normalisation they measure 0.22-0.35, and the
  talking clip itself has 68 % open frames, the order of the LipLeak of the leakiest methods in KeySync's Table 1
  (0.56-0.66), as copying the input's lips should give. The mean-gap ratio would call these frames closed and
  give the clip 19 %.
"""

import numpy as np

from ..errors import InvalidParameterError, NoFaceFoundError


LIPLEAK_THRESHOLD = 0.25
"""MAR above which a mouth counts as open (KeySync supplementary C: "any MAR below this value consistently
represents a closed mouth")."""

INNER_LIP_VERTICAL_PAIRS = ((61, 67), (62, 66), (63, 65))
"""Upper and lower inner-lip points facing each other (0-based iBUG 68-point indices)."""

INNER_LIP_CORNERS = (60, 64)
"""Left and right inner mouth corners (0-based iBUG 68-point indices)."""


def mar_series(landmarks: np.ndarray) -> np.ndarray:
    """Mouth aspect ratio of every frame.

    Args:
        landmarks (`np.ndarray` of shape `(n, 68, 2)`):
            68-point iBUG landmarks per frame in pixels (any scale: MAR is a ratio). A frame without a face has
            NaN coordinates.

    Returns:
        `np.ndarray` of shape `(n,)`, float64: MAR per frame, NaN where the frame has no face (any NaN in the
        mouth points) or its mouth corners coincide (a degenerate detection).

    Raises:
        InvalidParameterError: `landmarks` is not an `(n, 68, 2)` array.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise InvalidParameterError(
            f"landmarks have shape {points.shape}; expected (frames, 68, 2) iBUG 68-point landmarks per frame"
        )
    upper = points[:, [top for top, _ in INNER_LIP_VERTICAL_PAIRS]]
    lower = points[:, [bottom for _, bottom in INNER_LIP_VERTICAL_PAIRS]]
    height = np.linalg.norm(upper - lower, axis=-1).sum(axis=1)
    width = 2 * np.linalg.norm(points[:, INNER_LIP_CORNERS[0]] - points[:, INNER_LIP_CORNERS[1]], axis=-1)
    mar = np.full(len(points), np.nan)
    # A zero width only comes from a collapsed detection; treat it as "no face" rather than divide by zero.
    valid = np.isfinite(height) & np.isfinite(width) & (width > 0)
    mar[valid] = height[valid] / width[valid]
    return mar


def open_mouth_frames(mar: np.ndarray, threshold: float = LIPLEAK_THRESHOLD) -> np.ndarray:
    """Which frames have an open mouth (`mar > threshold`); frames without a face (NaN) are `False`.

    Args:
        mar (`np.ndarray` of shape `(n,)`): MAR per frame as returned by `mar_series`.
        threshold (`float`, defaults to 0.25): MAR above which the mouth is open.

    Returns:
        `np.ndarray` of shape `(n,)`, bool.
    """
    check_threshold(threshold)
    values = np.asarray(mar, dtype=np.float64)
    if values.ndim != 1:
        raise InvalidParameterError(f"MAR series has shape {values.shape}; expected one value per frame (n,)")
    return np.isfinite(values) & (values > threshold)


def lipleak(mar: np.ndarray, threshold: float = LIPLEAK_THRESHOLD) -> float:
    """LipLeak: the share of frames with a face whose mouth is open.

    Frames without a face (NaN MAR) are left out of both counts; `count_missing` tells how many there were.

    Args:
        mar (`np.ndarray` of shape `(n,)`):
            MAR per frame of a video generated from silent audio and a talking input video.
        threshold (`float`, defaults to 0.25): MAR above which the mouth is open.

    Returns:
        `float` in [0, 1]: open frames / frames with a face.

    Raises:
        NoFaceFoundError: no frame has a face, so there is nothing to measure.
        InvalidParameterError: `mar` is not one-dimensional or `threshold` is not a positive number.
    """
    is_open = open_mouth_frames(mar, threshold)
    measured = int(np.isfinite(np.asarray(mar, dtype=np.float64)).sum())
    if measured == 0:
        raise NoFaceFoundError(
            f"none of the {len(is_open)} frames has a face with mouth landmarks, so LipLeak cannot be measured; "
            "check that the video shows a face and that the landmark backend finds it"
        )
    return float(is_open.sum()) / measured


def count_missing(mar: np.ndarray) -> int:
    """Number of frames without a MAR value (no face, or a degenerate detection)."""
    return int(np.isnan(np.asarray(mar, dtype=np.float64)).sum())


def check_threshold(threshold: float) -> None:
    """Refuse a MAR threshold that is not a positive number (`InvalidParameterError`)."""
    if not (np.isfinite(threshold) and threshold > 0):
        raise InvalidParameterError(f"MAR threshold is {threshold}; expected a positive number such as 0.25")

"""What a landmark backend returns, the protocol every backend follows, and the frame checks they share."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from keydub.core.errors import InvalidParameterError


# iBUG 300-W 68-point layout, as index ranges (end exclusive) into a `(68, 2)` landmark array.
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYES = slice(36, 48)
OUTER_LIP = slice(48, 60)
INNER_LIP = slice(60, 68)
MOUTH = slice(48, 68)
LANDMARK_COUNT = 68

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class FaceDetection:
    """One face found on one frame.

    Args:
        box (`tuple[float, float, float, float]`): the detector's face box `(x0, y0, x1, y1)` in source pixels.
        score (`float`): the detector's confidence; its scale depends on the backend (dlib HOG margin, S3FD
            probability).
        landmarks (`np.ndarray`): `(68, 2)` float32 `(x, y)` points in source pixels, iBUG 300-W order (0-16 jaw,
            17-26 brows, 27-35 nose, 36-47 eyes, 48-59 outer lip, 60-67 inner lip).
    """

    box: Box
    score: float
    landmarks: np.ndarray


@runtime_checkable
class LandmarkBackend(Protocol):
    """A face detector plus a 68-point landmark model: all that `track_faces` and the render need.

    The built-in backends also offer the two halves of `detect` separately, `find_faces(frame) -> [(box, score)]`
    and `fit_landmarks(frame, faces) -> [FaceDetection]`, so a caller that already knows where a face is (a
    click, a previous frame) can skip detection.
    """

    name: str

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        """Every face of an RGB uint8 `(height, width, 3)` frame, with its landmarks in source pixels."""
        ...


@runtime_checkable
class BatchLandmarkBackend(LandmarkBackend, Protocol):
    """A backend that is faster on several frames at once (a network detector on a GPU).

    `track_faces` hands such a backend `batch_size` frames of one clip at a time; the answer must equal `detect`
    on each frame.
    """

    def detect_batch(self, frames_rgb: Sequence[np.ndarray]) -> list[list[FaceDetection]]:
        """`detect` of each frame, in order."""
        ...


def check_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """Return `frame_rgb` as a C-contiguous uint8 `(height, width, 3)` array, or say what is wrong with it."""
    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        shape = getattr(frame_rgb, "shape", type(frame_rgb).__name__)
        raise InvalidParameterError(
            f"landmark detection needs an RGB frame of shape (height, width, 3), got {shape}; read frames with "
            "keydub.core.media.read_frames"
        )
    if frame_rgb.dtype != np.uint8:
        raise InvalidParameterError(
            f"landmark detection needs 8-bit frames, got {frame_rgb.dtype}; read frames without high_bit_depth "
            "or convert them with (frame >> 8).astype(np.uint8)"
        )
    return np.ascontiguousarray(frame_rgb)


def shrink_for_detection(frame_rgb: np.ndarray, long_side: int | None) -> tuple[np.ndarray, float]:
    """A copy of the frame whose long side is at most `long_side` pixels, and the scale applied to it.

    Face detectors find a face of a few hundred pixels as well on a reduced copy, many times faster; landmarks
    are then fitted at full resolution. Frames already small enough (and `long_side=None`) are returned as is.
    """
    height, width = frame_rgb.shape[:2]
    if long_side is None or max(height, width) <= long_side:
        return frame_rgb, 1.0
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages the source pixels, so the reduced copy does not alias fine texture into false edges.
    return cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA), scale


def check_long_side(long_side: int | None) -> int | None:
    """Validate a backend's `detect_long_side` option."""
    if long_side is not None and (not isinstance(long_side, int) or long_side < 64):
        raise InvalidParameterError(
            f"detect_long_side must be a whole number of pixels >= 64 (or None for full resolution), got {long_side!r}"
        )
    return long_side

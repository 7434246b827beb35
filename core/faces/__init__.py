"""Faces: 68-point landmarks per frame, faces followed across frames, and the choice of the face to dub.

- `get_landmark_backend(name, **options) -> LandmarkBackend`: a name of `LANDMARK_BACKENDS`, `"face-alignment"`
  (S3FD + 2D-FAN-4, the KeySync detector) or `"dlib"` (HOG + shape predictor, offline).
  `backend.detect(frame_rgb) -> list[FaceDetection]`.
- `track_faces(frames, backend, batch_size=8) -> list[FaceTrack]`: detections linked across frames, gaps marked,
  new tracks at cuts, landmarks smoothed without lag.
- `select_track(tracks, point=, frame=, track_id=)`: the face to dub; `face_coverage(tracks, frame_count)`: a
  summary for reports.

Landmarks are `(68, 2)` float32 `(x, y)` source pixels in iBUG 300-W order. Each name is imported on first use, so
the list of backends loads without numpy, OpenCV or torch.
"""

import importlib
from typing import Any


_EXPORTS = {
    "LANDMARK_BACKENDS": "keydub.core.faces.backends",
    "get_landmark_backend": "keydub.core.faces.backends",
    "landmark_backend_class": "keydub.core.faces.backends",
    "BatchLandmarkBackend": "keydub.core.faces.detection",
    "FaceDetection": "keydub.core.faces.detection",
    "LandmarkBackend": "keydub.core.faces.detection",
    "DlibLandmarks": "keydub.core.faces.dlib_backend",
    "FaceAlignmentLandmarks": "keydub.core.faces.fan_backend",
    "describe_tracks": "keydub.core.faces.selection",
    "face_coverage": "keydub.core.faces.selection",
    "select_track": "keydub.core.faces.selection",
    "LandmarkSmoothing": "keydub.core.faces.smoothing",
    "OneEuroConfig": "keydub.core.faces.smoothing",
    "smooth_landmarks": "keydub.core.faces.smoothing",
    "FaceTrack": "keydub.core.faces.tracking",
    "track_faces": "keydub.core.faces.tracking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

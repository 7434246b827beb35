"""Faces: 68-point landmarks per frame, faces followed across frames, and the choice of the face to dub.

- `get_landmark_backend(name, **options) -> LandmarkBackend`: `"face-alignment"` (S3FD + 2D-FAN-4, the KeySync
  detector) or `"dlib"` (HOG + shape predictor, offline). `backend.detect(frame_rgb) -> list[FaceDetection]`.
- `track_faces(frames, backend, batch_size=8) -> list[FaceTrack]`: detections linked across frames, gaps marked,
  new tracks at cuts, landmarks smoothed without lag.
- `select_track(tracks, point=, frame=, track_id=)`: the face to dub; `face_coverage(tracks, frame_count)`: a
  summary for reports.

Landmarks are `(68, 2)` float32 `(x, y)` source pixels in iBUG 300-W order.
"""

from keydub.core.faces.detection import BatchLandmarkBackend, FaceDetection, LandmarkBackend
from keydub.core.faces.dlib_backend import DlibLandmarks
from keydub.core.faces.fan_backend import FaceAlignmentLandmarks
from keydub.core.faces.selection import describe_tracks, face_coverage, select_track
from keydub.core.faces.smoothing import LandmarkSmoothing, OneEuroConfig, smooth_landmarks
from keydub.core.faces.tracking import FaceTrack, track_faces
from keydub.core.landmark_backends import get_landmark_backend


__all__ = [
    "BatchLandmarkBackend",
    "DlibLandmarks",
    "FaceAlignmentLandmarks",
    "FaceDetection",
    "FaceTrack",
    "LandmarkBackend",
    "LandmarkSmoothing",
    "OneEuroConfig",
    "describe_tracks",
    "face_coverage",
    "get_landmark_backend",
    "select_track",
    "smooth_landmarks",
    "track_faces",
]

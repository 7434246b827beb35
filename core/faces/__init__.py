"""Faces: 68-point landmarks per frame, faces followed across frames, and the choice of the face to dub.

- `get_landmark_backend(name, **options) -> LandmarkBackend`: `"face-alignment"` (S3FD + 2D-FAN-4, the KeySync
  detector) or `"dlib"` (HOG + shape predictor, offline). `backend.detect(frame_rgb) -> list[FaceDetection]`.
- `track_faces(frames, backend, batch_size=8) -> list[FaceTrack]`: detections linked across frames, gaps marked,
  new tracks at cuts, landmarks smoothed without lag.
- `select_track(tracks, point=, frame=, track_id=)`: the face to dub; `face_coverage(tracks, frame_count)`: a
  summary for reports.
- `get_recognition_backend(name) -> RecognitionBackend` (`"dlib-resnet"`): who a face is, as an embedding;
  `embed_tracks(reader, tracks, backend) -> (TrackEmbedding, ...)`: one per track, from its sharpest frontal frames.
- `find_active_speakers(tracks, voice, frame_rate) -> ActiveSpeakers`: which face speaks in each stretch of the
  original dialogue's voice activity, with a confidence.

Landmarks are `(68, 2)` float32 `(x, y)` source pixels in iBUG 300-W order.
"""

from keydub.core.face_backends import (
    DEFAULT_RECOGNITION,
    LANDMARK_BACKENDS,
    RECOGNITION_BACKENDS,
    get_landmark_backend,
    get_recognition_backend,
)
from keydub.core.faces.active_speaker import ActiveSpeakers, SpeakerTurn, find_active_speakers
from keydub.core.faces.detection import BatchLandmarkBackend, FaceDetection, LandmarkBackend
from keydub.core.faces.dlib_backend import DlibLandmarks
from keydub.core.faces.fan_backend import FaceAlignmentLandmarks
from keydub.core.faces.recognition import RecognitionBackend, embedding_distances
from keydub.core.faces.selection import describe_tracks, face_coverage, select_track
from keydub.core.faces.smoothing import LandmarkSmoothing, OneEuroConfig, smooth_landmarks
from keydub.core.faces.track_embedding import TrackEmbedding, embed_tracks
from keydub.core.faces.tracking import FaceTrack, track_faces


__all__ = [
    "ActiveSpeakers",
    "SpeakerTurn",
    "find_active_speakers",
    "LANDMARK_BACKENDS",
    "DEFAULT_RECOGNITION",
    "RECOGNITION_BACKENDS",
    "RecognitionBackend",
    "TrackEmbedding",
    "embed_tracks",
    "embedding_distances",
    "get_recognition_backend",
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

"""Measure a video file: MAR per frame (for LipLeak) and, with SyncNet, LSE-C / LSE-D against an audio track.

The video is read twice, streaming: once for the landmarks, once for the 224x224 face crops SyncNet needs, so
memory holds landmarks and small crops only, whatever the clip's resolution and length.
"""

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keydub.core.errors import InvalidParameterError
from keydub.core.media import FrameReader, MediaInfo, load_audio, probe
from keydub.core.metrics.mar import LIPLEAK_THRESHOLD, count_missing, lipleak, mar_series, open_mouth_frames


if TYPE_CHECKING:
    from keydub.core.faces import LandmarkBackend
    from keydub.core.metrics.syncnet import SyncNetScorer, SyncScore

LandmarkSource = Callable[[Iterable[np.ndarray]], np.ndarray]
"""Frames (RGB, in order) -> `(frames, 68, 2)` landmarks of the face to measure, NaN where it is absent."""


def face_landmark_source(backend: "str | LandmarkBackend" = "face-alignment") -> LandmarkSource:
    """A `LandmarkSource` that tracks faces with a `keydub.core.faces` backend and follows the largest face.

    Args:
        backend (`str | LandmarkBackend`, defaults to `"face-alignment"`): a backend name (`"face-alignment"`, the
            detector KeySync's evaluation uses, or `"dlib"`) or a loaded backend. A name is loaded on first use.
    """
    loaded: list[Any] = []

    def landmarks_of(frames: Iterable[np.ndarray]) -> np.ndarray:
        from keydub.core.faces import get_landmark_backend, select_track, track_faces

        if not loaded:
            loaded.append(get_landmark_backend(backend) if isinstance(backend, str) else backend)
        counter = _Counter(frames)
        tracks = track_faces(counter, loaded[0])
        result = np.full((counter.count, 68, 2), np.nan, dtype=np.float32)
        if tracks:
            track = select_track(tracks)
            result[track.first_frame : track.last_frame + 1] = track.landmarks
        return result

    return landmarks_of


@dataclass(frozen=True)
class VideoMeasurement:
    """What `measure_video` found in one video.

    Args:
        frame_count (`int`): frames in the video.
        frame_rate (`Fraction`): its exact rate.
        mar (`np.ndarray`): `(frame_count,)` mouth aspect ratio per frame, NaN where no face was found.
        threshold (`float`): MAR above which a mouth counts as open.
        sync (`SyncScore | None`): SyncNet's scores against the audio, when a scorer was given.
    """

    frame_count: int
    frame_rate: Fraction
    mar: np.ndarray
    threshold: float
    sync: "SyncScore | None" = None

    @property
    def open_frames(self) -> int:
        """Frames whose mouth is open."""
        return int(open_mouth_frames(self.mar, self.threshold).sum())

    @property
    def missing_frames(self) -> int:
        """Frames without a face (left out of the open share)."""
        return count_missing(self.mar)

    @property
    def open_share(self) -> float:
        """Share of the frames with a face whose mouth is open: LipLeak, when the video was generated from
        silence. Raises `NoFaceFoundError` when no frame has a face."""
        return lipleak(self.mar, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; MAR values are rounded to 4 decimals and missing frames are `null`."""
        measured = self.frame_count - self.missing_frames
        return {
            "frame_count": self.frame_count,
            "frame_rate": str(self.frame_rate),
            "threshold": self.threshold,
            "open_frames": self.open_frames,
            "missing_frames": self.missing_frames,
            "open_share": self.open_share if measured else None,
            "mar": [None if np.isnan(value) else round(float(value), 4) for value in self.mar],
            "sync": self.sync.to_dict() if self.sync is not None else None,
        }


def measure_video(
    video: str | os.PathLike[str],
    landmarks: LandmarkSource,
    *,
    scorer: "SyncNetScorer | None" = None,
    audio: str | os.PathLike[str] | None = None,
    threshold: float = LIPLEAK_THRESHOLD,
) -> VideoMeasurement:
    """MAR per frame of a video and, with a scorer, its lip sync against an audio track.

    Args:
        video (`str | os.PathLike`): the video to measure (constant frame rate).
        landmarks (`LandmarkSource`): finds the face's 68 points on each frame (see `face_landmark_source`).
        scorer (`SyncNetScorer | None`): scores lip sync when given; needs `audio`.
        audio (`str | os.PathLike | None`): the audio to score against, from its first sample (any file with
            sound: WAV, or the video itself); it is cut or padded with silence to the video's length.
        threshold (`float`, defaults to 0.25): MAR above which a mouth counts as open.

    Returns:
        `VideoMeasurement`.

    Raises:
        InvalidParameterError: a scorer without audio, or landmarks that do not match the frames.
        `KeydubError` subclasses from reading the media, and `NoFaceFoundError` when SyncNet finds no face.
    """
    if scorer is not None and audio is None:
        raise InvalidParameterError("scoring lip sync needs the audio to score against")
    info = probe(video)
    with FrameReader(video, info=info) as reader:
        points = np.asarray(landmarks(reader.read(0, info.frame_count)))
    if points.shape != (info.frame_count, 68, 2):
        raise InvalidParameterError(
            f"the landmark source gave {points.shape} for {info.frame_count} frames of {video}; expected "
            f"({info.frame_count}, 68, 2)"
        )
    mar = mar_series(points)
    sync = None
    if scorer is not None:
        sync = _score_sync(video, info, points, scorer, audio)
    return VideoMeasurement(info.frame_count, info.frame_rate, mar, threshold, sync)


def _score_sync(
    video: str | os.PathLike[str],
    info: MediaInfo,
    points: np.ndarray,
    scorer: "SyncNetScorer",
    audio: str | os.PathLike[str] | None,
) -> "SyncScore":
    from keydub.core.metrics.crops import crop_boxes, syncnet_face_crops, syncnet_frame_indices
    from keydub.core.metrics.syncnet import MODEL_SAMPLE_RATE

    indices = syncnet_frame_indices(len(points), info.frame_rate)
    boxes = crop_boxes(points)
    with FrameReader(video, info=info) as reader:
        crops = syncnet_face_crops(reader.read(0, int(indices[-1]) + 1), boxes, indices)
    duration = Fraction(len(points)) / info.frame_rate
    waveform = load_audio(Path(audio), MODEL_SAMPLE_RATE, start=Fraction(0), duration=duration, pad=True)
    return scorer.score(crops, waveform)


class _Counter:
    """Passes frames through and counts them, so a tracker that keeps no frames still tells how many it saw."""

    def __init__(self, frames: Iterable[np.ndarray]) -> None:
        self._frames = frames
        self.count = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self._frames:
            self.count += 1
            yield frame

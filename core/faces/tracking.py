"""Faces followed across frames: per-frame detections linked into tracks, gaps tolerated, cuts split, smoothed."""

import itertools
import math
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from keydub.core.errors import InvalidParameterError
from keydub.core.faces.detection import LANDMARK_COUNT, BatchLandmarkBackend, Box, FaceDetection, LandmarkBackend
from keydub.core.faces.smoothing import LandmarkSmoothing, smooth_landmarks
from keydub.core.progress import ProgressCallback, Stage, report


@dataclass(frozen=True, eq=False)
class FaceTrack:
    """One face followed over consecutive frames.

    Args:
        track_id (`int`): the track's number, 0, 1, ... in order of first appearance.
        first_frame (`int`): index, in the frames given to `track_faces`, of the track's first frame.
        landmarks (`np.ndarray`): `(n, 68, 2)` float32 smoothed landmarks in source pixels, NaN where missing.
        present (`np.ndarray`): `(n,)` bool, whether the face was detected on each frame.
        boxes (`np.ndarray`): `(n, 4)` float32 detector boxes `(x0, y0, x1, y1)`, NaN where missing.

    `n` counts the frames from `first_frame` to the track's last detection, so `present[0]` and `present[-1]` are
    always True; frames in between without a detection (a blink of the detector, a hand over the face) are False.
    """

    track_id: int
    first_frame: int
    landmarks: np.ndarray
    present: np.ndarray
    boxes: np.ndarray

    @property
    def last_frame(self) -> int:
        """Index of the track's last frame (inclusive)."""
        return self.first_frame + len(self.present) - 1

    @property
    def frames_present(self) -> int:
        """Number of frames on which the face was detected."""
        return int(self.present.sum())

    def box_at(self, frame: int) -> np.ndarray | None:
        """The face box on `frame` (an index in the tracked frames), `None` where the face is not detected."""
        offset = frame - self.first_frame
        if 0 <= offset < len(self.present) and self.present[offset]:
            return self.boxes[offset]
        return None


@dataclass
class _OpenTrack:
    """A track while frames are still coming: only what linking needs and what the result keeps."""

    first_frame: int
    frames: list[int] = field(default_factory=list)
    detections: list[FaceDetection] = field(default_factory=list)

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    @property
    def last_box(self) -> Box:
        return self.detections[-1].box

    def add(self, frame: int, detection: FaceDetection) -> None:
        self.frames.append(frame)
        self.detections.append(detection)


def track_faces(
    frames: Iterable[np.ndarray],
    backend: LandmarkBackend,
    *,
    batch_size: int = 8,
    max_gap: int = 5,
    max_shift: float = 0.5,
    max_scale_change: float = 1.5,
    min_frames: int = 3,
    smoothing: LandmarkSmoothing | None = LandmarkSmoothing(),
    frame_count: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[FaceTrack]:
    """Detect faces on every frame and follow each one through the frames.

    Frames are consumed `batch_size` at a time and only landmarks are kept, so memory does not grow with the
    clip's length. A detection continues a track when its box centre lies within `max_shift` face sizes of the track's
    last box and its size changed by less than `max_scale_change`; several faces are matched at once with the
    least total distance. A face that jumps further (a cut, another person) starts a new track. A track survives
    up to `max_gap` frames without a detection; those frames are marked missing.

    Args:
        frames (`Iterable[np.ndarray]`): RGB uint8 `(height, width, 3)` frames, e.g. from
            `keydub.core.media.read_frames`.
        backend (`LandmarkBackend`): the detector, from `get_landmark_backend`.
        batch_size (`int`, defaults to 8): frames read ahead and handed together to a backend that has
            `detect_batch` (face-alignment: one S3FD pass per batch, much faster on a GPU); other backends see
            them one by one. At most this many frames are held in memory.
        max_gap (`int`, defaults to 5): most consecutive frames a face may go undetected and still continue its
            track (0.2 s at 25 fps).
        max_shift (`float`, defaults to 0.5): furthest move of the box centre between two detections of a track,
            in face sizes (the square root of the box area).
        max_scale_change (`float`, defaults to 1.5): largest ratio between the sizes of two consecutive
            detections of a track.
        min_frames (`int`, defaults to 3): tracks detected on fewer frames are dropped as false detections
            (lowered to the number of frames when fewer frames are given, so a very short range keeps its face).
        smoothing (`LandmarkSmoothing | None`, defaults to `LandmarkSmoothing()`): temporal filter of the landmarks;
            `None` keeps the raw detections.
        frame_count (`int | None`): how many frames `frames` holds, the progress total (taken from `len(frames)`
            when it has one); needed with `progress` when `frames` is an iterator.
        progress (`ProgressCallback | None`): receives `Progress("landmarks", frames_done, frame_count)` after each
            frame.

    Returns:
        `list[FaceTrack]`: tracks ordered by first frame (then left to right), numbered 0, 1, ... in that order.
    """
    _check_tracking_options(batch_size, max_gap, max_shift, max_scale_change, min_frames)
    total = frame_count if frame_count is not None else len(frames) if isinstance(frames, Sized) else None
    if progress is not None and total is None:
        raise InvalidParameterError(
            "track_faces reports progress against a known total: pass frame_count= with an iterator of frames"
        )
    open_tracks: list[_OpenTrack] = []
    closed: list[_OpenTrack] = []
    frames_seen = 0
    for index, detections in enumerate(_detections(frames, backend, batch_size)):
        # Tracks unseen for more than `max_gap` frames can no longer be continued.
        still_open = [t for t in open_tracks if index - t.last_frame - 1 <= max_gap]
        closed.extend(t for t in open_tracks if index - t.last_frame - 1 > max_gap)
        open_tracks = still_open
        matched = _match(open_tracks, detections, max_shift, max_scale_change)
        for track_index, detection_index in matched:
            open_tracks[track_index].add(index, detections[detection_index])
        taken = {detection_index for _, detection_index in matched}
        for detection_index, detection in enumerate(detections):
            if detection_index not in taken:
                track = _OpenTrack(first_frame=index)
                track.add(index, detection)
                open_tracks.append(track)
        frames_seen = index + 1
        report(progress, Stage.LANDMARKS, frames_seen, total)
    enough = min(min_frames, frames_seen)
    # Numbered by first frame, then left to right, so the same frames always give the same ids.
    kept = sorted(
        (t for t in closed + open_tracks if len(t.frames) >= enough),
        key=lambda t: (t.first_frame, t.detections[0].box[0]),
    )
    return [_finish(track_id, track, smoothing) for track_id, track in enumerate(kept)]


def _detections(
    frames: Iterable[np.ndarray], backend: LandmarkBackend, batch_size: int
) -> Iterator[list[FaceDetection]]:
    """Each frame's detections in order, detected `batch_size` frames at a time where the backend batches."""
    frames = iter(frames)
    while batch := list(itertools.islice(frames, batch_size)):
        if isinstance(backend, BatchLandmarkBackend):
            yield from backend.detect_batch(batch)
        else:
            yield from (backend.detect(frame) for frame in batch)


def _check_tracking_options(
    batch_size: int, max_gap: int, max_shift: float, max_scale_change: float, min_frames: int
) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be a whole number of frames >= 1, got {batch_size!r}")
    if not isinstance(max_gap, int) or max_gap < 0:
        raise InvalidParameterError(f"max_gap must be a whole number of frames >= 0, got {max_gap!r}")
    if not max_shift > 0:
        raise InvalidParameterError(f"max_shift must be > 0 face sizes, got {max_shift!r}")
    if not max_scale_change > 1:
        raise InvalidParameterError(f"max_scale_change must be > 1, got {max_scale_change!r}")
    if not isinstance(min_frames, int) or min_frames < 1:
        raise InvalidParameterError(f"min_frames must be a whole number >= 1, got {min_frames!r}")


def _match(
    tracks: list[_OpenTrack], detections: list[FaceDetection], max_shift: float, max_scale_change: float
) -> list[tuple[int, int]]:
    """Pairs `(track index, detection index)` with the least total normalised distance, within the limits."""
    if not tracks or not detections:
        return []
    cost = np.full((len(tracks), len(detections)), np.inf)
    for i, track in enumerate(tracks):
        for j, detection in enumerate(detections):
            shift, scale = _box_change(track.last_box, detection.box)
            if shift <= max_shift and scale <= math.log(max_scale_change):
                cost[i, j] = shift + scale
    feasible = np.isfinite(cost)
    # linear_sum_assignment needs finite costs; a value above any feasible cost never wins over a real match.
    rows, cols = linear_sum_assignment(np.where(feasible, cost, max_shift + 10.0))
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if feasible[i, j]]


def _box_change(before: Box, after: Box) -> tuple[float, float]:
    """Centre distance in face sizes of `before`, and the absolute log ratio of the two sizes."""
    size_before = _box_size(before)
    size_after = _box_size(after)
    if size_before <= 0 or size_after <= 0:
        return math.inf, math.inf
    dx = (after[0] + after[2] - before[0] - before[2]) / 2
    dy = (after[1] + after[3] - before[1] - before[3]) / 2
    return math.hypot(dx, dy) / size_before, abs(math.log(size_after / size_before))


def _box_size(box: Box) -> float:
    return math.sqrt(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _finish(track_id: int, track: _OpenTrack, smoothing: LandmarkSmoothing | None) -> FaceTrack:
    length = track.last_frame - track.first_frame + 1
    offsets = np.asarray(track.frames) - track.first_frame
    present = np.zeros(length, dtype=bool)
    present[offsets] = True
    landmarks = np.full((length, LANDMARK_COUNT, 2), np.nan, dtype=np.float32)
    landmarks[offsets] = np.stack([d.landmarks for d in track.detections])
    boxes = np.full((length, 4), np.nan, dtype=np.float32)
    boxes[offsets] = np.array([d.box for d in track.detections], dtype=np.float32)
    if smoothing is not None:
        landmarks = smooth_landmarks(landmarks, present, smoothing)
    return FaceTrack(
        track_id=track_id, first_frame=track.first_frame, landmarks=landmarks, present=present, boxes=boxes
    )

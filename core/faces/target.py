"""The face a render regenerates, frame by frame: one face track, or a chain of them across cuts.

Tracking starts a new track at every cut, so the same actor in two shots is two tracks. With no explicit choice
the render follows the largest face of each shot: tracks are taken largest first and kept when they do not overlap
in time with one already kept. A click or a track id picks exactly one track. Contiguous runs of frames with the
face form the segments the model renders on their own (each with its own identity frame); the other frames pass
through untouched.
"""

from dataclasses import dataclass

import numpy as np

from keydub.core.errors import InvalidParameterError, NoFaceFoundError
from keydub.core.faces.selection import select_track
from keydub.core.faces.tracking import FaceTrack
from keydub.core.metrics import mar_series


NO_FACE = "no face"


@dataclass(frozen=True)
class TargetFace:
    """The target face over a render range of `frame_count` frames (indices relative to the range's start).

    Args:
        landmarks (`np.ndarray`): `(frame_count, 68, 2)` float32 source-pixel landmarks, NaN where absent.
        boxes (`np.ndarray`): `(frame_count, 4)` float32 `(x0, y0, x1, y1)` face boxes, NaN where absent.
        track_ids (`np.ndarray`): `(frame_count,)` int, the track each frame comes from, -1 where absent.
    """

    landmarks: np.ndarray
    boxes: np.ndarray
    track_ids: np.ndarray

    @property
    def frame_count(self) -> int:
        return len(self.track_ids)

    @property
    def present(self) -> np.ndarray:
        return self.track_ids >= 0

    def segments(self) -> list[tuple[int, int]]:
        """`[start, end)` runs of consecutive frames that have the face and come from one track."""
        runs: list[tuple[int, int]] = []
        start = None
        for index in range(self.frame_count + 1):
            current = self.track_ids[index] if index < self.frame_count else -1
            if start is not None and current != self.track_ids[start]:
                runs.append((start, index))
                start = None
            if start is None and current >= 0:
                start = index
        return runs

    def passed_through(self, first_source_frame: int) -> tuple[tuple[int, str], ...]:
        """Source frame indices left as they are, with the reason."""
        return tuple((first_source_frame + int(i), NO_FACE) for i in np.flatnonzero(~self.present))

    def coverage(self) -> float:
        return float(self.present.mean()) if self.frame_count else 0.0


def choose_target_face(
    tracks: list[FaceTrack],
    frame_count: int,
    *,
    point: tuple[float, float] | None = None,
    frame: int | None = None,
    track_id: int | None = None,
) -> TargetFace:
    """Pick the face to regenerate from the range's tracks (frame indices relative to the range's start).

    Args:
        tracks (`list[FaceTrack]`): every face track of the range.
        frame_count (`int`): frames in the range.
        point (`tuple[float, float] | None`), frame (`int | None`): a click inside the wanted face on `frame`.
        track_id (`int | None`): the wanted track's id.

    Raises:
        `NoFaceFoundError`: no face anywhere in the range, or none under the click.
    """
    if not tracks:
        raise NoFaceFoundError(
            "no face was found in any frame of the clip; check the range (--in/--out) or use a clip where the "
            "actor's face is visible"
        )
    if point is not None or track_id is not None:
        chosen = [select_track(tracks, point=point, frame=frame, track_id=track_id)]
    else:
        chosen = _largest_per_shot(tracks)
    landmarks = np.full((frame_count, 68, 2), np.nan, dtype=np.float32)
    boxes = np.full((frame_count, 4), np.nan, dtype=np.float32)
    track_ids = np.full(frame_count, -1, dtype=np.int64)
    for track in chosen:
        frames = track.first_frame + np.flatnonzero(track.present)
        if frames.size and (frames.min() < 0 or frames.max() >= frame_count):
            raise InvalidParameterError(f"face track {track.track_id} lies outside the {frame_count}-frame range")
        landmarks[frames] = track.landmarks[track.present]
        boxes[frames] = track.boxes[track.present]
        track_ids[frames] = track.track_id
    return TargetFace(landmarks=landmarks, boxes=boxes, track_ids=track_ids)


def _largest_per_shot(tracks: list[FaceTrack]) -> list[FaceTrack]:
    taken = np.zeros(max(t.first_frame + len(t.present) for t in tracks), dtype=bool)
    chosen = []
    for track in sorted(tracks, key=_screen_weight, reverse=True):
        frames = track.first_frame + np.flatnonzero(track.present)
        if not taken[frames].any():
            taken[frames] = True
            chosen.append(track)
    return chosen


def _screen_weight(track: FaceTrack) -> float:
    """Mean face area times the frames it is on: a big face seen briefly and a small one seen long compare fairly."""
    boxes = track.boxes[track.present]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return float(areas.sum())


def choose_identity_frame(landmarks: np.ndarray) -> int:
    """The most frontal closed-mouth frame of a segment's `(n, 68, 2)` landmarks, as an index into them.

    The leakage study (Yaman et al.) reports that a reference with a closed, silent mouth leaks less of the
    original speech into the result than one taken mid-word. Closedness is the mouth aspect ratio; frontality
    is how far the nose tip (point 30) sits from the middle of the jaw line (points 0 and 16), relative to the
    face width. Frames are ranked by the sum of both, so a slightly turned closed mouth beats a frontal open one.
    """
    mar = mar_series(landmarks)
    width = landmarks[:, 16, 0] - landmarks[:, 0, 0]
    middle = (landmarks[:, 16, 0] + landmarks[:, 0, 0]) / 2
    turn = np.abs(landmarks[:, 30, 0] - middle) / np.where(width > 0, width, np.nan)
    score = mar + turn
    if not np.isfinite(score).any():
        return 0
    return int(np.nanargmin(score))

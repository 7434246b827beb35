"""Choosing a face track (by id, by a click, or the largest) and summarising where faces are in a clip."""

from typing import Any

import numpy as np

from keydub.core.errors import InvalidParameterError, NoFaceFoundError
from keydub.core.faces.tracking import FaceTrack


def select_track(
    tracks: list[FaceTrack],
    *,
    point: tuple[float, float] | None = None,
    frame: int | None = None,
    track_id: int | None = None,
) -> FaceTrack:
    """Pick one face track.

    Args:
        tracks (`list[FaceTrack]`): the tracks from `track_faces`.
        point (`tuple[float, float] | None`): a click `(x, y)` in source pixels; the track whose box contains it
            on `frame` is chosen (the one whose box centre is nearest when boxes overlap).
        frame (`int | None`): the frame of the click, as an index in the tracked frames; 0 when not given.
        track_id (`int | None`): a track id as listed by `face_coverage` or `keydub inspect --faces`.

    With neither `point` nor `track_id`, the largest face wins: mean box area times frames present, so a face
    that fills the screen briefly and one seen small for long compare fairly.

    Raises:
        NoFaceFoundError: there are no tracks, or no face under the click; the message lists the faces there are.
        InvalidParameterError: unknown `track_id`, or both `point` and `track_id` given.
    """
    if not tracks:
        raise NoFaceFoundError(
            "no face was found in these frames; choose a range where the face is visible and frontal, or try "
            "the other landmark backend"
        )
    if point is not None and track_id is not None:
        raise InvalidParameterError("choose the face either by a click (point) or by track_id, not both")
    if track_id is not None:
        for track in tracks:
            if track.track_id == track_id:
                return track
        raise InvalidParameterError(f"there is no face track {track_id}; the tracks are: {describe_tracks(tracks)}")
    if point is not None:
        return _track_under_point(tracks, point, 0 if frame is None else frame)
    return max(tracks, key=_screen_weight)


def _track_under_point(tracks: list[FaceTrack], point: tuple[float, float], frame: int) -> FaceTrack:
    x, y = point
    hits = []
    for track in tracks:
        box = track.box_at(frame)
        if box is not None and box[0] <= x <= box[2] and box[1] <= y <= box[3]:
            centre_distance = np.hypot((box[0] + box[2]) / 2 - x, (box[1] + box[3]) / 2 - y)
            hits.append((centre_distance, track.track_id, track))
    if hits:
        return min(hits, key=lambda hit: hit[:2])[2]
    on_frame = [
        f"track {t.track_id} at ({box[0]:.0f}, {box[1]:.0f})-({box[2]:.0f}, {box[3]:.0f})"
        for t in tracks
        if (box := t.box_at(frame)) is not None
    ]
    where = "; ".join(on_frame) if on_frame else "no face is detected on that frame"
    raise NoFaceFoundError(
        f"no face at ({x:.0f}, {y:.0f}) on frame {frame}: {where}. Click inside a face box, or choose a track by id "
        f"({describe_tracks(tracks)})"
    )


def _screen_weight(track: FaceTrack) -> float:
    """Mean box area times frames present, i.e. the summed area over the frames the face is detected on."""
    boxes = track.boxes[track.present]
    return float(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum())


def describe_tracks(tracks: list[FaceTrack]) -> str:
    """`"0 (frames 0-99), 1 (frames 120-249)"`: the ids and the frames each track covers."""
    return ", ".join(f"{t.track_id} (frames {t.first_frame}-{t.last_frame})" for t in tracks)


def face_coverage(tracks: list[FaceTrack], frame_count: int) -> dict[str, Any]:
    """Where faces are in `frame_count` tracked frames, as plain data for reports.

    Args:
        tracks (`list[FaceTrack]`): the tracks from `track_faces` over those frames.
        frame_count (`int`): how many frames were tracked.

    Returns:
        `dict`: `frame_count`, `frames_with_face` and `face_share` (frames with any face / frame_count), and
        `tracks`: for each track its `track_id`, `first_frame`, `last_frame` (inclusive), `frames_present` and
        `mean_box_size` `[width, height]` in pixels.
    """
    if frame_count < 0 or any(t.last_frame >= frame_count for t in tracks):
        raise InvalidParameterError(
            f"face tracks reach frame {max((t.last_frame for t in tracks), default=-1)} but frame_count is "
            f"{frame_count}; pass the number of frames that were tracked"
        )
    with_face = np.zeros(frame_count, dtype=bool)
    entries = []
    for track in tracks:
        with_face[track.first_frame + np.flatnonzero(track.present)] = True
        boxes = track.boxes[track.present]
        entries.append(
            {
                "track_id": track.track_id,
                "first_frame": track.first_frame,
                "last_frame": track.last_frame,
                "frames_present": track.frames_present,
                "mean_box_size": [
                    round(float(np.mean(boxes[:, 2] - boxes[:, 0])), 1),
                    round(float(np.mean(boxes[:, 3] - boxes[:, 1])), 1),
                ],
            }
        )
    frames_with_face = int(with_face.sum())
    return {
        "frame_count": frame_count,
        "frames_with_face": frames_with_face,
        "face_share": frames_with_face / frame_count if frame_count else 0.0,
        "tracks": entries,
    }

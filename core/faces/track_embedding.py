"""One identity embedding per face track, from the track's sharpest near-frontal frames.

A track's embedding is the mean of the embeddings of its `keep` sharpest candidate frames. Candidates are chosen
from the landmarks alone, before any frame is decoded: the track's frames are cut into `candidates` equal stretches
and each stretch gives its most frontal frame, so the candidates span the whole track (one blurred or turned moment
cannot supply them all). Sharpness is then measured on the decoded face (variance of the Laplacian of the face box
scaled to a fixed size, so a big face is not favoured for its size), and the sharpest `keep` are averaged: motion
blur and defocus move an embedding more than anything else on a frontal face.
"""

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from keydub.core.cancel import CancelToken, cancellable
from keydub.core.errors import InvalidParameterError
from keydub.core.faces.detection import check_frame
from keydub.core.faces.recognition import RecognitionBackend, embedding_distances
from keydub.core.faces.tracking import FaceTrack
from keydub.core.media import FrameReader
from keydub.core.progress import ProgressCallback, Stage, report


# Side of the square the face box is scaled to before its sharpness is measured.
_SHARPNESS_SIZE = 128


@dataclass(frozen=True, eq=False)
class TrackEmbedding:
    """Who the face of one track is.

    Args:
        track_id (`int`): the track (ids of the whole clip's analysis).
        model (`str`): the recognition backend's name; embeddings of different models do not compare.
        vector (`np.ndarray`): `(d,)` float32, the mean of the embeddings of `frames`.
        frames (`tuple[int, ...]`): the clip frames the embedding was taken from, sharpest first.
    """

    track_id: int
    model: str
    vector: np.ndarray
    frames: tuple[int, ...]

    def distance(self, other: "TrackEmbedding | np.ndarray") -> float:
        """Euclidean distance to another track's embedding (or to a bare vector of the same model)."""
        vector = other.vector if isinstance(other, TrackEmbedding) else other
        return float(embedding_distances(self.vector, vector)[0, 0])


def candidate_frames(track: FaceTrack, candidates: int = 6) -> list[int]:
    """The track's most frontal frame in each of `candidates` equal stretches of its detected frames.

    Frontality is how far the nose tip (point 30) sits from the middle of the jaw line (points 0 and 16), relative to
    the face width, as for the identity frame. Returns frame indices in the clip's frames, ascending.
    """
    if candidates < 1:
        raise InvalidParameterError(f"candidates must be a whole number >= 1, got {candidates!r}")
    offsets = np.flatnonzero(track.present & np.isfinite(track.landmarks).all(axis=(1, 2)))
    if not offsets.size:
        return []
    points = track.landmarks[offsets]
    width = points[:, 16, 0] - points[:, 0, 0]
    middle = (points[:, 16, 0] + points[:, 0, 0]) / 2
    turn = np.where(width > 0, np.abs(points[:, 30, 0] - middle) / np.where(width > 0, width, 1), np.inf)
    chosen = []
    for stretch in np.array_split(np.arange(offsets.size), min(candidates, offsets.size)):
        chosen.append(int(offsets[stretch[np.argmin(turn[stretch])]]))
    return [track.first_frame + offset for offset in sorted(set(chosen))]


def face_sharpness(frame_rgb: np.ndarray, box: np.ndarray) -> float:
    """Variance of the Laplacian of the face box, scaled to a fixed size: higher is sharper."""
    frame = check_frame(frame_rgb)
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (_SHARPNESS_SIZE, _SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def embed_tracks(
    reader: FrameReader,
    tracks: tuple[FaceTrack, ...] | list[FaceTrack],
    backend: RecognitionBackend,
    *,
    candidates: int = 6,
    keep: int = 3,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[TrackEmbedding, ...]:
    """An embedding for every track that has a usable frame, from one pass over the candidate frames.

    Args:
        reader (`FrameReader`): the clip the tracks were found on (track frames are its frame indices).
        tracks (`tuple[FaceTrack, ...]`): the clip's tracks.
        backend (`RecognitionBackend`): the model, from `get_recognition_backend`.
        candidates (`int`, defaults to 6): frontal frames per track that are decoded and embedded.
        keep (`int`, defaults to 3): how many of the sharpest candidates are averaged.
        progress (`ProgressCallback | None`): receives `Progress("identity", frames_done, frames_total)`.
        cancel (`CancelToken | None`): checked at every progress point.

    Returns:
        `tuple[TrackEmbedding, ...]`: in track order; a track without a finite landmark frame has none.
    """
    if not 1 <= keep <= candidates:
        raise InvalidParameterError(f"keep must be between 1 and candidates ({candidates}), got {keep!r}")
    progress = cancellable(progress, cancel)
    # frame -> the tracks that want it, so a frame shared by several faces is decoded once.
    wanted: dict[int, list[FaceTrack]] = defaultdict(list)
    for track in tracks:
        for frame in candidate_frames(track, candidates):
            wanted[frame].append(track)
    # track id -> [(sharpness, frame, embedding)]
    found: dict[int, list[tuple[float, int, np.ndarray]]] = defaultdict(list)
    for done, frame_index in enumerate(sorted(wanted), start=1):
        frame = reader.frame(frame_index)
        owners = wanted[frame_index]
        offsets = [frame_index - track.first_frame for track in owners]
        vectors = backend.embed(frame, [track.landmarks[o] for track, o in zip(owners, offsets, strict=True)])
        for track, offset, vector in zip(owners, offsets, vectors, strict=True):
            found[track.track_id].append((face_sharpness(frame, track.boxes[offset]), frame_index, vector))
        report(progress, Stage.IDENTITY, done, len(wanted))
    embeddings = []
    for track in tracks:
        if track.track_id not in found:
            continue
        best = sorted(found[track.track_id], key=lambda item: -item[0])[:keep]
        embeddings.append(
            TrackEmbedding(
                track_id=track.track_id,
                model=backend.name,
                vector=np.mean([vector for _, _, vector in best], axis=0).astype(np.float32),
                frames=tuple(frame for _, frame, _ in best),
            )
        )
    return tuple(embeddings)

"""Which face track of each shot is which character: references embedded, every face matched by distance.

A character's reference faces are embedded like any face (a click picks the track under it on the clip's frame,
whose embedding comes from the track's sharpest frontal frames; a picture's largest face is embedded as it is). A
face is the character whose nearest reference is closest, when that distance is under the cast's match distance
(by default the recognition backend's same-person distance, 0.6 for dlib). Two faces on screen together cannot
both be one character: the closer keeps the name, the other is flagged as a conflict and left unmatched.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from keydub.core.errors import NoFaceFoundError
from keydub.core.faces import embedding_distances, select_track
from keydub.core.media.image import read_image
from keydub.plugin.cast.cast_file import Cast, ReferenceFace
from keydub.plugin.cast.timeline_faces import ClipFace, DialogueClip, FaceAnalyser, TimelineFaces


@dataclass(frozen=True)
class FaceMatch:
    """One face track of a shot and the character it is.

    Args:
        track_id (`int`): the track (ids of the media file's analysis, the ones a render takes).
        frames (`tuple[int, int]`): `[first, last + 1)` frames of the media file on which it is seen in the shot.
        character (`str | None`): the character it is; `None` when it matches none (or lost a conflict).
        distance (`float | None`): the distance to the nearest character's nearest reference; `None` when the face
            has no embedding or the cast no reference.
        nearest (`str | None`): that nearest character, matched or not.
        conflict (`bool`): another face on screen at the same time is the same character, closer.
    """

    track_id: int
    frames: tuple[int, int]
    character: str | None
    distance: float | None
    nearest: str | None
    conflict: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "frames": list(self.frames),
            "character": self.character,
            "distance": None if self.distance is None else round(self.distance, 4),
            "nearest": self.nearest,
            "conflict": self.conflict,
        }


@dataclass(frozen=True)
class ShotCast:
    """Who is who in one dialogue clip.

    Args:
        clip (`DialogueClip`): the clip.
        faces (`tuple[FaceMatch, ...]`): each of its face tracks, in track id order.
    """

    clip: DialogueClip
    faces: tuple[FaceMatch, ...]

    def face_of(self, character: str) -> FaceMatch | None:
        """The track matched to `character` in this shot (the closest, if it is seen in several), else `None`."""
        matched = [face for face in self.faces if face.character == character]
        return min(matched, key=lambda face: face.distance) if matched else None


def reference_embeddings(cast: Cast, analyser: FaceAnalyser) -> dict[str, np.ndarray]:
    """Each character's reference embeddings, `(references, d)` (no rows for a character without references).

    Raises:
        `NoFaceFoundError`: a reference shows no face (no track under the click, no face in the picture), naming
            the character and the reference.
        `MediaNotFoundError`, `UnsupportedMediaError`: a reference's clip or picture cannot be read.
    """
    size = analyser.recognition.embedding_size
    embeddings = {}
    for character in cast.characters:
        vectors = [_reference_vector(reference, analyser, character.name) for reference in character.references]
        embeddings[character.name] = np.array(vectors, dtype=np.float32).reshape(len(vectors), size)
    return embeddings


def _reference_vector(reference: ReferenceFace, analyser: FaceAnalyser, name: str) -> np.ndarray:
    where = f"the reference face {reference.describe()} of {name!r}"
    if reference.image is not None:
        picture = read_image(reference.image)
        detections = analyser.landmarks.detect(picture)
        if not detections:
            raise NoFaceFoundError(f"{where} shows no face the landmark backend finds; use a frontal picture")
        largest = max(detections, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return analyser.recognition.embed(picture, [largest.landmarks])[0]
    tracks, by_track = analyser.analyse(reference.clip)
    try:
        track = select_track(list(tracks), point=reference.point, frame=reference.frame)
    except NoFaceFoundError as error:
        raise NoFaceFoundError(f"{where}: {error}") from error
    if track.track_id not in by_track:
        raise NoFaceFoundError(f"{where}: its face track {track.track_id} has no frame clear enough to recognise")
    return by_track[track.track_id].vector


def match_cast(
    faces: TimelineFaces, references: dict[str, np.ndarray], match_distance: float | None = None
) -> list[ShotCast]:
    """Who is who in every dialogue clip.

    Args:
        faces (`TimelineFaces`): the timeline's faces.
        references (`dict[str, np.ndarray]`): character name -> its reference embeddings (`reference_embeddings`).
        match_distance (`float | None`): the largest distance that is a match; `None` for the recognition
            backend's same-person distance.
    """
    threshold = match_distance or faces.same_person_distance
    names = [name for name, vectors in references.items() if len(vectors)]
    shots = []
    for clip in faces.clips:
        members = [face for face in faces.faces if face.clip.clip_id == clip.clip_id]
        matches = [_match(face, names, references, threshold) for face in members]
        shots.append(ShotCast(clip=clip, faces=tuple(_resolve_conflicts(members, matches))))
    return shots


def _match(face: ClipFace, names: list[str], references: dict[str, np.ndarray], threshold: float) -> FaceMatch:
    if face.embedding is None or not names:
        return FaceMatch(face.track_id, face.frames(), None, None, None)
    distances = [float(embedding_distances(face.embedding.vector, references[name]).min()) for name in names]
    best = int(np.argmin(distances))
    character = names[best] if distances[best] < threshold else None
    return FaceMatch(face.track_id, face.frames(), character, distances[best], names[best])


def _resolve_conflicts(members: list[ClipFace], matches: list[FaceMatch]) -> list[FaceMatch]:
    """Unmatch (and flag) every face that is on screen with a closer face of the same character."""
    resolved = list(matches)
    for i, (face, match) in enumerate(zip(members, matches, strict=True)):
        if match.character is None:
            continue
        for other, rival in zip(members, matches, strict=True):
            closer = (rival.distance, rival.track_id) < (match.distance, match.track_id)
            if rival.character == match.character and other is not face and face.overlaps(other) and closer:
                resolved[i] = FaceMatch(match.track_id, match.frames, None, match.distance, match.nearest, True)
                break
    return resolved

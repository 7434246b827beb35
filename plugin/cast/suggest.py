"""`keydub cast suggest`: every face of every dialogue clip clustered into identities, and a contact sheet.

The suggestion is a starting cast: one character per cluster, named `Character 1`, `Character 2`, ... (largest
cluster first), with the clearest faces of the cluster as references. The editor renames them (and sets each one's
dub track) in `cast.toml`, looking at the contact sheet: one row per cluster, a thumbnail per face track.
"""

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from keydub.core.cancel import CancelToken, cancellable
from keydub.core.faces.clustering import cluster_embeddings
from keydub.core.media import FrameReader
from keydub.core.media.image import write_png
from keydub.core.progress import ProgressCallback, Stage, Unit, report
from keydub.plugin.cast.cast_file import Cast, Character, ReferenceFace
from keydub.plugin.cast.timeline_faces import ClipFace, TimelineFaces


# References kept per suggested character: its faces seen longest, so one glance of a face does not stand for it.
REFERENCES_PER_CHARACTER = 3
THUMBNAIL = 112
# Thumbnails per contact-sheet row; a cluster with more faces shows its longest-seen ones and says how many.
THUMBNAILS_PER_ROW = 10
_LABEL_WIDTH = 200
_MARGIN = 8
_BACKGROUND = (32, 32, 32)
_TEXT = (235, 235, 235)
_DIM = (150, 150, 150)


@dataclass(frozen=True)
class CastSuggestion:
    """Faces grouped into identities.

    Args:
        faces (`TimelineFaces`): the faces clustered.
        clusters (`tuple[tuple[ClipFace, ...], ...]`): the identities, largest first; each one's faces longest-seen
            first. Faces without an embedding are in none.
    """

    faces: TimelineFaces
    clusters: tuple[tuple[ClipFace, ...], ...]

    def cast(self) -> Cast:
        """One character per cluster (`Character 1`, ...), no dub track, its longest-seen faces as references."""
        characters = []
        for number, members in enumerate(self.clusters, start=1):
            references = []
            for face in members[:REFERENCES_PER_CHARACTER]:
                frame, box = face.best_view()
                centre = (round(float(box[0] + box[2]) / 2, 1), round(float(box[1] + box[3]) / 2, 1))
                references.append(ReferenceFace(clip=face.clip.video, frame=frame, point=centre))
            characters.append(Character(name=f"Character {number}", references=tuple(references)))
        return Cast(characters=tuple(characters), recognition=self.faces.recognition)

    def to_dict(self) -> dict:
        return {
            "recognition": self.faces.recognition,
            "same_person_distance": self.faces.same_person_distance,
            "clips": len(self.faces.clips),
            "skipped": list(self.faces.skipped),
            "characters": [
                {
                    "name": f"Character {number}",
                    "faces": [
                        {"clip_id": face.clip.clip_id, "clip": face.clip.name, "track_id": face.track_id}
                        for face in members
                    ],
                }
                for number, members in enumerate(self.clusters, start=1)
            ],
        }


def suggest_cast(faces: TimelineFaces, match_distance: float | None = None) -> CastSuggestion:
    """Cluster every embedded face of the timeline into identities.

    Args:
        faces (`TimelineFaces`): from `FaceAnalyser.timeline_faces`.
        match_distance (`float | None`): the largest mean distance within an identity; `None` for the recognition
            backend's same-person distance.
    """
    embedded = [face for face in faces.faces if face.embedding is not None]
    apart = [(i, j) for i, a in enumerate(embedded) for j, b in enumerate(embedded[:i]) if a.overlaps(b)]
    labels = cluster_embeddings(
        np.array([face.embedding.vector for face in embedded]).reshape(len(embedded), -1),
        match_distance or faces.same_person_distance,
        apart,
    )
    groups: dict[int, list[ClipFace]] = defaultdict(list)
    for label, face in zip(labels, embedded, strict=True):
        groups[int(label)].append(face)
    clusters = [tuple(sorted(group, key=lambda face: -face.track.frames_present)) for group in groups.values()]
    clusters.sort(key=lambda group: (-len(group), -sum(face.track.frames_present for face in group)))
    return CastSuggestion(faces=faces, clusters=tuple(clusters))


def write_contact_sheet(
    suggestion: CastSuggestion,
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """A PNG with a row per identity: its name and face count, then a thumbnail of each face (longest-seen first)
    labelled with its clip; written atomically. Reports `Progress("identity", thumbnails_done, total)`."""
    progress = cancellable(progress, cancel)
    shown = [members[:THUMBNAILS_PER_ROW] for members in suggestion.clusters]
    thumbnails = _thumbnails([face for row in shown for face in row], progress)
    row_height = THUMBNAIL + 2 * _MARGIN + 16
    width = _LABEL_WIDTH + THUMBNAILS_PER_ROW * (THUMBNAIL + _MARGIN) + _MARGIN
    sheet = np.full((max(1, len(shown)) * row_height, width, 3), _BACKGROUND, dtype=np.uint8)
    if not shown:
        _text(sheet, "no face was found in the dialogue clips", (_MARGIN, row_height // 2), _TEXT, 0.55)
    for row, (members, faces) in enumerate(zip(suggestion.clusters, shown, strict=True)):
        top = row * row_height + _MARGIN
        _text(sheet, f"Character {row + 1}", (_MARGIN, top + 28), _TEXT, 0.7)
        clips = len({face.clip.clip_id for face in members})
        _text(sheet, f"{len(members)} faces in {clips} clips", (_MARGIN, top + 56), _DIM, 0.45)
        for column, face in enumerate(faces):
            left = _LABEL_WIDTH + column * (THUMBNAIL + _MARGIN)
            sheet[top : top + THUMBNAIL, left : left + THUMBNAIL] = thumbnails[id(face)]
            _text(sheet, face.clip.name[:16], (left, top + THUMBNAIL + 13), _DIM, 0.38)
    return write_png(path, sheet)


def _thumbnails(faces: list[ClipFace], progress: ProgressCallback | None) -> dict[int, np.ndarray]:
    """A square thumbnail of each face at its best view, reading each media file once, frames in order."""
    by_video: dict[Path, list[tuple[int, ClipFace]]] = defaultdict(list)
    for face in faces:
        by_video[face.clip.video].append((face.best_view()[0], face))
    thumbnails: dict[int, np.ndarray] = {}
    for video, wanted in by_video.items():
        with FrameReader(video) as reader:
            for frame_index, face in sorted(wanted, key=lambda item: item[0]):
                thumbnails[id(face)] = _face_square(reader.frame(frame_index), face.track.box_at(frame_index))
                report(progress, Stage.IDENTITY, len(thumbnails), len(faces), unit=Unit.ITEMS)
    return thumbnails


def _face_square(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The face box grown by a quarter on each side, squared, clamped to the frame and scaled to a thumbnail."""
    height, width = frame.shape[:2]
    size = max(box[2] - box[0], box[3] - box[1]) * 1.5
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0, y0 = int(max(0, cx - size / 2)), int(max(0, cy - size / 2))
    x1, y1 = int(min(width, cx + size / 2)), int(min(height, cy + size / 2))
    return cv2.resize(frame[y0:y1, x0:x1], (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int], scale: float) -> None:
    # Hershey fonts draw ASCII only: other characters show as "?" rather than as boxes or nothing.
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    cv2.putText(image, ascii_text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)

"""The clip list's Face cell: which face a clip renders, in words an editor reads, with the click in a tooltip.

A clicked face is stored as a source-pixel point on a frame (what `--face X,Y@FRAME` takes). The list names the
face as the viewer labels its box (`face 2`) with the box's size on that frame; the point itself, and the
command-line option that gives the same choice, go in the tooltip.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keydub.core.render.request import FaceChoice
from keydub.plugin.panel.analysis import FaceAnalysis


if TYPE_CHECKING:
    from keydub.plugin.jobs import CastSpeaker


@dataclass(frozen=True)
class FaceLabel:
    """The Face cell: `text` for the cell, `tooltip` with the details."""

    text: str
    tooltip: str


def face_label(face: FaceChoice, first_frame: int, analysis: FaceAnalysis | None = None) -> FaceLabel:
    """Describe a clip's face choice.

    Args:
        face (`FaceChoice`): the clip's choice (none: the largest face).
        first_frame (`int`): the clip's first frame, where a choice without a frame is looked up.
        analysis (`FaceAnalysis | None`): the clip's face tracks, once found (then the face's id and box size show).

    Returns:
        `FaceLabel`, e.g. `"face 2, 212×240 px"` with the tooltip
        `"clicked at x 604, y 724 on frame 0 (keydub render --face 604,724@0)"`.
    """
    frame = first_frame if face.frame is None else face.frame
    if face.point is not None:
        x, y = face.point
        tooltip = f"clicked at x {x:.0f}, y {y:.0f} on frame {frame} (keydub render --face {x:.0f},{y:.0f}@{frame})"
        fallback = f"clicked face (frame {frame})"
    elif face.track_id is not None:
        tooltip = f"face track {face.track_id} (keydub render --face-track {face.track_id})"
        fallback = f"face {face.track_id}"
    else:
        tooltip = "no face chosen: each shot renders its largest face; click a face in the viewer to choose one"
        fallback = "largest face"
    if analysis is None:
        return FaceLabel(fallback, tooltip)
    track_id = analysis.chosen_track(face, frame)
    box = dict(analysis.boxes_at(frame)).get(track_id) if track_id is not None else None
    if box is None:
        return FaceLabel(f"{fallback}: not found on frame {frame}", tooltip)
    size = f"face {track_id}, {box[2] - box[0]:.0f}×{box[3] - box[1]:.0f} px"
    return FaceLabel(f"largest ({size})" if face.point is None and face.track_id is None else size, tooltip)


def speakers_label(speakers: "tuple[CastSpeaker, ...]") -> FaceLabel:
    """Describe a clip's speakers (from the cast), e.g. `"Anna (face 1), Bea (face 0)"`, each stem in the tooltip."""
    text = ", ".join(f"{speaker.character} (face {speaker.track_id})" for speaker in speakers)
    stems = "\n".join(f"{s.character}: face {s.track_id}, dub {s.dub_track}" for s in speakers)
    return FaceLabel(text, f"speakers from the cast, each face with its character's dub track:\n{stems}")

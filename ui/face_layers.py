"""What the window draws over the viewer from a clip's face analysis: the tracked faces' boxes (named by the cast
where it knows them), the regeneration mask, and where the scrub bar marks frames without a face."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore, QtGui

from keydub.core.render.request import FaceChoice
from keydub.plugin.panel.analysis import FaceAnalysis
from keydub.plugin.panel.cast import CastLabel


FACES_LAYER, MASK_LAYER = "faces", "mask"
NO_FACE_MARKERS = "no face"
CHOSEN_FACE_COLOUR = QtGui.QColor(60, 220, 90)
OTHER_FACE_COLOUR = QtGui.QColor(250, 210, 60)
NO_FACE_COLOUR = QtGui.QColor(220, 60, 60)
# The regeneration mask's tint, as `keydub mask` draws it (red at 45 %).
MASK_RGBA = (255, 0, 0, 115)
# One colour per character, in cast order; none is the chosen face's green, the other faces' yellow or red.
CAST_COLOURS = tuple(
    QtGui.QColor(*rgb)
    for rgb in ((70, 150, 255), (255, 110, 200), (255, 150, 40), (170, 120, 255), (40, 215, 215), (190, 240, 120))
)
CONFLICT_COLOUR = QtGui.QColor(255, 50, 50)
LABEL_BACKGROUND = QtGui.QColor(0, 0, 0, 170)


@dataclass(frozen=True)
class BoxName:
    """How a face's box is drawn for the cast: its text and colour, dashed when the editor should look at it."""

    text: str
    colour: QtGui.QColor
    is_flagged: bool


def character_colour(index: int) -> QtGui.QColor:
    """The colour of the cast's `index`-th character."""
    return CAST_COLOURS[index % len(CAST_COLOURS)]


def box_names(labels: Mapping[int, CastLabel], colour_index: Callable[[str], int]) -> dict[int, BoxName]:
    """The cast's names for the faces' boxes by track id: a character's in its colour, a conflict in red, a face
    set to nobody in the other faces' colour; a face the cast does not know keeps its plain box."""
    names = {}
    for track_id, label in labels.items():
        if label.conflict:
            colour = CONFLICT_COLOUR
        elif label.character is not None:
            colour = character_colour(colour_index(label.character))
        elif label.overridden:
            colour = OTHER_FACE_COLOUR
        else:
            continue
        names[track_id] = BoxName(label.text(), colour, label.is_flagged)
    return names


def faces_image(
    analysis: FaceAnalysis,
    chosen: int | None,
    frame: int,
    size: tuple[int, int],
    names: Mapping[int, BoxName] | None = None,
) -> QtGui.QImage:
    """The boxes of the faces on source frame `frame`, on a transparent image of `size` `(height, width)`.

    A face is named by track id on a dark band, track `chosen` thicker and green; a face in `names` (`box_names`)
    carries its character's name on that band in the character's colour, its box dashed when flagged.
    """
    height, width = size
    layer = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    layer.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(layer)
    pen_width = max(2, height // 240)  # about 2 screen pixels when the frame is fitted
    font = painter.font()
    font.setPixelSize(max(12, height // 30))
    font.setBold(True)
    painter.setFont(font)
    for track_id, box in analysis.boxes_at(frame):
        name = (names or {}).get(track_id)
        colour = name.colour if name is not None else CHOSEN_FACE_COLOUR if track_id == chosen else OTHER_FACE_COLOUR
        pen = QtGui.QPen(colour, pen_width * (2 if track_id == chosen else 1))
        if name is not None and name.is_flagged:
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        painter.setPen(pen)
        rect = QtCore.QRectF(float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1]))
        painter.drawRect(rect)
        # Every label sits on a dark band above its box, in the box's colour, so it never runs into the box's edge.
        label = f"face {track_id}" if name is None else name.text
        text = painter.fontMetrics().boundingRect(label)
        band = QtCore.QRectF(rect.left(), rect.top() - text.height() - pen_width * 2, text.width() + 8, text.height())
        painter.fillRect(band, LABEL_BACKGROUND)
        painter.drawText(band, QtCore.Qt.AlignmentFlag.AlignCenter, label)
    painter.end()
    return layer


def mask_image(analysis: FaceAnalysis, face: FaceChoice, frame: int, size: tuple[int, int]) -> np.ndarray | None:
    """The region a render regenerates on source frame `frame` for `face`, tinted as `keydub mask` tints it, as an
    RGBA array of `size`; `None` where there is no face."""
    mask = analysis.regeneration_mask(face, frame, size)
    if mask is None:
        return None
    layer = np.zeros((*mask.shape, 4), dtype=np.uint8)
    layer[mask] = MASK_RGBA
    return layer

"""What the window draws over the viewer from a clip's face analysis: the tracked faces' boxes, the regeneration
mask, and where the scrub bar marks frames without a face."""

import numpy as np
from PySide6 import QtCore, QtGui

from keydub.core.render.request import FaceChoice
from keydub.plugin.panel.analysis import FaceAnalysis


FACES_LAYER, MASK_LAYER = "faces", "mask"
NO_FACE_MARKERS = "no face"
CHOSEN_FACE_COLOUR = QtGui.QColor(60, 220, 90)
OTHER_FACE_COLOUR = QtGui.QColor(250, 210, 60)
NO_FACE_COLOUR = QtGui.QColor(220, 60, 60)
# The regeneration mask's tint, as `keydub mask` draws it (red at 45 %).
MASK_RGBA = (255, 0, 0, 115)


def faces_image(analysis: FaceAnalysis, chosen: int | None, frame: int, size: tuple[int, int]) -> QtGui.QImage:
    """The boxes of the faces on source frame `frame`, named by track id, track `chosen` thicker and green, on a
    transparent image of `size` `(height, width)`."""
    height, width = size
    layer = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    layer.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(layer)
    pen_width = max(2, height // 240)  # about 2 screen pixels when the frame is fitted
    for track_id, box in analysis.boxes_at(frame):
        colour = CHOSEN_FACE_COLOUR if track_id == chosen else OTHER_FACE_COLOUR
        painter.setPen(QtGui.QPen(colour, pen_width * (2 if track_id == chosen else 1)))
        rect = QtCore.QRectF(float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1]))
        painter.drawRect(rect)
        font = painter.font()
        font.setPixelSize(max(12, height // 30))
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(rect.topLeft() + QtCore.QPointF(0, -pen_width * 2), f"face {track_id}")
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

"""What SyncNet looks at: 25 fps face crops cut the way the SyncNet release cuts them.

Frame rate. SyncNet is a 25 fps model (a 5-frame window is 0.2 s of speech). The release converts every video
to 25 fps before scoring; we do the same for the metric only, by taking for each 25 fps instant `j / 25` the
source frame shown nearest to it (`round(j * rate / 25)`, computed exactly with `Fraction`). Nothing is blended,
and the source keeps its own frames; a 24000/1001 clip is scored on the motion it really has instead of being
read as if it ran at 25 fps, which would stretch its lips against the audio by 4 %.

Crop. The release detects faces (S3FD), smooths the box centre and half-size `s` with a 13-frame median, and
cuts rows `[y - s, y + 2.8 s)` and columns `[x - 1.4 s, x + 1.4 s)` around the box centre from the frame padded
with grey 110, then resizes to 224x224. We take the box from the 68 landmarks (their bounding box, which reaches
from the eyebrows to the chin, slightly lower than a detector's box, which also covers the forehead) and a
median that repeats the end values instead of padding with zeros, so that boxes do not shrink at clip ends.

Colour, whole face. `syncnet_v2.model` reads the whole 224x224 face crop in colour (its first layer is a 3-channel
3D convolution over 5 frames), not the grayscale mouth crops of the first SyncNet paper or the lower-half crops of
Wav2Lip's expert discriminator; feeding it either would score pictures it was never trained on.
"""

import math
from collections.abc import Iterable
from fractions import Fraction

import cv2
import numpy as np
from scipy.ndimage import median_filter

from ..errors import InvalidParameterError, NoFaceFoundError
from .syncnet import CROP_SIZE, SYNCNET_FRAME_RATE


CROP_MARGIN = 0.4
"""The release's `--crop_scale`: the crop reaches 1.4 half-sizes sideways and 2.8 below the top of the box."""

BOX_MEDIAN_FRAMES = 13
"""The release's median filter length (frames) on box centre and size."""

PAD_VALUE = 110
"""Grey the release pads frames with where a crop leaves the picture."""


def syncnet_frame_indices(frame_count: int, frame_rate: Fraction) -> np.ndarray:
    """Source frames to show at 25 fps: for each instant `j / 25` in the clip, the nearest source frame.

    Args:
        frame_count (`int`): frames in the source.
        frame_rate (`Fraction`): the source's exact rate, e.g. `Fraction(24000, 1001)`.

    Returns:
        `np.ndarray` of int64: `ceil(frame_count * 25 / rate)` source frame indices, non-decreasing; the identity
        for a 25 fps clip. Ties (an instant halfway between two frames) go to the later frame.
    """
    rate = Fraction(frame_rate)
    if frame_count < 0 or rate <= 0:
        raise InvalidParameterError(f"cannot resample {frame_count} frames at {rate} fps; expected a positive rate")
    count = math.ceil(Fraction(frame_count) * SYNCNET_FRAME_RATE / rate)
    ratio = rate / SYNCNET_FRAME_RATE
    return np.array(
        [min(frame_count - 1, math.floor(j * ratio + Fraction(1, 2))) for j in range(count)], dtype=np.int64
    )


def crop_boxes(landmarks: np.ndarray) -> np.ndarray:
    """Smoothed crop boxes per frame from 68-point landmarks.

    Frames without a face take the box interpolated linearly from the nearest frames with one (held at the
    ends), as the release interpolates its detections inside a track.

    Args:
        landmarks (`np.ndarray` of shape `(n, 68, 2)`): landmarks in pixels, NaN where there is no face.

    Returns:
        `np.ndarray` of shape `(n, 4)`, int64: `(top, bottom, left, right)` pixel bounds, end exclusive; they may
        lie outside the frame.

    Raises:
        NoFaceFoundError: no frame has a face.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise InvalidParameterError(f"landmarks have shape {points.shape}; expected (frames, 68, 2)")
    found = np.isfinite(points).all(axis=(1, 2))
    if not found.any():
        raise NoFaceFoundError(
            f"no face in any of the {len(points)} frames, so SyncNet has nothing to score; check the video shows a "
            "face and that the landmark backend finds it"
        )
    frames = np.arange(len(points))
    low, high = points.min(axis=1), points.max(axis=1)  # (n, 2) each: x, y
    centre = np.stack([np.interp(frames, frames[found], ((low + high) / 2)[found, k]) for k in range(2)], axis=1)
    half = np.interp(frames, frames[found], ((high - low).max(axis=1) / 2)[found])
    window = min(BOX_MEDIAN_FRAMES, len(points))
    centre = median_filter(centre, size=(window, 1), mode="nearest")
    half = median_filter(half, size=window, mode="nearest")
    x, y = centre[:, 0], centre[:, 1]
    bounds = [y - half, y + half * (1 + 2 * CROP_MARGIN), x - half * (1 + CROP_MARGIN), x + half * (1 + CROP_MARGIN)]
    return np.floor(np.stack(bounds, axis=1)).astype(np.int64)


def cut_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """One 224x224 crop of `frame` inside `box` (`top, bottom, left, right`), grey 110 outside the picture."""
    top, bottom, left, right = (int(value) for value in box)
    height, width = frame.shape[:2]
    canvas = np.full((max(1, bottom - top), max(1, right - left), 3), PAD_VALUE, dtype=np.uint8)
    rows = slice(max(top, 0), min(bottom, height))
    cols = slice(max(left, 0), min(right, width))
    if rows.start < rows.stop and cols.start < cols.stop:
        canvas[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = _as_uint8(frame[rows, cols])
    return cv2.resize(canvas, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)


def syncnet_face_crops(frames: Iterable[np.ndarray], boxes: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Face crops at 25 fps from a stream of source frames (read once, none kept).

    Args:
        frames (`Iterable[np.ndarray]`): the source frames in order, RGB (uint8, or uint16 for high bit depth).
        boxes (`np.ndarray` of shape `(n, 4)`): `crop_boxes` of the source frames.
        indices (`np.ndarray`): `syncnet_frame_indices` of the source, non-decreasing.

    Returns:
        `np.ndarray` of shape `(len(indices), 224, 224, 3)`, RGB uint8.

    Raises:
        InvalidParameterError: the stream ended before the last frame needed.
    """
    crops = np.empty((len(indices), CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    wanted = _positions_by_frame(indices)
    filled = 0
    for index, frame in enumerate(frames):
        for position in wanted.pop(index, ()):
            crops[position] = cut_crop(frame, boxes[index])
            filled += 1
        if not wanted:
            break
    if filled < len(indices):
        raise InvalidParameterError(
            f"the video ended before frame {int(indices[-1])} that SyncNet needs; is the file truncated?"
        )
    return crops


def _positions_by_frame(indices: np.ndarray) -> dict[int, list[int]]:
    positions: dict[int, list[int]] = {}
    for position, index in enumerate(indices.tolist()):
        positions.setdefault(index, []).append(position)
    return positions


def _as_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    return pixels

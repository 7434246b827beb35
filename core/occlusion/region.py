"""The square part of the source frame the segmenter works on, and the maps between it and source pixels.

SAM2 resizes whatever it is given to a square of `image_size` pixels (1024 for the released models). Handing it
a whole 4K frame would spend most of that resolution, and the memory of every stored frame, on pixels far from
the face; cutting a square around the face first keeps the occluder sharp and the memory per frame fixed.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from keydub.core.errors import InvalidParameterError


# Side of the region as a multiple of the larger side of what it must contain: a hand or a microphone in front
# of the mouth reaches well outside the face box, and SAM2 needs some context around an object to segment it.
DEFAULT_REGION_SCALE = 1.6

# Smallest region side in source pixels (or the frame's larger side if that is smaller): a single click has no
# extent, and a region much smaller than the model's input only adds upsampling blur.
DEFAULT_MIN_REGION_SIDE = 384


@dataclass(frozen=True)
class SquareRegion:
    """A square of source pixels, possibly reaching past the frame edges (the part outside reads as black).

    Args:
        x0 (`int`): left edge in source pixels (may be negative).
        y0 (`int`): top edge in source pixels (may be negative).
        side (`int`): width and height in source pixels.
    """

    x0: int
    y0: int
    side: int

    def __post_init__(self) -> None:
        if self.side <= 0:
            raise InvalidParameterError(f"region side must be positive, got {self.side}")

    def to_dict(self) -> dict[str, int]:
        return {"x0": self.x0, "y0": self.y0, "side": self.side}

    def crop(self, frame: np.ndarray, size: int) -> np.ndarray:
        """Cut the region out of `frame` and resize it to `size` x `size`.

        Args:
            frame (`np.ndarray`): a source frame, `(H, W, 3)` uint8 RGB or `(H, W)` bool/uint8.
            size (`int`): side of the returned square.

        Returns:
            `np.ndarray`: `(size, size, 3)` uint8 for a colour frame (area-averaged when shrinking); for a mask, a
            `(size, size)` bool array that is true where at least half of the covered source pixels are.
        """
        is_mask = frame.ndim == 2
        padded = np.zeros((self.side, self.side, *frame.shape[2:]), dtype=np.uint8)
        src, dst = self._overlap(frame.shape[:2])
        padded[dst] = frame[src]
        if is_mask:
            padded = padded.astype(bool).astype(np.float32)
        if size != self.side:
            interpolation = cv2.INTER_AREA if size < self.side else cv2.INTER_LINEAR
            padded = cv2.resize(padded, (size, size), interpolation=interpolation)
        return padded >= 0.5 if is_mask else padded

    def logits_to_mask(self, logits: np.ndarray) -> np.ndarray:
        """Segmenter logits `(S, S)` (object where `> 0`) as a `(side, side)` bool mask of the region.

        Logits are resized bilinearly before thresholding (as SAM2 does for its own output) so that edges stay
        smooth when the region is larger than the segmenter's input.
        """
        if logits.shape[0] != self.side:
            logits = cv2.resize(logits.astype(np.float32), (self.side, self.side), interpolation=cv2.INTER_LINEAR)
        return logits > 0

    def paste(self, mask: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
        """Place a `(side, side)` bool mask of the region in an empty mask of the source frame.

        Args:
            mask (`np.ndarray`): `(side, side)` bool.
            frame_size (`tuple[int, int]`): `(height, width)` of the source frame.

        Returns:
            `np.ndarray`: `(height, width)` bool; false outside the region.
        """
        frame_mask = np.zeros(frame_size, dtype=bool)
        src, dst = self._overlap(frame_size)
        frame_mask[src] = mask[dst]
        return frame_mask

    def to_local(self, points: np.ndarray, size: int) -> np.ndarray:
        """Map `(N, 2)` source-pixel `(x, y)` coordinates to the `size`-pixel square the segmenter sees."""
        offset = np.array([self.x0, self.y0], dtype=np.float64)
        return ((np.asarray(points, dtype=np.float64) - offset) * (size / self.side)).astype(np.float32)

    def _overlap(self, frame_size: tuple[int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """Slices of the frame and of the region that cover the same pixels."""
        height, width = frame_size
        left, top = max(self.x0, 0), max(self.y0, 0)
        right, bottom = min(self.x0 + self.side, width), min(self.y0 + self.side, height)
        if right <= left or bottom <= top:
            raise InvalidParameterError(
                f"region {self.to_dict()} does not overlap the {width}x{height} frame; pass face boxes or prompts "
                "that lie inside the picture"
            )
        src = (slice(top, bottom), slice(left, right))
        dst = (slice(top - self.y0, bottom - self.y0), slice(left - self.x0, right - self.x0))
        return src, dst


def region_around(
    boxes: Iterable[tuple[float, float, float, float]],
    frame_size: tuple[int, int],
    scale: float = DEFAULT_REGION_SCALE,
    min_side: int = DEFAULT_MIN_REGION_SIDE,
) -> SquareRegion:
    """The square region covering every box, enlarged by `scale`, kept inside the frame where it fits.

    Args:
        boxes (`Iterable[tuple[float, float, float, float]]`): `(x0, y0, x1, y1)` source-pixel boxes (face boxes
            of the track, prompt points as zero-size boxes, brush mask bounds); rows with NaN are skipped.
        frame_size (`tuple[int, int]`): `(height, width)` of the source frame.
        scale (`float`, defaults to 1.6): region side as a multiple of the larger side of the boxes' union.
        min_side (`int`, defaults to 384): smallest side, capped at the frame's larger side.

    Returns:
        `SquareRegion`: centred on the union where the frame allows; a region larger than the frame's smaller
        side is centred on that axis and padded.
    """
    height, width = frame_size
    array = np.asarray(list(boxes), dtype=np.float64).reshape(-1, 4)
    array = array[np.isfinite(array).all(axis=1)]
    if len(array) == 0:
        raise InvalidParameterError("no face box or prompt to place the occlusion region around; add a click first")
    left, top = array[:, 0].min(), array[:, 1].min()
    right, bottom = array[:, 2].max(), array[:, 3].max()
    side = max(right - left, bottom - top) * scale
    side = int(math.ceil(min(max(side, min(min_side, max(height, width))), max(height, width))))
    return SquareRegion(_place(0.5 * (left + right), side, width), _place(0.5 * (top + bottom), side, height), side)


def _place(center: float, side: int, extent: int) -> int:
    """Start of a `side`-long span centred on `center`, shifted to stay inside `[0, extent)` when it fits."""
    if side >= extent:
        return (extent - side) // 2
    return int(min(max(round(center - side / 2), 0), extent - side))

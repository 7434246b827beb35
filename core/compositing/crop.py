"""Face crops for the model and the paste-back of what it generates.

KeySync itself has no crop and no paste-back (keysync-architecture.md §7): it squashes a whole, already face-cropped
frame to 512x512 and writes the 512x512 result. Keydub renders at the source's resolution instead, so this module
adds the two missing halves:

- `crop_windows(landmarks)`: per frame, an axis-aligned square around the face (smoothed over time) that frames the
  face the way the model's training clips do; `warp_to_crop` resamples a frame into it.
- `paste_back(frame, generated, window, region)`: warps the generated crop back with the exact inverse transform
  and blends it in with a feather that lies inside the region, after an optional colour match, so every source
  pixel outside `blend_region(...)` stays bit-exact.

Coordinates. Points (landmarks, `to_crop`, `to_source`) use the pixel-centre convention of OpenCV and the landmark
detectors: pixel `(x, y)` is centred on the integer point `(x, y)`. A window's `center_x`, `center_y` and `size`
use the pixel-edge convention, where pixel `(x, y)` spans `[x, x + 1) x [y, y + 1)`: the square spans
`[center - size / 2, center + size / 2)`, so an integer centre and an even size cover whole source pixels (a window
of `size == output_size` is then an exact pixel copy).
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np

from keydub.core.errors import InvalidParameterError
from keydub.core.frame_range import true_runs
from keydub.core.render.options import RenderOptions


# Crop framing, in units of the face's scale `u` (the distance between the two eye centres, see `face_scale`).
# Measured with dlib on the talking-head test clip (frontal speech, 10 s), the eye line lies about 0.5 u below the
# brows, 0.95 u above the mouth centre and 1.75 u above the chin; the head top is about 1.9 u above the eyes.
# KeySync's training clips show the whole head with a little margin, the mouth in the lower middle and some neck
# below the chin (its box mask runs from the nose to the crop's bottom edge, so the jaw needs room to open). A
# square of 4.1 u centred 0.15 u below the eyes spans from 1.9 u above the eyes (head top) to 2.2 u below them
# (chin + 0.45 u): the mouth lands at 70 % of the height, the chin at 89 %, the jaw's width is half the crop.
DEFAULT_SCALE = 4.1
CENTER_BELOW_EYES = 0.15
# Eye-to-nose-base distance of a frontal face, in u. A face turned sideways shrinks the eye distance but not the
# nose's length, so the larger of the two estimates keeps the crop from collapsing on profile views.
EYE_TO_NOSE_BASE = 0.65
# Whatever the framing, every landmark stays this far (in u) inside the crop, the chin above all.
LANDMARK_MARGIN = 0.3
# Zero-phase Gaussian smoothing of the window over time, standard deviation in frames (0.12 s at 25 fps): it
# removes the landmark detector's frame-to-frame jitter while following real head motion.
DEFAULT_SMOOTHING = 3.0
# The paste-back feather of a render that does not choose one, in crop pixels (`RenderOptions.feather`).
DEFAULT_FEATHER: float = RenderOptions.feather
# Colour matching statistics come from the region's pixels within this many crop pixels of its edge (at least).
MIN_COLOR_BAND = 4.0
# Limits of the colour correction: a per-channel gain (std ratio) and an offset in fractions of full scale. The
# generated region should already be close to the source; a larger measured gap is a generation problem that a
# colour shift would only hide.
MAX_COLOR_GAIN = 1.25
MAX_COLOR_SHIFT = 0.08

_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_NOSE_BASE = 33


@dataclass(frozen=True)
class CropWindow:
    """A square of `size` source pixels centred on `(center_x, center_y)`, resampled to `output_size` pixels.

    Args:
        center_x (`float`): centre of the square, source pixels (pixel-edge convention, see the module docstring).
        center_y (`float`): centre of the square, source pixels.
        size (`float`): side of the square in source pixels.
        output_size (`int`, defaults to 512): side of the crop in pixels (the model's frame size).
    """

    center_x: float
    center_y: float
    size: float
    output_size: int = 512

    def __post_init__(self) -> None:
        if not (math.isfinite(self.center_x) and math.isfinite(self.center_y)):
            raise InvalidParameterError(
                f"crop window centre ({self.center_x}, {self.center_y}) is not finite; pass a frame with a face"
            )
        if not (math.isfinite(self.size) and self.size > 0):
            raise InvalidParameterError(f"crop window size {self.size} must be a positive number of source pixels")
        if isinstance(self.output_size, bool) or not isinstance(self.output_size, int) or self.output_size < 1:
            raise InvalidParameterError(f"crop output size {self.output_size!r} must be a positive integer")

    @property
    def scale(self) -> float:
        """Crop pixels per source pixel."""
        return self.output_size / self.size

    @property
    def matrix(self) -> np.ndarray:
        """The 2x3 affine (float64) taking source points to crop points (pixel-centre convention, as `cv2`)."""
        s = self.scale
        # Pixel-centre x is pixel-edge x - 0.5: the square's left edge, center - size / 2, goes to crop edge 0.
        tx = (self.size / 2 - self.center_x + 0.5) * s - 0.5
        ty = (self.size / 2 - self.center_y + 0.5) * s - 0.5
        return np.array([[s, 0.0, tx], [0.0, s, ty]], dtype=np.float64)

    @property
    def inverse_matrix(self) -> np.ndarray:
        """The 2x3 affine (float64) taking crop points back to source points: the exact inverse of `matrix`."""
        (s, _, tx), (_, _, ty) = self.matrix
        return np.array([[1 / s, 0.0, -tx / s], [0.0, 1 / s, -ty / s]], dtype=np.float64)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Map source points `(..., 2)` (x, y) into the crop; NaN stays NaN."""
        return _apply(self.matrix, points)

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Map crop points `(..., 2)` (x, y) back to the source; NaN stays NaN."""
        return _apply(self.inverse_matrix, points)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (2,):
        raise InvalidParameterError(f"points must have shape (..., 2), got {points.shape}")
    return points @ matrix[:, :2].T + matrix[:, 2]


# ----------------------------------------------------------------------------------------------------------------
# Windows from landmarks
# ----------------------------------------------------------------------------------------------------------------
def face_scale(landmarks: np.ndarray) -> np.ndarray:
    """The face's scale `u` per frame: the eye-centre distance, or the nose length when that is larger.

    Args:
        landmarks (`np.ndarray`): `(n, 68, 2)` iBUG landmarks in source pixels.

    Returns:
        `np.ndarray`: `(n,)` float64, NaN where a frame's landmarks are missing.
    """
    left, right = landmarks[:, _LEFT_EYE].mean(axis=1), landmarks[:, _RIGHT_EYE].mean(axis=1)
    eyes = np.linalg.norm(right - left, axis=-1)
    nose = np.linalg.norm(landmarks[:, _NOSE_BASE] - (left + right) / 2, axis=-1) / EYE_TO_NOSE_BASE
    return np.maximum(eyes, nose)


def crop_windows(
    landmarks: np.ndarray,
    *,
    output_size: int = 512,
    scale: float = DEFAULT_SCALE,
    smoothing: float = DEFAULT_SMOOTHING,
) -> list[CropWindow | None]:
    """Per-frame square face crops, smoothed over time, `None` where the face is missing.

    Each frame's square is `scale * u` source pixels wide (u: `face_scale`, the eye-centre distance), centred
    `0.15 u` below the eye midpoint along the face's vertical axis, then widened where needed so every landmark
    stays `0.3 u` inside it (the chin is never cut, even with the mouth wide open). The default `scale` of 4.1 frames
    the face like KeySync's training data: the whole head with a small margin, the mouth at about 70 % of the height
    and about 0.45 u of neck below the chin, into which the jaw can open (see the constants of this module for the
    measurements behind it). Centre and size are then smoothed over each run of consecutive frames that have the
    face, with a zero-phase Gaussian of `smoothing` frames whose ends are odd-reflected, so a steady motion is
    followed without lag and a cut or a missing frame never blends two shots.

    Args:
        landmarks (`np.ndarray`): `(n, 68, 2)` landmarks in source pixels (pixel-centre convention), NaN for every
            frame where the face is missing (a frame with any NaN coordinate counts as missing), e.g. a
            `FaceTrack`'s `landmarks` (entry `i` is then the track's frame `first_frame + i`).
        output_size (`int`, defaults to 512): side of the crops in pixels (the model's frame size).
        scale (`float`, defaults to 4.1): side of the square in units of `u`.
        smoothing (`float`, defaults to 3.0): standard deviation of the temporal smoothing, in frames; 0 disables it.

    Returns:
        `list[CropWindow | None]`: one entry per frame.

    Raises:
        `InvalidParameterError`: `landmarks` is not `(n, 68, 2)`, or `scale`/`smoothing` are out of range.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise InvalidParameterError(f"landmarks must have shape (frames, 68, 2), got {landmarks.shape}")
    if not (math.isfinite(scale) and scale > 0):
        raise InvalidParameterError(f"crop scale {scale} must be a positive number (the default is {DEFAULT_SCALE})")
    if not (math.isfinite(smoothing) and smoothing >= 0):
        raise InvalidParameterError(f"crop smoothing {smoothing} must be a number of frames >= 0")
    present = np.isfinite(landmarks).all(axis=(1, 2))
    windows: list[CropWindow | None] = [None] * len(landmarks)
    for start, end in true_runs(present):
        centre_x, centre_y, size = _raw_windows(landmarks[start:end], scale)
        centre_x, centre_y, size = (_smooth(values, smoothing) for values in (centre_x, centre_y, size))
        for offset in range(end - start):
            windows[start + offset] = CropWindow(
                float(centre_x[offset]), float(centre_y[offset]), float(size[offset]), output_size
            )
    return windows


def _raw_windows(landmarks: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unsmoothed centres (pixel-edge convention) and sizes of frames that all have landmarks."""
    unit = face_scale(landmarks)
    left, right = landmarks[:, _LEFT_EYE].mean(axis=1), landmarks[:, _RIGHT_EYE].mean(axis=1)
    across = right - left
    # The face's "down" is the eye line turned by +90 degrees (image y points down), so a tilted head is framed
    # along its own axis; a degenerate eye line falls back to the image's vertical.
    length = np.linalg.norm(across, axis=-1, keepdims=True)
    down = np.where(length > 0, np.stack([-across[:, 1], across[:, 0]], axis=-1) / np.maximum(length, 1e-12), [0, 1])
    centre = (left + right) / 2 + CENTER_BELOW_EYES * unit[:, None] * down
    # Widen the square so every landmark is at least LANDMARK_MARGIN * u inside it.
    reach = np.abs(landmarks - centre[:, None]).max(axis=(1, 2)) + LANDMARK_MARGIN * unit
    size = np.maximum(scale * unit, 2 * reach)
    # Landmarks are pixel-centre points; the window's centre is in pixel-edge coordinates.
    return centre[:, 0] + 0.5, centre[:, 1] + 0.5, size


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing of a 1-D series with odd reflection at both ends (keeps linear trends)."""
    radius = math.ceil(3 * sigma)
    if radius == 0 or len(values) < 2:
        return values
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.pad(values, radius, mode="reflect", reflect_type="odd")
    return np.convolve(padded, taps / taps.sum(), mode="valid")


# ----------------------------------------------------------------------------------------------------------------
# Resampling
# ----------------------------------------------------------------------------------------------------------------
def _check_image(image: np.ndarray, name: str) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16):
        raise InvalidParameterError(
            f"{name} must be an (height, width, 3) uint8 or uint16 RGB image, got {image.shape} {image.dtype}"
        )


def _resample(image: np.ndarray, matrix: np.ndarray, width: int, height: int, border: int) -> np.ndarray:
    """`cv2.warpAffine` of `image` by `matrix` (scale + translation) into `(height, width)`, anti-aliased.

    A downscale by a factor `f` first blurs with a Gaussian of sigma `(f - 1) / 2` (the usual anti-aliasing rule),
    then samples bilinearly; only the part of `image` that the output reads (plus the blur's reach) is blurred, so
    cropping a face from a 4K frame costs about as much as cropping it from an HD one. Out-of-image reads follow
    `border` (OpenCV border mode).
    """
    factor = 1 / abs(matrix[0, 0])
    sigma = (factor - 1) / 2
    if sigma <= 0.05:
        return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=border)
    # The source rectangle the output reads, grown by the blur's reach and the bilinear footprint.
    corners = np.array([[-0.5, -0.5], [width - 0.5, height - 0.5]])
    inverse = cv2.invertAffineTransform(matrix)
    reach = corners @ inverse[:, :2].T + inverse[:, 2]
    margin = math.ceil(3 * sigma) + 2
    x0, y0 = np.floor(reach.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(reach.max(axis=0)).astype(int) + margin + 1
    rows, cols = image.shape[:2]
    x0, y0 = min(max(x0, 0), cols - 1), min(max(y0, 0), rows - 1)
    x1, y1 = max(min(x1, cols), x0 + 1), max(min(y1, rows), y0 + 1)
    region = cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ [x0, y0]
    return cv2.warpAffine(region, shifted, (width, height), flags=cv2.INTER_LINEAR, borderMode=border)


def warp_to_crop(frame: np.ndarray, window: CropWindow) -> np.ndarray:
    """Resample the window's square of `frame` into an `(output_size, output_size, 3)` crop of the same dtype.

    Downscaling is anti-aliased (Gaussian pre-blur, then bilinear); where the square reaches outside the frame, the
    frame's edge pixels are replicated, so a face partly out of frame still gives a complete crop.

    Args:
        frame (`np.ndarray`): `(height, width, 3)` uint8 or uint16 RGB source frame.
        window (`CropWindow`): the frame's crop window.

    Returns:
        `np.ndarray`: the crop, `(output_size, output_size, 3)`, same dtype as `frame`.
    """
    _check_image(frame, "the source frame")
    size = window.output_size
    return _resample(frame, window.matrix, size, size, cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------------------------------------------
# Paste-back
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Footprint:
    """The region's blend weights in the source: a box of the frame and the weights inside it."""

    rows: slice
    cols: slice
    # Distance (crop pixels) from the region's edge, bilinearly warped into the box; 0 outside the region.
    depth: np.ndarray


def _footprint(frame_shape: tuple[int, ...], window: CropWindow, region_mask: np.ndarray) -> _Footprint | None:
    """Where the region lands in a frame of `frame_shape`, or `None` when it does not touch the frame."""
    size = window.output_size
    region_mask = np.asarray(region_mask)
    if region_mask.shape != (size, size) or region_mask.dtype != np.bool_:
        raise InvalidParameterError(
            f"the region mask must be a ({size}, {size}) bool array, got {region_mask.shape} {region_mask.dtype}"
        )
    if not region_mask.any():
        return None
    # Distance to the nearest pixel outside the region; the crop's own border counts as outside, so the region
    # also fades out where it meets the edge of the crop (below the chin).
    padded = np.pad(region_mask, 1).astype(np.uint8)
    depth = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    # Bilinear sampling reaches one crop pixel past the region: map that grown box to the source and clip.
    rows, cols = np.flatnonzero(region_mask.any(axis=1)), np.flatnonzero(region_mask.any(axis=0))
    corners = np.array([[cols[0] - 1, rows[0] - 1], [cols[-1] + 1, rows[-1] + 1]], dtype=np.float64)
    (x0, y0), (x1, y1) = window.to_source(corners)
    height, width = frame_shape[:2]
    x0, y0 = max(math.floor(x0) - 1, 0), max(math.floor(y0) - 1, 0)
    x1, y1 = min(math.ceil(x1) + 2, width), min(math.ceil(y1) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return None
    matrix = window.inverse_matrix.copy()
    matrix[:, 2] -= [x0, y0]
    warped = cv2.warpAffine(
        depth, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return _Footprint(slice(y0, y1), slice(x0, x1), warped)


def _weights(depth: np.ndarray, feather: float) -> np.ndarray:
    """Blend weights from the depth inside the region: a smoothstep from 0 at the edge to 1 at `feather`."""
    if feather <= 0:
        return (depth > 0).astype(np.float32)
    ramp = np.clip(depth / feather, 0, 1)
    return (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)


def _check_feather(feather: float) -> None:
    if not (math.isfinite(feather) and feather >= 0):
        raise InvalidParameterError(f"feather {feather} must be a number of crop pixels >= 0")


def blend_region(
    frame_shape: tuple[int, ...], window: CropWindow, region_mask: np.ndarray, feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """The source pixels that `paste_back` may change (all others come back bit-exact).

    Args:
        frame_shape (`tuple[int, ...]`): shape of the source frame, `(height, width, ...)`.
        window (`CropWindow`): the frame's crop window.
        region_mask (`np.ndarray`): `(S, S)` bool region mask in the crop.
        feather (`float`, defaults to 16): the feather passed to `paste_back`.

    Returns:
        `np.ndarray`: `(height, width)` bool.
    """
    _check_feather(feather)
    changed = np.zeros(frame_shape[:2], dtype=bool)
    footprint = _footprint(frame_shape, window, region_mask)
    if footprint is not None:
        changed[footprint.rows, footprint.cols] = _weights(footprint.depth, feather) > 0
    return changed


def _match_colours(generated: np.ndarray, source: np.ndarray, band: np.ndarray, peak: float) -> np.ndarray:
    """Move `generated`'s per-channel mean and spread on `band` toward `source`'s, within the clamp limits."""
    if band.sum() < 2:
        return generated
    gen, src = generated[band], source[band]
    gen_mean, src_mean = gen.mean(axis=0), src.mean(axis=0)
    gain = np.clip(src.std(axis=0) / np.maximum(gen.std(axis=0), 1e-6), 1 / MAX_COLOR_GAIN, MAX_COLOR_GAIN)
    shift = np.clip(src_mean - gen_mean, -MAX_COLOR_SHIFT * peak, MAX_COLOR_SHIFT * peak)
    return (generated - gen_mean) * gain + gen_mean + shift


def paste_back(
    source_frame: np.ndarray,
    generated_crop: np.ndarray,
    window: CropWindow,
    region_mask: np.ndarray,
    *,
    feather: float = DEFAULT_FEATHER,
    color_match: bool = True,
) -> np.ndarray:
    """Blend a generated crop into its source frame inside the region, leaving every other pixel bit-exact.

    The crop is warped back with the window's exact inverse (anti-aliased when the face is smaller in the source
    than in the crop) and blended with weights that rise from 0 at the region's edge to 1 at `feather` crop
    pixels inside it (smoothstep), so the blend never reaches outside the region's warped footprint. With
    `color_match`, the generated pixels are first corrected per channel (gain on the spread, offset on the mean,
    both clamped) so that, on the band of the region within `max(feather, 4)` crop pixels of its edge, they match
    the source: a slight colour or exposure drift of the generation then leaves no visible seam. Blending runs in
    float32 and rounds once. Only the bounding box of the warped region is computed and written.

    Args:
        source_frame (`np.ndarray`): `(height, width, 3)` uint8 or uint16 source frame; not modified.
        generated_crop (`np.ndarray`): `(S, S, 3)` crop of the same dtype (the model's output, `S = output_size`).
        window (`CropWindow`): the frame's crop window.
        region_mask (`np.ndarray`): `(S, S)` bool, true where the crop was regenerated.
        feather (`float`, defaults to 16): width of the blend ramp inside the region, in crop pixels; 0 pastes the
            region hard-edged.
        color_match (`bool`, defaults to `True`): match the generated region's colour to the source's at its edge.

    Returns:
        `np.ndarray`: a new frame; equal to `source_frame` wherever `blend_region(...)` is false.

    Raises:
        `InvalidParameterError`: mismatched shapes or dtypes, or a negative feather.
    """
    _check_image(source_frame, "the source frame")
    _check_image(generated_crop, "the generated crop")
    _check_feather(feather)
    size = window.output_size
    if generated_crop.shape[:2] != (size, size) or generated_crop.dtype != source_frame.dtype:
        raise InvalidParameterError(
            f"the generated crop is {generated_crop.shape} {generated_crop.dtype} but the window and frame need "
            f"({size}, {size}, 3) {source_frame.dtype}; convert it with crop_to_pixels(crop, frame.dtype)"
        )
    frame = source_frame.copy()
    footprint = _footprint(source_frame.shape, window, region_mask)
    if footprint is None:
        return frame
    weights = _weights(footprint.depth, feather)
    inside = weights > 0
    box_height, box_width = weights.shape
    matrix = window.inverse_matrix.copy()
    matrix[:, 2] -= [footprint.cols.start, footprint.rows.start]
    generated = _resample(generated_crop, matrix, box_width, box_height, cv2.BORDER_REPLICATE).astype(np.float32)
    source = source_frame[footprint.rows, footprint.cols].astype(np.float32)
    if color_match:
        band = (footprint.depth > 0) & (footprint.depth <= max(feather, MIN_COLOR_BAND))
        generated = _match_colours(generated, source, band, float(np.iinfo(source_frame.dtype).max))
    alpha = weights[inside][:, None]
    blended = source[inside] + alpha * (generated[inside] - source[inside])
    peak = np.iinfo(source_frame.dtype).max
    frame[footprint.rows, footprint.cols][inside] = np.clip(np.rint(blended), 0, peak).astype(source_frame.dtype)
    return frame

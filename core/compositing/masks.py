"""The region the model regenerates: KeySync's leakage-proof lower-face box, at pixel and latent resolution.

KeySync (keysync-architecture.md §1.4) masks a box from the nose down to the bottom edge of the frame, as wide as
the face's landmarks, with no dilation, feathering or temporal smoothing: the whole lower face, jaw included, is
hidden from the model, so the original lip motion cannot leak into the result. The latent mask is that box
nearest-sampled to 64x64 (§1.4); occluders are then taken out of it (`M and not M_obj`, §1.5).

`paste_back` and `blend_region` live in `keydub.core.compositing.crop` beside the crop windows they invert, and
are exported here too so the mask helpers of the render path come from one place.
"""

import numpy as np

from keydub.core.compositing.crop import blend_region, paste_back
from keydub.core.errors import InvalidParameterError


__all__ = ["blend_region", "combine_with_occluders", "latent_mask", "leakproof_mask", "overlay_mask", "paste_back"]

# The official mask's top edge: 0-based landmark 28, the second point of the nose bridge (`nose_index=28`).
NOSE_INDEX = 28


def leakproof_mask(
    landmarks_crop: np.ndarray, size: int = 512, *, nose_index: int = NOSE_INDEX, box_expand: float = 0.0
) -> np.ndarray:
    """KeySync's box mask on a `size` x `size` crop: from the nose down to the bottom edge, as wide as the face.

    Exactly the official `create_masks_from_landmarks_box`: the corners are truncated toward zero to integers
    (`np.int32`), and the filled contour includes both its left and right columns and its top row
    (`cv2.drawContours(..., thickness=cv2.FILLED)` semantics), so the mask is the pixels with
    `trunc(min x) <= x <= trunc(max x)` and `y >= trunc(y[nose_index] - expand)`, clipped to the crop.

    Args:
        landmarks_crop (`np.ndarray`): `(68, 2)` landmarks in crop pixels (`CropWindow.to_crop`).
        size (`int`, defaults to 512): side of the crop.
        nose_index (`int`, defaults to 28): landmark whose y is the top edge (the official value).
        box_expand (`float`, defaults to 0.0): raise the top edge; below 1 it is a fraction of `size`, truncated to
            whole pixels, from 1 on it is pixels (the official rule). 0 is the official setting.

    Returns:
        `np.ndarray`: `(size, size)` bool, true where the model regenerates.

    Raises:
        `InvalidParameterError`: landmarks not `(68, 2)` or not finite, or a negative `box_expand`.
    """
    landmarks_crop = np.asarray(landmarks_crop, dtype=np.float64)
    if landmarks_crop.shape != (68, 2) or not np.isfinite(landmarks_crop).all():
        raise InvalidParameterError(
            f"the mask needs one face's 68 finite landmarks, got shape {landmarks_crop.shape}; skip frames without "
            "a face"
        )
    if not 0 <= nose_index < 68:
        raise InvalidParameterError(f"nose_index {nose_index} is not a landmark index (0 to 67)")
    if not (np.isfinite(box_expand) and box_expand >= 0):
        raise InvalidParameterError(f"box_expand {box_expand} must be >= 0 (a fraction of the crop below 1)")
    expand = int(box_expand * size) if box_expand < 1 else box_expand
    left, right = np.trunc(landmarks_crop[:, 0].min()), np.trunc(landmarks_crop[:, 0].max())
    top = np.trunc(landmarks_crop[nose_index, 1] - expand)
    mask = np.zeros((size, size), dtype=bool)
    if right < 0 or left >= size or top >= size:
        return mask
    mask[int(max(top, 0)) :, int(max(left, 0)) : int(min(right, size - 1)) + 1] = True
    return mask


def latent_mask(pixel_mask: np.ndarray, latent_size: int = 64) -> np.ndarray:
    """Nearest-sample a pixel mask to the latent grid, as `F.interpolate(mask, (h, w), mode="nearest")` does.

    Latent row `i` takes pixel row `floor(i * H / h)` with the scale computed in float32 as PyTorch does (so
    sizes that do not divide pick the same rows); for a 512 crop and 64 latents, pixel `8 i`.

    Args:
        pixel_mask (`np.ndarray`): `(H, W)` bool.
        latent_size (`int`, defaults to 64): side of the latent grid (512 / 8).

    Returns:
        `np.ndarray`: `(latent_size, latent_size)` bool.
    """
    pixel_mask = np.asarray(pixel_mask, dtype=bool)
    if pixel_mask.ndim != 2 or latent_size < 1:
        raise InvalidParameterError(
            f"latent_mask needs a 2-D mask and a positive latent size, got {pixel_mask.shape} and {latent_size}"
        )
    return pixel_mask[
        np.ix_(_nearest_indices(pixel_mask.shape[0], latent_size), _nearest_indices(pixel_mask.shape[1], latent_size))
    ]


def _nearest_indices(source: int, target: int) -> np.ndarray:
    """PyTorch's nearest source index for each of `target` outputs (ATen `nearest_idx`)."""
    if source == target:
        return np.arange(target)
    if target == 2 * source:
        return np.arange(target) >> 1
    scale = np.float32(source) / np.float32(target)
    return np.minimum(np.floor(np.arange(target, dtype=np.float32) * scale).astype(np.int64), source - 1)


def combine_with_occluders(mask: np.ndarray, occluder_mask: np.ndarray) -> np.ndarray:
    """The region without its occluders, `mask & ~occluder_mask` (KeySync §1.5): occluded pixels are kept.

    Args:
        mask (`np.ndarray`): bool region mask.
        occluder_mask (`np.ndarray`): bool occluder mask of the same shape.

    Returns:
        `np.ndarray`: bool, same shape.
    """
    mask, occluder_mask = np.asarray(mask, dtype=bool), np.asarray(occluder_mask, dtype=bool)
    if mask.shape != occluder_mask.shape:
        raise InvalidParameterError(
            f"the occluder mask {occluder_mask.shape} does not match the region mask {mask.shape}; warp it into the "
            "crop first (occluder_crop_mask)"
        )
    return mask & ~occluder_mask


def overlay_mask(
    frame: np.ndarray, mask: np.ndarray, *, color: tuple[float, float, float] = (1.0, 0.0, 0.0), opacity: float = 0.45
) -> np.ndarray:
    """A copy of `frame` with `mask` tinted semi-transparently, for previews of what would be regenerated.

    Args:
        frame (`np.ndarray`): `(height, width, 3)` uint8 or uint16 RGB frame; not modified.
        mask (`np.ndarray`): `(height, width)` bool.
        color (`tuple[float, float, float]`, defaults to red): the tint, RGB in [0, 1] of full scale.
        opacity (`float`, defaults to 0.45): how much of the tint covers the picture, in [0, 1].

    Returns:
        `np.ndarray`: the tinted frame, same shape and dtype; pixels outside `mask` are `frame`'s.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in (np.uint8, np.uint16):
        raise InvalidParameterError(f"overlay_mask takes an RGB uint8/uint16 frame, not {frame.shape} {frame.dtype}")
    if mask.shape != frame.shape[:2]:
        raise InvalidParameterError(f"the mask {mask.shape} does not match the frame {frame.shape[:2]}")
    if not 0 <= opacity <= 1:
        raise InvalidParameterError(f"overlay opacity {opacity} must be between 0 and 1")
    peak = np.iinfo(frame.dtype).max
    tinted = frame.copy()
    pixels = frame[mask].astype(np.float32)
    tint = np.asarray(color, dtype=np.float32) * peak
    tinted[mask] = np.clip(np.rint(pixels + opacity * (tint - pixels)), 0, peak).astype(frame.dtype)
    return tinted

"""Occluder masks where the render needs them: in the face crop, at latent resolution, and in the paste-back.

KeySync §3.5: the regenerated region becomes `M and not M_obj`. The official code applies it at latent
resolution, after nearest-sampling both masks to 64x64 separately (`M_final = M_box & ~M_obj`, dubbing_pipeline.py
L324-327), so an occluded latent pixel is copied from the input video instead of generated. The paste-back must
then keep the occluder's pixels exactly: its blend mask is the region minus the occluder, and whatever feathering
or resampling still reaches an occluder pixel is undone from the source.
"""

import cv2
import numpy as np

from keydub.core.compositing.crop import DEFAULT_FEATHER, CropWindow, paste_back
from keydub.core.compositing.masks import combine_with_occluders, latent_mask


def occluder_crop_mask(occluder_mask: np.ndarray, window: CropWindow) -> np.ndarray:
    """`M_obj` in the face crop: the source-resolution occluder mask warped by the crop window, nearest sampled.

    Args:
        occluder_mask (`np.ndarray`): `(height, width)` bool at source resolution (`CachedOcclusionMasks.union`).
        window (`CropWindow`): the frame's crop window.

    Returns:
        `np.ndarray`: `(output_size, output_size)` bool. Where the crop reaches outside the frame, the frame's edge
        is replicated, as `warp_to_crop` does for the pixels: a hand entering from the frame's edge stays an
        occluder in the part of the crop that shows the replicated edge.
    """
    size = window.output_size
    warped = cv2.warpAffine(
        np.asarray(occluder_mask, dtype=np.uint8),
        window.matrix,
        (size, size),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return warped.astype(bool)


def latent_mask_without_occluders(
    region_mask: np.ndarray, occluder_mask: np.ndarray, latent_size: int = 64
) -> np.ndarray:
    """The latent inpainting mask with occluders kept: `latent(M_box) and not latent(M_obj)`.

    Args:
        region_mask (`np.ndarray`): the leakage-proof region mask in the crop, `(S, S)` bool.
        occluder_mask (`np.ndarray`): `M_obj` in the crop (`occluder_crop_mask`), `(S, S)` bool.
        latent_size (`int`, defaults to 64): side of the latent (512 / 8).

    Returns:
        `np.ndarray`: `(latent_size, latent_size)` bool, true where the model regenerates.
    """
    return latent_mask(region_mask, latent_size) & ~latent_mask(occluder_mask, latent_size)


def paste_back_with_occluders(
    source_frame: np.ndarray,
    generated_crop: np.ndarray,
    window: CropWindow,
    region_mask: np.ndarray,
    occluder_mask: np.ndarray,
    *,
    feather: float = DEFAULT_FEATHER,
    color_match: bool = True,
) -> np.ndarray:
    """Paste a generated crop into its source frame, leaving every occluder pixel as the source's.

    Args:
        source_frame (`np.ndarray`): `(height, width, 3)` source frame; not modified.
        generated_crop (`np.ndarray`): `(S, S, 3)` decoded crop from the model.
        window (`CropWindow`): the frame's crop window.
        region_mask (`np.ndarray`): the region mask in the crop, `(S, S)` bool.
        occluder_mask (`np.ndarray`): `M_obj` at source resolution, `(height, width)` bool.
        feather (`float`, defaults to 16), color_match (`bool`, defaults to `True`): as for `paste_back`.

    Returns:
        `np.ndarray`: the new frame; equal to `source_frame` on `occluder_mask` and outside the pasted region.
    """
    blend_mask = combine_with_occluders(region_mask, occluder_crop_mask(occluder_mask, window))
    frame = paste_back(source_frame, generated_crop, window, blend_mask, feather=feather, color_match=color_match)
    # The blend's feathered edge and the crop-to-source resampling can still reach an occluder pixel next to
    # the region; the occluder sits in front of the new mouth, so those pixels are the source's, exactly.
    frame[occluder_mask] = source_frame[occluder_mask]
    return frame

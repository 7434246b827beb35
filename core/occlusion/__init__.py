"""Occlusion handling (KeySync §3.5): segment hands, microphones and cups with SAM 2.1 and keep them on top.

The regenerated region becomes `M and not M_obj`, so an occluder in front of the mouth stays the source's pixels.

Public API:
    OcclusionPrompt, parse_occluder_args, parse_occluder_click, parse_occluder_mask, merge_prompts,
    load_brush_mask, save_brush_mask: prompts as plain data and their command-line forms.
    OcclusionMasker, OcclusionSession: the interactive session (`init_session`, `add_click`, `add_box`,
    `add_brush`, `propagate`, `clear_object`, `remove_object`, `reset`).
    occluder_masks_for_range, OcclusionMaskCache, CachedOcclusionMasks: cached per-frame masks for rendering.
    occluder_crop_mask, latent_mask_without_occluders, paste_back_with_occluders: those masks in the face crop, at
    latent resolution (`latent(M_box) and not latent(M_obj)`) and in the paste-back (occluder pixels stay exact).
"""

from keydub.core.compositing.occluders import (
    latent_mask_without_occluders,
    occluder_crop_mask,
    paste_back_with_occluders,
)
from keydub.core.occlusion.cache import CachedOcclusionMasks, OcclusionMaskCache
from keydub.core.occlusion.masker import OcclusionMasker
from keydub.core.occlusion.prompts import (
    OcclusionPrompt,
    load_brush_mask,
    merge_prompts,
    parse_occluder_args,
    parse_occluder_click,
    parse_occluder_mask,
    save_brush_mask,
)
from keydub.core.occlusion.region import SquareRegion
from keydub.core.occlusion.render_masks import occluder_masks_for_range
from keydub.core.occlusion.segmenter import SAM2_VARIANTS, Sam2Segmenter, VideoSegmenter
from keydub.core.occlusion.session import OcclusionSession


__all__ = [
    "SAM2_VARIANTS",
    "CachedOcclusionMasks",
    "OcclusionMaskCache",
    "OcclusionMasker",
    "OcclusionPrompt",
    "OcclusionSession",
    "Sam2Segmenter",
    "SquareRegion",
    "VideoSegmenter",
    "latent_mask_without_occluders",
    "load_brush_mask",
    "merge_prompts",
    "occluder_crop_mask",
    "occluder_masks_for_range",
    "parse_occluder_args",
    "parse_occluder_click",
    "parse_occluder_mask",
    "paste_back_with_occluders",
    "save_brush_mask",
]

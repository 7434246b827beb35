"""The render path's door to occlusion: the occluder masks of a render's frames, from the cache or from SAM2."""

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from keydub.core.errors import InvalidParameterError
from keydub.core.frame_range import FrameRange
from keydub.core.occlusion import session as sessions
from keydub.core.occlusion.cache import CachedOcclusionMasks, OcclusionMaskCache
from keydub.core.occlusion.masker import OcclusionMasker
from keydub.core.occlusion.prompts import OcclusionPrompt
from keydub.core.occlusion.segmenter import resolve_sam2_checkpoint, sam2_identity
from keydub.core.occlusion.session import DEFAULT_PIECE_FRAMES, VideoSource
from keydub.core.progress import ProgressCallback


def occluder_masks_for_range(
    video: VideoSource,
    frame_range: FrameRange | None,
    prompts: Iterable[OcclusionPrompt | dict[str, Any]],
    *,
    start_frame: int = 0,
    face_boxes: np.ndarray | Sequence[Sequence[float]] | None = None,
    masker: OcclusionMasker | None = None,
    model: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    device: str | torch.device = "auto",
    cache: OcclusionMaskCache | None = None,
    piece_frames: int = DEFAULT_PIECE_FRAMES,
    progress: ProgressCallback | None = None,
) -> CachedOcclusionMasks:
    """Per-frame occluder masks of a render's frames at source resolution, running SAM2 only on a cache miss.

    The cache key is a content hash of the pictures (file identity), the frame range, the tracked region, the prompts
    (brush masks by content) and the model, so it can be computed, and a hit returned, without loading SAM2.

    Args:
        video (`str | os.PathLike | np.ndarray | Sequence[np.ndarray]`): the source clip, or its frames.
        frame_range (`FrameRange | None`): the source frames of the render (handles included); `None` for all.
        prompts (`Iterable[OcclusionPrompt | dict]`): the occluder prompts, as objects or as `to_dict` data
            (`RenderRequest.occluders`); frames may be timecodes when `video` is a clip.
        start_frame (`int`, defaults to 0): for frames in memory, the source index of the first one.
        face_boxes (`np.ndarray | None`): one `(x0, y0, x1, y1)` face box per frame of the range, NaN rows where
            there is no face; the tracked region is cut around them.
        masker (`OcclusionMasker | None`): a loaded masker to use on a miss; else one is loaded from `model`.
        model (`str | os.PathLike | None`), variant (`str | None`), device (`str | torch.device`): passed to
            `OcclusionMasker.from_pretrained` on a miss.
        cache (`OcclusionMaskCache | None`): defaults to the Keydub cache folder.
        piece_frames (`int`, defaults to 300): frames tracked in one segmenter state.
        progress (`ProgressCallback | None`): receives stage `"occlusion"` while SAM2 runs.

    Returns:
        `CachedOcclusionMasks`: `union(frame)` is `M_obj` for a frame; iterating gives `(frame, M_obj)` in order.

    Example:
        ```py
        >>> frames = FrameRange(start, end)
        >>> occluders = occluder_masks_for_range(request.video, frames, request.occluders, face_boxes=boxes)
        >>> for frame_index in range(start, end):
        ...     occluder = occluders.union(frame_index)  # (height, width) bool
        ```
    """
    session = sessions.open_session(
        video, frame_range, start_frame=start_frame, face_boxes=face_boxes, piece_frames=piece_frames
    )
    for prompt in prompts:
        if not isinstance(prompt, OcclusionPrompt):
            prompt = OcclusionPrompt.from_dict(prompt, session.frames.timebase)
        sessions.add_prompt(session, prompt)
    if not session.prompts:
        raise InvalidParameterError("no occluder prompts were given; add --occluder or --occluder-mask, or drop it")
    if masker is not None:
        identity = masker.identity
    else:
        checkpoint, variant = resolve_sam2_checkpoint(model, variant)
        identity = sam2_identity(checkpoint, variant)
    cache = cache or OcclusionMaskCache()
    key = session.fingerprint(identity)
    cached = cache.get(key)
    if cached is not None:
        return cached
    masker = masker or OcclusionMasker.from_pretrained(checkpoint, variant, device)
    tracked = masker.propagate_in_region(session, progress)
    return cache.put(
        key, session.frame_range, session.frame_size, session.tracking_region(), session.object_ids, tracked
    )

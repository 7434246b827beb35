"""Interactive occluder segmentation over a clip's render range, in the manner of SAM2's video predictor.

Load the model once, open a session per clip, prompt, propagate:

```py
masker = OcclusionMasker.from_pretrained()  # SAM 2.1 Hiera-L
session = masker.init_session("shot_010.mov", FrameRange(120, 360), face_boxes=boxes)
masks = masker.add_click(session, 200, object_id=1, points=[(812, 1410)], labels=[1])   # drawn at once
masker.add_click(session, 300, object_id=1, points=[(790, 1388)], labels=[1])          # a correction
for frame_index, masks in masker.propagate(session):
    ...  # {object_id: (height, width) bool} at source resolution, every frame of the range exactly once
```

How it differs from SAM2's own session, and why:

* The segmenter sees a square cut around the face track (or around the prompts), resized to its input size, not
  the whole frame: memory per frame is fixed whatever the source resolution. Masks are mapped back to source
  pixels (`region.SquareRegion`).
* Long ranges are tracked in pieces of `piece_frames` frames, so memory does not grow with the clip. Frames are
  decoded, cut and kept as uint8 for one piece at a time (no JPEG folder: that would cost an encode, a decode and
  a lossy copy per frame). Neighbouring pieces share one frame, whose tracked masks seed the next piece as mask
  prompts, and each piece's state also holds every occluder's nearest prompted frame before and after it, so
  prompts keep conditioning the tracking across pieces. What a piece forgets is the unprompted frames of other
  pieces (SAM2 only looks back six of those anyway) and prompts beyond the nearest ones.
* Tracking runs forward from the earliest prompted frame to the range's end, then backward from it to the
  range's start, as SAM2 does, and each frame of the range is yielded exactly once.
* A frame's mask depends on that frame's prompt alone (each prompt replaces the object's previous prompt on the
  frame, and every prompted frame conditions the tracking), so a saved job replays to exactly what the editor saw.
"""

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from keydub.core.errors import InvalidParameterError
from keydub.core.frame_range import FrameRange
from keydub.core.occlusion import session as sessions
from keydub.core.occlusion.prompts import OcclusionPrompt, save_brush_mask
from keydub.core.occlusion.region import DEFAULT_MIN_REGION_SIDE, DEFAULT_REGION_SCALE, SquareRegion
from keydub.core.occlusion.segmenter import (
    SegmenterPrompt,
    VideoSegmenter,
    build_sam2_segmenter,
    require_sam2,
    resolve_sam2_checkpoint,
)
from keydub.core.occlusion.session import (
    DEFAULT_PIECE_FRAMES,
    FramePrompt,
    OcclusionSession,
    SegmenterView,
    VideoSource,
    plan_pieces,
)
from keydub.core.progress import ProgressCallback, report


FrameMasks = dict[int, np.ndarray]


class OcclusionMasker:
    """Segments occluders (hands, microphones, cups) over a render's frames with a promptable video segmenter.

    One masker serves many sessions. Every public inference method runs under `torch.inference_mode()`.

    Args:
        segmenter (`VideoSegmenter`): SAM2 (`Sam2Segmenter`) or any object with the same three calls.
        identity (`str`): names the model and its weights in cache keys.
    """

    def __init__(self, segmenter: VideoSegmenter, identity: str) -> None:
        self.segmenter = segmenter
        self.identity = identity

    @classmethod
    def from_pretrained(
        cls,
        pretrained: str | os.PathLike[str] | None = None,
        variant: str | None = None,
        device: str | torch.device = "auto",
        image_size: int | None = None,
    ) -> "OcclusionMasker":
        """Load SAM 2.1: Hiera-L unless a smaller variant is named.

        Args:
            pretrained (`str | os.PathLike | None`): a hub id (`facebook/sam2.1-hiera-{tiny,small,base-plus,large}`)
                or a local `.pt` / `.safetensors` file; `None` takes the `sam2` entry of the weights config file,
                else the variant's official hub checkpoint.
            variant (`str | None`): `"tiny"`, `"small"`, `"base-plus"` or `"large"`; read from a hub id, and needed
                for a local file of a size other than large.
            device (`str | torch.device`, defaults to `"auto"`): CUDA when available, else CPU.
            image_size (`int | None`): the model's input side; leave at the released 1024 for real use.

        Example:
            ```py
            >>> masker = OcclusionMasker.from_pretrained()  # facebook/sam2.1-hiera-large
            >>> small = OcclusionMasker.from_pretrained("facebook/sam2.1-hiera-small", device="cuda")
            ```
        """
        # SAM2 first: without it, fetching the weights (900 MB for Hiera-L) would only end in the same error.
        require_sam2()
        checkpoint, variant = resolve_sam2_checkpoint(pretrained, variant)
        return cls(*build_sam2_segmenter(checkpoint, variant, device, image_size))

    @classmethod
    def from_config(
        cls, variant: str = "large", device: str | torch.device = "auto", image_size: int | None = None
    ) -> "OcclusionMasker":
        """SAM 2.1 with random weights, built from the package's config (for tests and benchmarks)."""
        return cls(*build_sam2_segmenter(None, variant, device, image_size))

    def init_session(
        self,
        video: VideoSource,
        frame_range: FrameRange | None = None,
        *,
        start_frame: int = 0,
        face_boxes: np.ndarray | Sequence[Sequence[float]] | None = None,
        region: SquareRegion | None = None,
        region_scale: float = DEFAULT_REGION_SCALE,
        min_region_side: int = DEFAULT_MIN_REGION_SIDE,
        piece_frames: int = DEFAULT_PIECE_FRAMES,
    ) -> OcclusionSession:
        """Open a session over a clip's render range.

        Args:
            video (`str | os.PathLike | np.ndarray | Sequence[np.ndarray]`): a clip file, or its frames in memory
                as `(N, H, W, 3)` uint8 RGB.
            frame_range (`FrameRange | None`): the source frames to track (handles included); defaults to the
                whole clip (or all frames given).
            start_frame (`int`, defaults to 0): for frames in memory, the source index of the first one.
            face_boxes (`np.ndarray | None`): one `(x0, y0, x1, y1)` face box per frame of the range, source pixels,
                NaN rows where there is no face; the tracked region is a square around them.
            region (`SquareRegion | None`): a fixed tracked region instead.
            region_scale (`float`, defaults to 1.6): region side as a multiple of the face boxes' extent.
            min_region_side (`int`, defaults to 384): smallest region side in source pixels.
            piece_frames (`int`, defaults to 300): frames tracked in one segmenter state (bounds memory).

        Returns:
            `OcclusionSession`: with no prompts yet.
        """
        return sessions.open_session(
            video,
            frame_range,
            start_frame=start_frame,
            face_boxes=face_boxes,
            region=region,
            region_scale=region_scale,
            min_region_side=min_region_side,
            piece_frames=piece_frames,
        )

    @torch.inference_mode()
    def add_click(
        self,
        session: OcclusionSession,
        frame: int,
        object_id: int,
        points: Sequence[Sequence[float]],
        labels: Sequence[int],
        box: Sequence[float] | None = None,
        clear_old_points: bool = True,
    ) -> FrameMasks:
        """Click on an occluder (label 1) or next to it (label 0) and get the frame's masks at once.

        Args:
            session (`OcclusionSession`): the session.
            frame (`int`): source frame index, inside the range.
            object_id (`int`): the occluder's id (any non-negative integer of the caller's choice).
            points (`Sequence[Sequence[float]]`): `(x, y)` source-pixel clicks.
            labels (`Sequence[int]`): 1 (on the occluder) or 0 (not on it), one per point.
            box (`Sequence[float] | None`): an optional `(x0, y0, x1, y1)` box around the occluder.
            clear_old_points (`bool`, defaults to `True`): replace the object's clicks on this frame; `False`
                adds these clicks to them (the box, if not given, is kept).

        Returns:
            `dict[int, np.ndarray]`: for each object prompted on this frame, its `(height, width)` bool mask.
        """
        points = tuple((float(x), float(y)) for x, y in points)
        labels = tuple(int(label) for label in labels)
        previous = session.prompts.get((object_id, frame))
        if not clear_old_points and previous is not None and previous.brush is None:
            points = tuple(map(tuple, previous.points.tolist())) + points
            labels = tuple(previous.labels.tolist()) + labels
            if box is None and previous.box is not None:
                box = previous.box.tolist()
        box = tuple(float(value) for value in box) if box is not None else None
        return self.add_prompt(session, OcclusionPrompt(object_id, frame, points, labels, box))

    @torch.inference_mode()
    def add_box(
        self,
        session: OcclusionSession,
        frame: int,
        object_id: int,
        box: Sequence[float],
        points: Sequence[Sequence[float]] = (),
        labels: Sequence[int] = (),
    ) -> FrameMasks:
        """Draw a box `(x0, y0, x1, y1)` around an occluder (optionally with clicks); returns the frame's masks."""
        return self.add_click(session, frame, object_id, points, labels, box=box)

    @torch.inference_mode()
    def add_brush(
        self, session: OcclusionSession, frame: int, object_id: int, mask: np.ndarray | str | os.PathLike[str]
    ) -> FrameMasks:
        """Paint an occluder: a `(height, width)` bool mask (or a PNG path) at source resolution.

        Returns:
            `dict[int, np.ndarray]`: the frame's masks; the painted object's is the painted mask as the segmenter
            will track it.
        """
        if isinstance(mask, np.ndarray):
            return self._segment_frame(session, frame, sessions.add_brush(session, frame, object_id, mask))
        return self.add_prompt(session, OcclusionPrompt(object_id, frame, mask_path=Path(mask)))

    @torch.inference_mode()
    def add_prompt(self, session: OcclusionSession, prompt: OcclusionPrompt) -> FrameMasks:
        """Add a prompt given as data (e.g. from a saved job); returns the frame's masks."""
        return self._segment_frame(session, prompt.frame, sessions.add_prompt(session, prompt))

    @torch.inference_mode()
    def clear_object(self, session: OcclusionSession, object_id: int, frame: int) -> FrameMasks:
        """Remove one object's prompt on one frame; returns the masks of the prompts left on that frame."""
        self._check_object(session, object_id)
        if (object_id, frame) not in session.prompts:
            raise InvalidParameterError(
                f"occluder {object_id} has no prompt on frame {frame}; its prompts are on frames "
                f"{list(session.prompted_frames(object_id))}"
            )
        del session.prompts[(object_id, frame)]
        session.preview = None
        return self._segment_frame(session, frame)

    def remove_object(self, session: OcclusionSession, object_id: int) -> None:
        """Forget an occluder and all its prompts."""
        self._check_object(session, object_id)
        for frame in session.prompted_frames(object_id):
            del session.prompts[(object_id, frame)]
        session.preview = None

    def reset(self, session: OcclusionSession) -> None:
        """Forget every prompt of the session (the clip and frame range stay)."""
        session.prompts.clear()
        session.preview = None

    def export_prompts(
        self, session: OcclusionSession, brush_dir: str | os.PathLike[str] | None = None
    ) -> tuple[OcclusionPrompt, ...]:
        """The session's prompts as plain data for a job; brush masks painted in memory are saved as PNGs.

        Args:
            session (`OcclusionSession`): the session.
            brush_dir (`str | os.PathLike | None`): an existing folder for brush masks that have no file yet,
                written as `occluder<ID>_frame<FRAME>.png`.

        Returns:
            `tuple[OcclusionPrompt, ...]`: sorted by object, then frame.
        """
        exported = []
        for key in sorted(session.prompts):
            prompt = session.prompts[key]
            if prompt.brush is not None and prompt.mask_path is None:
                if brush_dir is None:
                    raise InvalidParameterError(
                        f"occluder {prompt.object_id} on frame {prompt.frame} was painted in memory; pass brush_dir "
                        "to save its mask"
                    )
                path = Path(brush_dir) / f"occluder{prompt.object_id}_frame{prompt.frame}.png"
                prompt = session.prompts[key] = replace(prompt, mask_path=save_brush_mask(prompt.brush, path))
            exported.append(prompt.to_prompt())
        return tuple(exported)

    @torch.inference_mode()
    def propagate(
        self, session: OcclusionSession, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[int, FrameMasks]]:
        """Track every occluder over the whole range, forward then backward from the earliest prompted frame.

        Args:
            session (`OcclusionSession`): the session, with at least one prompt.
            progress (`ProgressCallback | None`): called with stage `"occlusion"` after each frame.

        Yields:
            `tuple[int, dict[int, np.ndarray]]`: a source frame index and, for every object of the session, its
            `(height, width)` bool mask (all false where the object is not tracked). Every frame of the range comes
            exactly once.
        """
        region = session.tracking_region()
        for frame, masks in self.propagate_in_region(session, progress):
            yield frame, {object_id: region.paste(mask, session.frame_size) for object_id, mask in masks.items()}

    @torch.inference_mode()
    def propagate_in_region(
        self, session: OcclusionSession, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[int, FrameMasks]]:
        """`propagate`, with masks as `(side, side)` bool arrays of `session.tracking_region()` (compact to cache)."""
        if not session.prompts:
            raise InvalidParameterError("no occluder prompt yet; click on the occluder on one frame first")
        region = session.tracking_region()
        size = self.segmenter.image_size
        object_ids = session.object_ids
        start, end = session.frame_range
        pieces = plan_pieces(session.frame_range, min(frame for _, frame in session.prompts), session.piece_frames)
        seed_frames = {piece.seed_frame for piece in pieces if piece.is_seeded}
        seeds: dict[int, FrameMasks] = {}
        empty = np.zeros((region.side, region.side), dtype=bool)
        empty.setflags(write=False)
        done = 0
        for piece in pieces:
            frames = session.state_frames(piece)
            local = {frame: index for index, frame in enumerate(frames)}
            state = self.segmenter.init_state([region.crop(image, size) for image in _read(session, frames)])
            for object_id, seed in sorted(seeds.pop(piece.seed_frame, {}).items()):
                # A prompt of the editor's on the shared frame wins over the mask tracked there.
                if (object_id, piece.seed_frame) not in session.prompts:
                    self.segmenter.add_prompt(state, local[piece.seed_frame], object_id, SegmenterPrompt(mask=seed))
            for prompt in sorted(session.prompts.values(), key=lambda prompt: (prompt.frame, prompt.object_id)):
                if prompt.frame in local:
                    local_prompt = prompt.to_segmenter(region, size)
                    self.segmenter.add_prompt(state, local[prompt.frame], prompt.object_id, local_prompt)
            count = piece.end - piece.start
            for index, logits in self.segmenter.propagate(state, local[piece.seed_frame], count, piece.reverse):
                frame = frames[index]
                if piece.is_seeded and frame == piece.seed_frame:
                    continue
                if frame in seed_frames:
                    seeds[frame] = {object_id: scores > 0 for object_id, scores in logits.items()}
                masks = {
                    object_id: region.logits_to_mask(logits[object_id]) if object_id in logits else empty
                    for object_id in object_ids
                }
                done += 1
                report(progress, "occlusion", done, end - start)
                yield frame, masks

    def _segment_frame(self, session: OcclusionSession, frame: int, changed: FramePrompt | None = None) -> FrameMasks:
        """The masks of the prompts on one frame, reusing that frame's segmenter state (and image features)."""
        on_frame = session.prompts_on(frame)
        if not on_frame:
            return {}
        region = session.tracking_region()
        size = self.segmenter.image_size
        preview = session.preview
        to_add = [changed]
        if changed is None or preview is None or preview.frame != frame or preview.region != region:
            (image,) = session.frames.read(frame, frame + 1)
            state = self.segmenter.init_state([region.crop(image, size)])
            preview = session.preview = SegmenterView(frame, region, state)
            to_add = on_frame
        for prompt in to_add:
            logits = self.segmenter.add_prompt(preview.state, 0, prompt.object_id, prompt.to_segmenter(region, size))
        return {
            prompt.object_id: region.paste(region.logits_to_mask(logits[prompt.object_id]), session.frame_size)
            for prompt in on_frame
        }

    @staticmethod
    def _check_object(session: OcclusionSession, object_id: int) -> None:
        if object_id not in session.object_ids:
            raise InvalidParameterError(
                f"occluder {object_id!r} is unknown in this session; known occluders: {list(session.object_ids)}"
            )


def _read(session: OcclusionSession, frames: list[int]) -> Iterator[np.ndarray]:
    """Source frames by index, each run of consecutive frames decoded in one pass."""
    run_start = 0
    for index in range(1, len(frames) + 1):
        if index == len(frames) or frames[index] != frames[index - 1] + 1:
            yield from session.frames.read(frames[run_start], frames[index - 1] + 1)
            run_start = index

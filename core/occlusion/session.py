"""An occlusion session as data: the frames of a render's range, the prompts in source pixels, and the tracking plan.

Nothing here runs a model; `OcclusionMasker` does. Keeping the session model-free lets a cache lookup compute
its key (pictures, frame range, region, prompts) without loading SAM2.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keydub.core.errors import InvalidParameterError
from keydub.core.frame_range import FrameRange
from keydub.core.media import probe
from keydub.core.media.reader import read_frames
from keydub.core.occlusion.prompts import OcclusionPrompt, Timebase, check_index, load_brush_mask
from keydub.core.occlusion.region import DEFAULT_MIN_REGION_SIDE, DEFAULT_REGION_SCALE, SquareRegion, region_around
from keydub.core.occlusion.segmenter import SegmenterPrompt


# Frames tracked in one segmenter state. At SAM2's 1024 input a frame costs about 3 MB of uint8 pixels plus
# about 1 MB of memory features per object, so 300 frames (12 s at 25 fps) stay near 1.5 GB for two occluders.
DEFAULT_PIECE_FRAMES = 300

# Bump when the masks would differ for the same inputs (mapping, piece plan, file layout), to retire old caches.
MASK_FORMAT_VERSION = 1

VideoSource = str | os.PathLike[str] | np.ndarray | Sequence[np.ndarray]


@dataclass(frozen=True)
class RangeFrames:
    """The source frames of a render's range, read on demand (a clip on disk or frames in memory).

    Args:
        start (`int`): first source frame index of the range.
        end (`int`): one past the last.
        frame_size (`tuple[int, int]`): `(height, width)` of the source.
        reader (`Callable[[int, int], Iterable[np.ndarray]]`): frames `[start, end)` as `(H, W, 3)` uint8 RGB.
        identity (`Callable[[], str]`): a string that changes when the pictures do (for cache keys).
        timebase (`Timebase | None`): the clip's frame rate and start timecode, to read prompts given by
            timecode (`None` for frames in memory).
    """

    start: int
    end: int
    frame_size: tuple[int, int]
    reader: Callable[[int, int], Iterable[np.ndarray]]
    identity: Callable[[], str]
    timebase: Timebase | None = None

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        """Frames `[start, end)`, checked to be as many and as large as promised."""
        count = 0
        for frame in self.reader(start, end):
            if frame.shape[:2] != self.frame_size:
                raise InvalidParameterError(
                    f"frame {start + count} is {frame.shape[1]}x{frame.shape[0]}, not {self.frame_size[1]}x"
                    f"{self.frame_size[0]} like the rest of the clip; pass frames of one size"
                )
            count += 1
            yield frame
        if count != end - start:
            raise InvalidParameterError(f"frames {start}-{end - 1} were asked for but {count} came back")


@dataclass(frozen=True, eq=False)
class FramePrompt:
    """One object's prompt on one frame, in source pixels, with a brush mask already loaded.

    Args:
        object_id (`int`), frame (`int`): which occluder, on which source frame.
        points (`np.ndarray`): `(N, 2)` float64 clicks `(x, y)`.
        labels (`np.ndarray`): `(N,)` int32, 1 positive, 0 negative.
        box (`np.ndarray | None`): `(4,)` float64 `(x0, y0, x1, y1)`.
        brush (`np.ndarray | None`): `(height, width)` bool painted mask.
        mask_path (`Path | None`): the PNG the brush mask came from.
    """

    object_id: int
    frame: int
    points: np.ndarray
    labels: np.ndarray
    box: np.ndarray | None = None
    brush: np.ndarray | None = None
    mask_path: Path | None = None

    def bounds(self) -> list[tuple[float, float, float, float]]:
        """Boxes the tracked region must contain: each click, the box, the brush mask's extent."""
        boxes = [(x, y, x, y) for x, y in self.points.tolist()]
        if self.box is not None:
            boxes.append(tuple(self.box.tolist()))
        if self.brush is not None:
            rows, cols = np.nonzero(self.brush)
            boxes.append((float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)))
        return boxes

    def to_segmenter(self, region: SquareRegion, size: int) -> SegmenterPrompt:
        """The prompt in the segmenter's `size`-pixel square cut from `region`."""
        if self.brush is not None:
            return SegmenterPrompt(mask=region.crop(self.brush, size))
        has_points = len(self.points) > 0
        return SegmenterPrompt(
            points=region.to_local(self.points, size) if has_points else None,
            labels=self.labels.astype(np.int32) if has_points else None,
            box=region.to_local(self.box.reshape(2, 2), size).reshape(4) if self.box is not None else None,
        )

    def to_prompt(self) -> OcclusionPrompt:
        """As plain data; a brush painted in memory has no file yet (see `OcclusionMasker.export_prompts`)."""
        if self.brush is not None:
            return OcclusionPrompt(self.object_id, self.frame, mask_path=self.mask_path)
        return OcclusionPrompt(
            self.object_id,
            self.frame,
            tuple(map(tuple, self.points.tolist())),
            tuple(self.labels.tolist()),
            tuple(self.box.tolist()) if self.box is not None else None,
        )

    def fingerprint(self) -> dict[str, Any]:
        """What decides this prompt's effect (the brush by content, not by file name)."""
        brush = None
        if self.brush is not None:
            brush = hashlib.blake2b(np.packbits(self.brush).tobytes(), digest_size=16).hexdigest()
        return {
            "object_id": self.object_id,
            "frame": self.frame,
            "points": self.points.tolist(),
            "labels": self.labels.tolist(),
            "box": self.box.tolist() if self.box is not None else None,
            "brush": brush,
        }


@dataclass
class SegmenterView:
    """The one-frame segmenter state behind interactive prompts on `frame` (it keeps the frame's image features).

    Valid while the tracked region it was cut with stays the same.
    """

    frame: int
    region: SquareRegion
    state: Any


@dataclass
class OcclusionSession:
    """The occluder prompts of one clip's render range and what is needed to track them.

    Create with `OcclusionMasker.init_session` (or `open_session`); change through the masker's methods.

    Args:
        frames (`RangeFrames`): the range's source frames.
        face_boxes (`np.ndarray | None`): `(range length, 4)` face boxes `(x0, y0, x1, y1)` in source pixels
            (NaN rows where there is no face); the region is cut around them.
        region (`SquareRegion | None`): a fixed region instead of one derived from face boxes and prompts.
        region_scale (`float`): region side as a multiple of what it must contain.
        min_region_side (`int`): smallest region side in source pixels.
        piece_frames (`int`): frames tracked in one segmenter state.
        prompts (`dict[tuple[int, int], FramePrompt]`): by `(object_id, frame)`.
        preview (`SegmenterView | None`): the one-frame state behind the last interactive prompt.
    """

    frames: RangeFrames
    face_boxes: np.ndarray | None = None
    region: SquareRegion | None = None
    region_scale: float = DEFAULT_REGION_SCALE
    min_region_side: int = DEFAULT_MIN_REGION_SIDE
    piece_frames: int = DEFAULT_PIECE_FRAMES
    prompts: dict[tuple[int, int], FramePrompt] = field(default_factory=dict)
    preview: SegmenterView | None = None

    @property
    def frame_range(self) -> FrameRange:
        """The source frames the session tracks."""
        return FrameRange(self.frames.start, self.frames.end)

    @property
    def frame_size(self) -> tuple[int, int]:
        """`(height, width)` of the source."""
        return self.frames.frame_size

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Ids of the occluders that have at least one prompt, sorted."""
        return tuple(sorted({object_id for object_id, _ in self.prompts}))

    def prompted_frames(self, object_id: int) -> tuple[int, ...]:
        """Frames on which `object_id` has a prompt, sorted."""
        return tuple(sorted(frame for other, frame in self.prompts if other == object_id))

    def prompts_on(self, frame: int) -> list[FramePrompt]:
        """The prompts of every object on `frame`, by object id."""
        return [self.prompts[key] for key in sorted(self.prompts) if key[1] == frame]

    def state_frames(self, piece: "Piece") -> list[int]:
        """Source frames of the segmenter state that tracks `piece`, in time order.

        Besides the piece, the state holds each occluder's nearest prompted frame on either side of it, so that
        every prompt conditions tracking across pieces (SAM2 attends to all its conditioning frames, wherever
        they are): an occluder first prompted late is tracked back from the range's first frames too.
        """
        anchors = set()
        for object_id in self.object_ids:
            frames = self.prompted_frames(object_id)
            earlier = [frame for frame in frames if frame < piece.start]
            later = [frame for frame in frames if frame >= piece.end]
            anchors.update(earlier[-1:] + later[:1])
        return sorted(anchors | set(range(piece.start, piece.end)))

    def tracking_region(self) -> SquareRegion:
        """The square the segmenter sees: the fixed region, or one around the face boxes and every prompt."""
        if self.region is not None:
            return self.region
        boxes = [bound for prompt in self.prompts.values() for bound in prompt.bounds()]
        if self.face_boxes is not None:
            boxes.extend(map(tuple, self.face_boxes))
        return region_around(boxes, self.frame_size, self.region_scale, self.min_region_side)

    def fingerprint(self, model_identity: str) -> str:
        """Content hash of everything that decides the masks: pictures, frame range, region, prompts, model."""
        description = {
            "version": MASK_FORMAT_VERSION,
            "clip": self.frames.identity(),
            # Hashed under its first name, so the masks cached before are found again.
            "window": list(self.frame_range),
            "region": self.tracking_region().to_dict(),
            "piece_frames": self.piece_frames,
            "model": model_identity,
            "prompts": [self.prompts[key].fingerprint() for key in sorted(self.prompts)],
        }
        return hashlib.blake2b(json.dumps(description, sort_keys=True).encode(), digest_size=20).hexdigest()


@dataclass(frozen=True)
class Piece:
    """A stretch of the range tracked in one segmenter state.

    Args:
        start (`int`), end (`int`): source frame indices, end exclusive.
        reverse (`bool`): tracked from its last frame back to its first.
        is_seeded (`bool`): its first tracked frame was already tracked by an earlier piece, whose masks there
            seed this one (and are not yielded again).
    """

    start: int
    end: int
    reverse: bool
    is_seeded: bool

    @property
    def seed_frame(self) -> int:
        """The source frame tracking starts from."""
        return self.end - 1 if self.reverse else self.start


def plan_pieces(frame_range: FrameRange, first_prompt: int, piece_frames: int) -> tuple[Piece, ...]:
    """Split a frame range into pieces: forward from `first_prompt` to the end, then backward to the start.

    Consecutive pieces in one direction share a frame, so each piece starts from masks an earlier one found.

    Args:
        frame_range (`FrameRange`): the source frames.
        first_prompt (`int`): the earliest prompted frame.
        piece_frames (`int`): most frames per piece (at least 2).

    Returns:
        `tuple[Piece, ...]`: forward pieces in order, then backward pieces in order.
    """
    start, end = frame_range
    _check_piece_frames(piece_frames)
    pieces = []
    piece_start = first_prompt
    while True:
        piece_end = min(piece_start + piece_frames, end)
        pieces.append(Piece(piece_start, piece_end, reverse=False, is_seeded=piece_start != first_prompt))
        if piece_end == end:
            break
        piece_start = piece_end - 1
    piece_end = first_prompt + 1
    while piece_end - 1 > start:
        piece_start = max(start, piece_end - piece_frames)
        pieces.append(Piece(piece_start, piece_end, reverse=True, is_seeded=True))
        piece_end = piece_start + 1
    return tuple(pieces)


def open_session(
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
    """An empty session over a clip's render range (see `OcclusionMasker.init_session` for the arguments)."""
    frames = _range_frames(video, frame_range, start_frame)
    if face_boxes is not None:
        face_boxes = np.asarray(face_boxes, dtype=np.float64)
        length = frames.end - frames.start
        if face_boxes.shape != (length, 4):
            raise InvalidParameterError(
                f"face_boxes has shape {face_boxes.shape} but the range has {length} frames; give one "
                "(x0, y0, x1, y1) row per frame of the range (NaN where there is no face)"
            )
    _check_piece_frames(piece_frames)
    return OcclusionSession(frames, face_boxes, region, region_scale, min_region_side, piece_frames)


def add_prompt(session: OcclusionSession, prompt: OcclusionPrompt) -> FramePrompt:
    """Check a prompt against the session and store it, replacing the object's prompt on that frame.

    A brush prompt's PNG is read here, so a missing or wrong-sized file is reported when the prompt is added.
    """
    brush = load_brush_mask(prompt.mask_path, session.frame_size) if prompt.mask_path is not None else None
    return _store(
        session,
        FramePrompt(
            prompt.object_id,
            prompt.frame,
            np.asarray(prompt.points, dtype=np.float64).reshape(-1, 2),
            np.asarray(prompt.labels, dtype=np.int32),
            np.asarray(prompt.box, dtype=np.float64) if prompt.box is not None else None,
            brush,
            prompt.mask_path,
        ),
    )


def add_brush(session: OcclusionSession, frame: int, object_id: int, mask: np.ndarray) -> FramePrompt:
    """Store a brush mask painted in memory, `(height, width)` bool at source resolution."""
    check_index("object id", object_id)
    check_index("frame", frame)
    mask = np.asarray(mask)
    if mask.shape != session.frame_size:
        raise InvalidParameterError(
            f"brush mask for occluder {object_id} has shape {mask.shape} but the clip's frames are "
            f"{session.frame_size} (height, width); paint it at source resolution"
        )
    mask = mask.astype(bool)
    if not mask.any():
        raise InvalidParameterError(
            f"brush mask for occluder {object_id} on frame {frame} is empty; paint the occluder"
        )
    no_points = np.zeros((0, 2), dtype=np.float64)
    return _store(session, FramePrompt(object_id, frame, no_points, np.zeros(0, dtype=np.int32), brush=mask))


def _store(session: OcclusionSession, prompt: FramePrompt) -> FramePrompt:
    start, end = session.frame_range
    if not start <= prompt.frame < end:
        raise InvalidParameterError(
            f"frame {prompt.frame} is outside the render range, source frames {start}-{end - 1}; prompt a frame "
            "inside the range being rendered"
        )
    if prompt.brush is None and prompt.box is None and not prompt.labels.any():
        raise InvalidParameterError(
            f"occluder {prompt.object_id} on frame {prompt.frame} has only negative clicks; add a positive click "
            "(or a box) on the occluder itself"
        )
    height, width = session.frame_size
    for x, y in prompt.points.tolist():
        if not (0 <= x < width and 0 <= y < height):
            raise InvalidParameterError(
                f"click ({x:g}, {y:g}) on frame {prompt.frame} is outside the {width}x{height} frame; clicks are in "
                "source pixels, (0, 0) at the top left"
            )
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box.tolist()
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise InvalidParameterError(
                f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) on frame {prompt.frame} reaches outside the {width}x{height} "
                "frame; draw it inside the picture"
            )
    if session.region is not None:
        _check_inside(session.region, prompt)
    session.prompts[(prompt.object_id, prompt.frame)] = prompt
    return prompt


def _check_inside(region: SquareRegion, prompt: FramePrompt) -> None:
    for x0, y0, x1, y1 in prompt.bounds():
        if x0 < region.x0 or y0 < region.y0 or x1 > region.x0 + region.side or y1 > region.y0 + region.side:
            raise InvalidParameterError(
                f"occluder {prompt.object_id}'s prompt on frame {prompt.frame} lies outside the tracked region "
                f"{region.to_dict()}; enlarge the region or leave it out to let Keydub place one"
            )


def _check_piece_frames(piece_frames: int) -> None:
    if piece_frames < 2:
        raise InvalidParameterError(f"piece_frames must be at least 2 (pieces share a frame), got {piece_frames}")


def _range_frames(video: VideoSource, frame_range: FrameRange | None, start_frame: int) -> RangeFrames:
    if isinstance(video, (str, os.PathLike)):
        return _clip_frames(video, frame_range)
    if len(video) == 0:
        raise InvalidParameterError("no frames were given; pass the range's frames or a clip path")
    frame_shape = tuple(np.shape(video[0]))
    if len(frame_shape) != 3 or frame_shape[2] != 3:
        raise InvalidParameterError(f"frames must be (H, W, 3) uint8 RGB, got frames of shape {frame_shape}")
    stop = start_frame + len(video)
    start, end = _check_range(frame_range or (start_frame, stop), start_frame, stop, "the frames given")

    def read(first: int, last: int) -> Iterator[np.ndarray]:
        return (np.asarray(video[index - start_frame]) for index in range(first, last))

    def identity() -> str:
        digest = hashlib.blake2b(digest_size=20)
        for frame in read(start, end):
            digest.update(np.ascontiguousarray(frame).tobytes())
        return f"frames{frame_shape}:{digest.hexdigest()}"

    return RangeFrames(start, end, frame_shape[:2], read, identity)


def _clip_frames(path: str | os.PathLike[str], frame_range: FrameRange | None) -> RangeFrames:
    info = probe(path)
    start, end = _check_range(frame_range or (0, info.frame_count), 0, info.frame_count, str(info.path))

    def identity() -> str:
        # A content hash of a whole clip would read gigabytes; the file's size and time change when it does.
        stat = info.path.stat()
        return f"{info.path}:{stat.st_size}:{stat.st_mtime_ns}"

    def read(first: int, last: int) -> Iterator[np.ndarray]:
        return read_frames(info.path, first, last, info=info)

    return RangeFrames(start, end, (info.height, info.width), read, identity, info)


def _check_range(frame_range: FrameRange, first: int, end: int, what: str) -> FrameRange:
    start, stop = frame_range
    if not first <= start < stop <= end:
        raise InvalidParameterError(
            f"frames {start}-{stop} (end exclusive) are not inside {what}, frames {first}-{end - 1}; give a "
            "non-empty range of existing frames"
        )
    return FrameRange(start, stop)

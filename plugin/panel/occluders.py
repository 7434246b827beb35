"""The occluder editor behind the panel's occluder dock: objects, prompts, brush strokes and tracking, Qt-free.

`OccluderEditor` wraps one `OcclusionSession` of the current clip's render range. The dock turns mouse input into
its calls (a click, a box, a brush or eraser stroke), pushes the `PromptEdit` each call returns onto a Qt undo
stack, and runs every call that touches the model on one worker thread (one caller changes the editor at a time;
`masks_on` and `overlay` may be read from another thread meanwhile, as the viewer draws). It reports through
typed events (`keydub.plugin.panel.events`), so it runs and is tested without a `QApplication`:

- `ObjectsChanged`: an occluder was added, renamed, shown, hidden or deleted;
- `MasksChanged(frames)`: the masks shown on these source frames changed;
- `TrackingProgressed(done, total, frame)`: one more frame tracked.

Its prompts become the job's occluders exactly as the command line's `--occluder` / `--occluder-mask` do:
`editor.request_occluders()` returns the `OcclusionPrompt.to_dict()` dicts that `RenderRequest.occluders` takes
(brush masks written as PNGs), and `editor.command_line()` the equivalent option values.

```py
editor = OccluderEditor(masker, masker.init_session("shot.mov", FrameRange(100, 220)), brush_path=paths)
hand = editor.add_object("hand")
editor.click(140, hand.object_id, 812.0, 610.0, positive=True)   # masks of frame 140 at once
editor.propagate(Direction.BOTH)                                 # every frame of the range
request = replace(request, occluders=editor.request_occluders())
```
"""

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keydub.core.errors import InvalidParameterError, RenderInterruptedError
from keydub.core.frame_range import FrameRange
from keydub.core.occlusion import OcclusionMasker, OcclusionPrompt, OcclusionSession, save_brush_mask
from keydub.core.occlusion.region import SquareRegion
from keydub.core.occlusion.session import FramePrompt
from keydub.plugin.panel.events import EventSource, MasksChanged, ObjectsChanged, TrackingProgressed


# Overlay colours of successive occluders (RGB): far from skin tones and from each other.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 48, 48),
    (40, 140, 255),
    (60, 220, 90),
    (255, 200, 0),
    (210, 70, 255),
    (0, 215, 215),
)

# Opacity of a mask in the overlay (0-255): the picture stays readable under it.
MASK_ALPHA = 110

# Click markers in the overlay: radius in source pixels and colours for + (on the object) and - (background).
CLICK_RADIUS = 5
POSITIVE_CLICK = (40, 255, 40)
NEGATIVE_CLICK = (255, 40, 40)

BrushPath = Callable[[int, int], Path]
# Hex digits of a brush mask's content hash in its file name.
_BRUSH_HASH_CHARS = 12


class Direction(str, Enum):
    """Which way `propagate` tracks from the earliest prompted frame: to the range's end, its start, or both."""

    FORWARD = "forward"
    BACKWARD = "backward"
    BOTH = "both"


class TrackingCancelledError(RenderInterruptedError):
    """The editor stopped a propagation; the frames tracked so far are kept."""


@dataclass(frozen=True)
class OccluderObject:
    """One occluder as the editor sees it: its id, a name, its overlay colour and whether it is drawn.

    Hiding only changes the overlay; a hidden occluder still goes into the render. Deleting removes it.
    """

    object_id: int
    name: str
    colour: tuple[int, int, int]
    visible: bool = True


@dataclass(frozen=True)
class PromptEdit:
    """One undoable change: the prompt of `object_id` on `frame` before and after (`None`: no prompt).

    Args:
        object_id (`int`), frame (`int`): which occluder on which source frame.
        before (`FramePrompt | None`), after (`FramePrompt | None`): the prompt there, brush masks in memory.
        text (`str`): what the change was, for an undo menu ("Click on hand", "Brush on hand").
    """

    object_id: int
    frame: int
    before: FramePrompt | None
    after: FramePrompt | None
    text: str


@dataclass(frozen=True)
class _TrackedFrame:
    """One tracked frame kept compact: each object's mask inside the tracked region, bit-packed."""

    region: SquareRegion
    packed: dict[int, np.ndarray]
    stamp: int

    def mask(self, object_id: int, frame_size: tuple[int, int]) -> np.ndarray | None:
        bits = self.packed.get(object_id)
        if bits is None:
            return None
        side = self.region.side
        return self.region.paste(np.unpackbits(bits, count=side * side).reshape(side, side).astype(bool), frame_size)


class OccluderEditor(EventSource):
    """Occluders of one clip's render range: several objects, their prompts, and their tracked masks.

    Args:
        masker (`OcclusionMasker`): the loaded SAM2 masker.
        session (`OcclusionSession`): an open session over the render range (`masker.init_session`).
        brush_path (`Callable[[int, int], Path] | None`): where the brush mask of `(object_id, frame)` is saved
            as a PNG; defaults to `occluder<ID>_frame<FRAME>.png` in `brush_dir`.
        brush_dir (`str | os.PathLike | None`): folder for brush masks when `brush_path` is not given.
    """

    def __init__(
        self,
        masker: OcclusionMasker,
        session: OcclusionSession,
        brush_path: BrushPath | None = None,
        brush_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        self.masker = masker
        self.session = session
        self._brush_path = brush_path or (lambda object_id, frame: _default_brush_path(brush_dir, object_id, frame))
        self._objects: dict[int, OccluderObject] = {}
        self._prompt_masks: dict[tuple[int, int], np.ndarray] = {}
        # When each frame's prompt answers were stored, on the same clock as tracked frames: the newer one is shown
        # (a prompt answer after tracking, the tracked masks once tracking has seen the final prompts and region).
        self._prompt_stamps: dict[int, int] = {}
        self._clock = 0
        self._tracked: dict[int, _TrackedFrame] = {}
        self._is_tracking_stale = False

    # Objects -----------------------------------------------------------------------------------------------------
    @property
    def objects(self) -> tuple[OccluderObject, ...]:
        """The occluders, by id."""
        return tuple(self._objects[object_id] for object_id in sorted(self._objects))

    def object(self, object_id: int) -> OccluderObject:
        if object_id not in self._objects:
            raise InvalidParameterError(
                f"occluder {object_id!r} does not exist; existing occluders: {sorted(self._objects)}"
            )
        return self._objects[object_id]

    def add_object(self, name: str | None = None, object_id: int | None = None) -> OccluderObject:
        """A new occluder with the next free id (or `object_id`) and the next palette colour."""
        if object_id is None:
            object_id = max(self._objects, default=0) + 1
        elif object_id in self._objects:
            return self._objects[object_id]
        colour = PALETTE[(object_id - 1) % len(PALETTE)]
        added = self._objects[object_id] = OccluderObject(object_id, name or f"Occluder {object_id}", colour)
        self._emit(ObjectsChanged())
        return added

    def set_visible(self, object_id: int, visible: bool) -> None:
        """Show or hide an occluder's overlay (it is rendered either way)."""
        self._objects[object_id] = replace(self.object(object_id), visible=visible)
        self._emit(ObjectsChanged())
        self._emit(MasksChanged(self._frames_of(object_id)))

    def rename_object(self, object_id: int, name: str) -> None:
        self._objects[object_id] = replace(self.object(object_id), name=name)
        self._emit(ObjectsChanged())

    def delete_object(self, object_id: int) -> None:
        """Remove an occluder, its prompts and its tracked masks."""
        self.object(object_id)
        frames = self._frames_of(object_id)
        if object_id in self.session.object_ids:
            self.masker.remove_object(self.session, object_id)
        for key in [key for key in self._prompt_masks if key[0] == object_id]:
            del self._prompt_masks[key]
        for tracked in self._tracked.values():
            tracked.packed.pop(object_id, None)
        del self._objects[object_id]
        self._emit(ObjectsChanged())
        self._emit(MasksChanged(frames))

    # Prompts -----------------------------------------------------------------------------------------------------
    def click(self, frame: int, object_id: int, x: float, y: float, positive: bool = True) -> PromptEdit:
        """Add a click on the occluder (`positive`) or on what is not it; earlier clicks on the frame stay."""
        before = self._prompt(object_id, frame)
        self.add_object(object_id=object_id)
        masks = self.masker.add_click(
            self.session, frame, object_id, [(x, y)], [1 if positive else 0], clear_old_points=False
        )
        return self._edited(object_id, frame, before, masks, "Click" if positive else "Background click")

    def box(self, frame: int, object_id: int, box: Sequence[float]) -> PromptEdit:
        """Draw a box `(x0, y0, x1, y1)` around the occluder; the frame's clicks for it stay."""
        before = self._prompt(object_id, frame)
        self.add_object(object_id=object_id)
        x0, y0, x1, y1 = box
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        points = labels = ()
        if before is not None and before.brush is None:
            points, labels = before.points.tolist(), before.labels.tolist()
        masks = self.masker.add_box(self.session, frame, object_id, box, points, labels)
        return self._edited(object_id, frame, before, masks, "Box")

    def paint(
        self, frame: int, object_id: int, points: Sequence[Sequence[float]], radius: float, erase: bool = False
    ) -> PromptEdit | None:
        """Paint (or erase) a stroke through `points` on the occluder's mask of `frame`; it becomes a brush prompt.

        The stroke edits the mask shown on the frame (a click's mask, a tracked mask, or an earlier stroke). Erasing
        everything removes the frame's prompt.

        Returns:
            `PromptEdit | None`: `None` when the stroke changed nothing.
        """
        before = self._prompt(object_id, frame)
        self.add_object(object_id=object_id)
        current = self.masks_on(frame).get(object_id)
        if current is None:
            current = np.zeros(self.session.frame_size, dtype=bool)
        stroke = stroke_mask(self.session.frame_size, points, radius)
        painted = current & ~stroke if erase else current | stroke
        if np.array_equal(painted, current):
            return None
        text = "Eraser" if erase else "Brush"
        if not painted.any():
            if before is None:
                return None
            masks = self.masker.clear_object(self.session, object_id, frame)
        else:
            masks = self.masker.add_brush(self.session, frame, object_id, painted)
        return self._edited(object_id, frame, before, masks, text)

    def apply(self, object_id: int, frame: int, prompt: FramePrompt | None) -> None:
        """Put the prompt of `object_id` on `frame` back to `prompt` (`None` removes it): undo and redo."""
        if prompt is None:
            if self._prompt(object_id, frame) is None:
                return
            masks = self.masker.clear_object(self.session, object_id, frame)
        elif prompt.brush is not None:
            masks = self.masker.add_brush(self.session, frame, object_id, prompt.brush)
        else:
            box = prompt.box.tolist() if prompt.box is not None else None
            masks = self.masker.add_click(
                self.session, frame, object_id, prompt.points.tolist(), prompt.labels.tolist(), box=box
            )
        self.add_object(object_id=object_id)
        self._store_frame(object_id, frame, masks)

    def load(self, prompts: Iterable[OcclusionPrompt | dict[str, Any]]) -> None:
        """Replay saved prompts (a job's `occluders` dicts or `OcclusionPrompt`s), e.g. when a clip reopens."""
        for prompt in prompts:
            if not isinstance(prompt, OcclusionPrompt):
                prompt = OcclusionPrompt.from_dict(prompt, self.session.frames.timebase)
            self.add_object(object_id=prompt.object_id)
            masks = self.masker.add_prompt(self.session, prompt)
            self._store_frame(prompt.object_id, prompt.frame, masks)

    def _prompt(self, object_id: int, frame: int) -> FramePrompt | None:
        return self.session.prompts.get((object_id, frame))

    def _edited(
        self, object_id: int, frame: int, before: FramePrompt | None, masks: dict[int, np.ndarray], text: str
    ) -> PromptEdit:
        self._store_frame(object_id, frame, masks)
        return PromptEdit(
            object_id,
            frame,
            before,
            self._prompt(object_id, frame),
            f"{text} on {self.object(object_id).name}, frame {frame}",
        )

    def _store_frame(self, object_id: int, frame: int, masks: dict[int, np.ndarray]) -> None:
        for key in [key for key in self._prompt_masks if key[1] == frame]:
            del self._prompt_masks[key]
        for other, mask in masks.items():
            self._prompt_masks[(other, frame)] = mask
        self._clock += 1
        self._prompt_stamps[frame] = self._clock
        self._is_tracking_stale = bool(self._tracked)
        self._emit(MasksChanged([frame]))

    # Masks -------------------------------------------------------------------------------------------------------
    @property
    def is_tracking_stale(self) -> bool:
        """A prompt changed after the last propagation: the tracked frames need tracking again."""
        return self._is_tracking_stale

    @property
    def tracked_frames(self) -> tuple[int, ...]:
        return tuple(sorted(self._tracked))

    def prompted_frames(self) -> tuple[int, ...]:
        """Source frames with at least one prompt (for the scrub bar's markers)."""
        return tuple(sorted({frame for _, frame in self.session.prompts}))

    def masks_on(self, frame: int) -> dict[int, np.ndarray]:
        """Each occluder's `(h, w)` bool mask on `frame`: its tracked mask or its prompt's answer, the newer."""
        tracked = self._tracked.get(frame)
        is_tracked_newer = tracked is not None and tracked.stamp > self._prompt_stamps.get(frame, -1)
        masks = {}
        for object_id in tuple(self._objects):
            mask = None if is_tracked_newer else self._prompt_masks.get((object_id, frame))
            if mask is None and tracked is not None:
                mask = tracked.mask(object_id, self.session.frame_size)
            if mask is not None:
                masks[object_id] = mask
        return masks

    def overlay(self, frame: int, selected: int | None = None) -> np.ndarray | None:
        """The visible occluders' masks on `frame` as an `(height, width, 4)` RGBA overlay, with click markers.

        Args:
            frame (`int`): source frame index.
            selected (`int | None`): the selected occluder, whose clicks are drawn.

        Returns:
            `np.ndarray | None`: uint8 RGBA at source resolution; `None` when nothing is drawn on the frame.
        """
        # A snapshot: the viewer may draw while the model thread changes the editor.
        objects = dict(self._objects)
        masks = self.masks_on(frame)
        prompt = self._prompt(selected, frame) if selected is not None else None
        visible = [object_id for object_id in sorted(masks) if object_id in objects and objects[object_id].visible]
        if not visible and prompt is None:
            return None
        image = np.zeros((*self.session.frame_size, 4), dtype=np.uint8)
        for object_id in visible:
            image[masks[object_id]] = (*objects[object_id].colour, MASK_ALPHA)
        if prompt is not None:
            for (x, y), label in zip(prompt.points.tolist(), prompt.labels.tolist(), strict=True):
                colour = POSITIVE_CLICK if label else NEGATIVE_CLICK
                cv2.circle(image, (round(x), round(y)), CLICK_RADIUS, (*colour, 255), thickness=-1)
        return image

    def _frames_of(self, object_id: int) -> list[int]:
        prompted = {frame for other, frame in self._prompt_masks if other == object_id}
        return sorted(prompted | {frame for frame, tracked in self._tracked.items() if object_id in tracked.packed})

    # Tracking ----------------------------------------------------------------------------------------------------
    def propagate(
        self, direction: Direction | str = Direction.BOTH, should_stop: Callable[[], bool] | None = None
    ) -> int:
        """Track every occluder from the earliest prompted frame forward, backward or both over the range.

        Prompted frames (the first and any correction on a later frame) all condition the tracking. Frames
        already tracked in the other direction keep their masks.

        Args:
            direction (`Direction | str`, defaults to `"both"`): `"forward"` (to the range's end), `"backward"` (to
                its start) or `"both"`.
            should_stop (`Callable[[], bool] | None`): asked before each frame; `True` stops with
                `TrackingCancelledError` (the frames tracked so far are kept).

        Returns:
            `int`: the number of frames tracked.
        """
        direction = Direction(direction)
        session = self._session_towards(direction)
        start, end = session.frame_range
        region = session.tracking_region()
        done = 0
        for frame, masks in self.masker.propagate_in_region(session):
            packed = {object_id: np.packbits(mask) for object_id, mask in masks.items() if object_id in self._objects}
            self._clock += 1
            self._tracked[frame] = _TrackedFrame(region, packed, self._clock)
            done += 1
            self._emit(MasksChanged([frame]))
            self._emit(TrackingProgressed(done, end - start, frame))
            if should_stop is not None and should_stop() and done < end - start:
                raise TrackingCancelledError(
                    f"occluder tracking stopped after {done} of {end - start} frames; track again to finish"
                )
        self._is_tracking_stale = False
        return done

    def _session_towards(self, direction: Direction) -> OcclusionSession:
        """The session over the part of the range `direction` covers, sharing prompts and tracked region.

        The masker tracks forward from the earliest prompted frame to the range's end, then backward to its start;
        cutting the range at that frame leaves one direction. Prompts outside the cut still condition tracking.
        """
        if not self.session.prompts:
            raise InvalidParameterError("no occluder prompt yet; click on the occluder on one frame first")
        if direction is Direction.BOTH:
            return self.session
        first = min(frame for _, frame in self.session.prompts)
        start, end = self.session.frame_range
        part = FrameRange(first, end) if direction is Direction.FORWARD else FrameRange(start, first + 1)
        frames = replace(self.session.frames, start=part.start, end=part.end)
        # A fixed region keeps what the segmenter sees identical to tracking the whole range.
        return replace(self.session, frames=frames, region=self.session.tracking_region(), preview=None)

    # Output ------------------------------------------------------------------------------------------------------
    def request_occluders(self) -> tuple[dict[str, Any], ...]:
        """The prompts as `RenderRequest.occluders` takes them; brush masks are saved as PNGs at `brush_path`."""
        return tuple(prompt.to_dict() for prompt in self.prompts())

    def prompts(self) -> tuple[OcclusionPrompt, ...]:
        """The prompts as `OcclusionPrompt`s sorted by object then frame, brush masks saved as PNGs.

        A brush mask's file is `brush_path`'s name with the mask's content hash added
        (`occluder1_frame120_<hash>.png`): a job names its occluders by path, so a repainted mask must get a new
        path for the job (and its render) to change; the PNG of an earlier version stays for jobs still queued.
        """
        exported = []
        for key in sorted(self.session.prompts):
            prompt = self.session.prompts[key]
            if prompt.brush is not None:
                named = Path(self._brush_path(prompt.object_id, prompt.frame)).expanduser().absolute()
                content = prompt.fingerprint()["brush"]
                path = named.with_name(f"{named.stem}_{content[:_BRUSH_HASH_CHARS]}{named.suffix}")
                if not path.is_file():  # named by content: an existing file already holds this mask
                    path.parent.mkdir(parents=True, exist_ok=True)
                    save_brush_mask(prompt.brush, path)
                exported.append(OcclusionPrompt(prompt.object_id, prompt.frame, mask_path=path))
            else:
                exported.append(prompt.to_prompt())
        return tuple(exported)

    def command_line(self) -> tuple[list[str], list[str]]:
        """The `--occluder` and `--occluder-mask` values that give the same prompts on the command line."""
        clicks, masks = [], []
        for prompt in self.prompts():
            prefix = f"{prompt.object_id}:"
            if prompt.mask_path is not None:
                masks.append(f"{prefix}{prompt.mask_path}@{prompt.frame}")
                continue
            if prompt.box is not None:
                clicks.append(f"{prefix}{','.join(map(_number, prompt.box))}@{prompt.frame}")
            for (x, y), label in zip(prompt.points, prompt.labels, strict=True):
                clicks.append(f"{prefix}{'' if label else '-'}{_number(x)},{_number(y)}@{prompt.frame}")
        return clicks, masks


def stroke_mask(frame_size: tuple[int, int], points: Sequence[Sequence[float]], radius: float) -> np.ndarray:
    """The pixels a round brush of `radius` source pixels covers along `points` (a polyline), `(h, w)` bool."""
    if radius <= 0:
        raise InvalidParameterError(f"brush size {radius!r} must be a positive number of source pixels")
    if not points:
        raise InvalidParameterError("a brush stroke needs at least one point")
    canvas = np.zeros(frame_size, dtype=np.uint8)
    centres = [(round(x), round(y)) for x, y in points]
    size = max(round(radius), 1)
    for centre in centres:
        cv2.circle(canvas, centre, size, 1, thickness=-1)
    for a, b in zip(centres, centres[1:], strict=False):
        cv2.line(canvas, a, b, 1, thickness=2 * size + 1)
    return canvas.astype(bool)


def _default_brush_path(brush_dir: str | os.PathLike[str] | None, object_id: int, frame: int) -> Path:
    if brush_dir is None:
        raise InvalidParameterError(
            f"occluder {object_id} on frame {frame} was painted but there is no folder for brush masks; give the "
            "editor a brush_path or brush_dir"
        )
    return Path(brush_dir) / f"occluder{object_id}_frame{frame}.png"


def _number(value: float) -> str:
    """A coordinate as the command line reads it back to the same float (no exponent)."""
    return np.format_float_positional(float(value), trim="-")

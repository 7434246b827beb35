"""Occlusion prompts as plain data: what the editor clicked, boxed or painted, on which source frame.

A prompt names one occluder (`object_id`, the caller's own number) on one frame of the source. Frames are source
frame indices; a timecode string is accepted wherever a frame is, and converted with the clip's frame rate and
start timecode. The command line writes prompts as short strings (see `parse_occluder_args`); jobs store them
with `to_dict`.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from keydub.core.errors import InvalidParameterError
from keydub.core.files import write_bytes_atomically
from keydub.core.timecode import timecode_to_frames


# The object id a prompt gets when the command line does not name one.
DEFAULT_OBJECT_ID = 1

# `[ID:]` in front of a command-line prompt; only digits, so that `C:\masks\hand.png@12` stays a path.
_OBJECT_ID_PREFIX = re.compile(r"^(\d+):(.*)$", re.DOTALL)
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_CLICK = re.compile(rf"^(-?)({_NUMBER}),({_NUMBER})$")
_BOX = re.compile(rf"^({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})$")
_FRAME_INDEX = re.compile(r"^\d+$")


class Timebase(Protocol):
    """What converting a timecode to a frame index needs from the clip (`keydub.core.media.MediaInfo` has it)."""

    frame_rate: Fraction
    start_frame: int


@dataclass(frozen=True)
class OcclusionPrompt:
    """One occluder's prompt on one source frame: clicks, a box, or a painted mask.

    Clicks and a box may go together (SAM2 takes the box first, then the clicks); a brush mask stands alone.

    Args:
        object_id (`int`): the caller's id for the occluder (a hand, a microphone); prompts with the same id on
            different frames are corrections of the same object.
        frame (`int`): the source frame index the prompt was drawn on.
        points (`tuple[tuple[float, float], ...]`, defaults to `()`): click positions `(x, y)` in source pixels.
        labels (`tuple[int, ...]`, defaults to `()`): one per point, `1` for "this is the occluder", `0` for "this
            is not".
        box (`tuple[float, float, float, float] | None`): `(x0, y0, x1, y1)` in source pixels around the occluder.
        mask_path (`Path | None`): a PNG at source resolution, white where the occluder is.
    """

    object_id: int
    frame: int
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    mask_path: Path | None = None

    def __post_init__(self) -> None:
        check_index("object id", self.object_id)
        check_index("frame", self.frame)
        if len(self.points) != len(self.labels):
            raise InvalidParameterError(
                f"occluder {self.object_id} on frame {self.frame} has {len(self.points)} points but "
                f"{len(self.labels)} labels; give one label (1 positive, 0 negative) per point"
            )
        for point in self.points:
            if len(point) != 2 or not all(math.isfinite(value) for value in point):
                raise InvalidParameterError(f"click {point!r} is not an (x, y) pair of finite pixel coordinates")
        bad_labels = [label for label in self.labels if label not in (0, 1)]
        if bad_labels:
            raise InvalidParameterError(f"click label {bad_labels[0]!r} is not 1 (positive) or 0 (negative)")
        if self.box is not None:
            if len(self.box) != 4 or not all(math.isfinite(value) for value in self.box):
                raise InvalidParameterError(f"box {self.box!r} is not four finite pixel coordinates x0,y0,x1,y1")
            if not (self.box[0] < self.box[2] and self.box[1] < self.box[3]):
                raise InvalidParameterError(
                    f"box {self.box!r} is empty; write it as x0,y0,x1,y1 with x0 < x1 and y0 < y1"
                )
        has_clicks = bool(self.points) or self.box is not None
        if self.mask_path is not None and has_clicks:
            raise InvalidParameterError(
                f"occluder {self.object_id} on frame {self.frame} has both a brush mask and clicks; SAM2 takes one "
                "or the other per frame: put the clicks on another frame or use a different object id"
            )
        if self.mask_path is None and not has_clicks:
            raise InvalidParameterError(
                f"occluder {self.object_id} on frame {self.frame} has no click, box or brush mask"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "frame": self.frame,
            "points": [list(point) for point in self.points],
            "labels": list(self.labels),
            "box": list(self.box) if self.box is not None else None,
            "mask": str(self.mask_path) if self.mask_path is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], timebase: Timebase | None = None) -> "OcclusionPrompt":
        """Rebuild a prompt from `to_dict` output; `frame` may also be a timecode string (needs `timebase`)."""
        unknown = set(data) - {"object_id", "frame", "points", "labels", "box", "mask"}
        if unknown:
            raise InvalidParameterError(
                f"occlusion prompt has unknown fields {sorted(unknown)}; expected object_id, frame, points, labels, "
                "box, mask"
            )
        try:
            return cls(
                object_id=data.get("object_id", DEFAULT_OBJECT_ID),
                frame=resolve_frame(data["frame"], timebase),
                points=tuple((float(x), float(y)) for x, y in data.get("points") or ()),
                labels=tuple(int(label) for label in data.get("labels") or ()),
                box=tuple(float(value) for value in data["box"]) if data.get("box") is not None else None,
                mask_path=Path(data["mask"]) if data.get("mask") else None,
            )
        except InvalidParameterError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidParameterError(
                f"occlusion prompt {data!r} is malformed ({error}); see OcclusionPrompt.to_dict for the layout"
            ) from error


def resolve_frame(value: int | str, timebase: Timebase | None = None) -> int:
    """A source frame index from an index or a timecode label.

    Args:
        value (`int | str`): a frame index (`120`, `"120"`) or a timecode (`"01:00:04:20"`, `"00:59:59;29"`).
        timebase (`Timebase | None`): the clip's frame rate and start timecode (in frames), needed for timecode.

    Returns:
        `int`: the frame's index in the source, counted from its first frame.
    """
    if isinstance(value, bool):
        raise InvalidParameterError(f"frame {value!r} is not a frame index or timecode")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise InvalidParameterError(f"frame {value!r} is not a frame index or timecode")
    text = value.strip()
    if _FRAME_INDEX.match(text):
        return int(text)
    if timebase is None:
        raise InvalidParameterError(
            f"frame {value!r} is a timecode, which needs the clip's frame rate and start timecode; give a frame "
            "index instead, or parse the prompt with the clip's media info"
        )
    frame = timecode_to_frames(text, timebase.frame_rate) - timebase.start_frame
    if frame < 0:
        raise InvalidParameterError(
            f"timecode {value!r} is before the clip's first frame (start frame {timebase.start_frame}); use a "
            "timecode from the clip's own range"
        )
    return frame


def parse_occluder_click(text: str, timebase: Timebase | None = None) -> OcclusionPrompt:
    """Parse one `--occluder` value: `[ID:][-]X,Y@FRAME` (a click) or `[ID:]X0,Y0,X1,Y1@FRAME` (a box).

    A leading `-` on the coordinates makes a negative click ("not part of the occluder"). FRAME is a source frame
    index or a timecode. Examples: `450,610@12`, `2:-430,580@01:00:00:12`, `380,520,620,760@0`.

    Args:
        text (`str`): the option value.
        timebase (`Timebase | None`): the clip's media info, needed when FRAME is a timecode.

    Returns:
        `OcclusionPrompt`: with one point or one box.
    """
    object_id, body, frame = _split_prompt(text, "X,Y@FRAME")
    click = _CLICK.match(body)
    if click is not None:
        sign, x, y = click.groups()
        return OcclusionPrompt(object_id, resolve_frame(frame, timebase), ((float(x), float(y)),), (0 if sign else 1,))
    box = _BOX.match(body)
    if box is not None:
        return OcclusionPrompt(object_id, resolve_frame(frame, timebase), box=tuple(float(v) for v in box.groups()))
    raise InvalidParameterError(
        f"--occluder {text!r}: {body!r} is neither a click X,Y (prefix - for a negative click) nor a box "
        "X0,Y0,X1,Y1; e.g. --occluder 450,610@12 or --occluder=-430,580@12"
    )


def parse_occluder_mask(text: str, timebase: Timebase | None = None) -> OcclusionPrompt:
    """Parse one `--occluder-mask` value: `[ID:]FILE@FRAME`, a PNG brush mask at source resolution.

    Args:
        text (`str`): the option value, e.g. `hand.png@120` or `2:masks/mic.png@01:00:05:00`.
        timebase (`Timebase | None`): the clip's media info, needed when FRAME is a timecode.
    """
    object_id, path, frame = _split_prompt(text, "FILE@FRAME")
    return OcclusionPrompt(object_id, resolve_frame(frame, timebase), mask_path=Path(path).expanduser().absolute())


def parse_occluder_args(
    occluders: Sequence[str] = (), masks: Sequence[str] = (), timebase: Timebase | None = None
) -> tuple[OcclusionPrompt, ...]:
    """Parse every `--occluder` and `--occluder-mask` value and merge the clicks of one object on one frame.

    Args:
        occluders (`Sequence[str]`): the `--occluder` values, in command-line order.
        masks (`Sequence[str]`): the `--occluder-mask` values.
        timebase (`Timebase | None`): the clip's media info, needed when a frame is written as timecode.

    Returns:
        `tuple[OcclusionPrompt, ...]`: one prompt per (object, frame), sorted by object then frame.
    """
    return merge_prompts(
        [parse_occluder_click(text, timebase) for text in occluders]
        + [parse_occluder_mask(text, timebase) for text in masks]
    )


def merge_prompts(prompts: Iterable[OcclusionPrompt]) -> tuple[OcclusionPrompt, ...]:
    """Combine prompts that share an object and a frame (clicks are appended, a box may be given once).

    Returns:
        `tuple[OcclusionPrompt, ...]`: sorted by `(object_id, frame)`.
    """
    merged: dict[tuple[int, int], OcclusionPrompt] = {}
    for prompt in prompts:
        key = (prompt.object_id, prompt.frame)
        previous = merged.get(key)
        if previous is None:
            merged[key] = prompt
            continue
        if previous.box is not None and prompt.box is not None:
            raise InvalidParameterError(
                f"occluder {prompt.object_id} has two boxes on frame {prompt.frame}; SAM2 takes one box per object "
                "and frame: give the second box another object id"
            )
        if previous.mask_path is not None or prompt.mask_path is not None:
            other = prompt.mask_path or previous.mask_path
            raise InvalidParameterError(
                f"occluder {prompt.object_id} on frame {prompt.frame} has a brush mask ({other}) and other prompts; "
                "a brush mask stands alone on its frame"
            )
        merged[key] = OcclusionPrompt(
            prompt.object_id,
            prompt.frame,
            previous.points + prompt.points,
            previous.labels + prompt.labels,
            previous.box if previous.box is not None else prompt.box,
        )
    return tuple(merged[key] for key in sorted(merged))


def load_brush_mask(path: Path, frame_size: tuple[int, int]) -> np.ndarray:
    """Read a brush mask PNG: white (any value of at least half the range) marks the occluder.

    Args:
        path (`Path`): an 8- or 16-bit PNG, grey or colour (the first channel is read, alpha if present).
        frame_size (`tuple[int, int]`): `(height, width)` of the source; the mask must match it.

    Returns:
        `np.ndarray`: `(height, width)` bool.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InvalidParameterError(
            f"brush mask {path} cannot be read ({error.strerror or error}); check the path given with --occluder-mask"
        ) from error
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InvalidParameterError(f"brush mask {path} is not an image; save the mask as a PNG")
    if image.ndim == 3:
        # Painting tools export either a grey value in every channel or a transparent layer; take alpha then.
        image = image[..., 3] if image.shape[2] == 4 else image[..., 0]
    if image.shape != tuple(frame_size):
        raise InvalidParameterError(
            f"brush mask {path} is {image.shape[1]}x{image.shape[0]} but the clip is {frame_size[1]}x{frame_size[0]};"
            " paint the mask at the source's resolution"
        )
    mask = image >= (np.iinfo(image.dtype).max + 1) // 2
    if not mask.any():
        raise InvalidParameterError(f"brush mask {path} is empty (no white pixel); paint the occluder in white")
    return mask


def save_brush_mask(mask: np.ndarray, path: Path) -> Path:
    """Write a bool mask as a black-and-white PNG, atomically (temporary name in the folder, then rename).

    Args:
        mask (`np.ndarray`): `(height, width)` bool, true on the occluder.
        path (`Path`): where to write; its folder must exist.

    Returns:
        `Path`: `path`.
    """
    path = Path(path)
    ok, encoded = cv2.imencode(".png", np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8))
    if not ok:
        raise InvalidParameterError(f"mask of shape {np.shape(mask)} cannot be written as a PNG")
    write_bytes_atomically(path, encoded.tobytes())
    return path


def _split_prompt(text: str, form: str) -> tuple[int, str, str]:
    """`(object_id, body, frame)` of `[ID:]BODY@FRAME`."""
    if not isinstance(text, str) or "@" not in text:
        raise InvalidParameterError(f"occluder prompt {text!r} has no frame; write it as [ID:]{form}")
    body, _, frame = text.strip().rpartition("@")
    object_id = DEFAULT_OBJECT_ID
    prefix = _OBJECT_ID_PREFIX.match(body)
    if prefix is not None:
        object_id, body = int(prefix.group(1)), prefix.group(2)
    if not body or not frame:
        raise InvalidParameterError(f"occluder prompt {text!r} is incomplete; write it as [ID:]{form}")
    return object_id, body, frame


def check_index(what: str, value: int) -> None:
    """Raise `InvalidParameterError` unless `value` is a non-negative `int` (object ids, frame indices)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterError(f"{what} {value!r} is not a non-negative integer")

"""Building a render request from what an editor gives: in/out points, handles, a face click, a dub offset.

The command line, the panel and the Resolve bridge all speak in frame numbers or timecodes of the clip, with
handles around the edit; these functions turn that into `RenderRequest` fields, with the checks and messages in
one place.

```py
>>> info = probe("shot.mov")
>>> start, end = source_range(info, "01:00:10:00", "01:00:14:12", handles=12)
>>> request = RenderRequest(video="shot.mov", audio="dub.wav", output="out.mov", start_frame=start, end_frame=end,
...                         audio_offset=dub_offset(info, Fraction(0), in_frame=frame_number("01:00:10:00", info),
...                                                 start=start),
...                         face=parse_face_click("1210,540@0", info, start))
```
"""

import re
from fractions import Fraction
from pathlib import Path

from keydub.core.errors import InvalidParameterError
from keydub.core.media import MediaInfo, timecode_to_frames
from keydub.core.render.request import FaceChoice


_FACE = re.compile(r"^(\d+(?:\.\d*)?),(\d+(?:\.\d*)?)(?:@(\S+))?$")


def frame_number(text: str, info: MediaInfo) -> int:
    """A frame number (0 = the clip's first), or a timecode of the clip, as a frame index from its first frame."""
    if text.isdigit():
        return int(text)
    frame = timecode_to_frames(text, info.frame_rate) - info.start_frame
    if frame < 0:
        raise InvalidParameterError(f"timecode {text} is before the clip starts ({info.timecode_at(0)})")
    return frame


def edit_range(info: MediaInfo, in_point: str | None = None, out_point: str | None = None) -> tuple[int, int]:
    """`[in, out)` source frames of an edit (out exclusive, as in OTIO); the whole clip by default."""
    start = frame_number(in_point, info) if in_point else 0
    end = frame_number(out_point, info) if out_point else info.frame_count
    if not 0 <= start < end <= info.frame_count:
        raise InvalidParameterError(
            f"--in/--out give frames [{start}, {end}), which is not a non-empty range inside the clip's "
            f"{info.frame_count} frames ({info.timecode_at(0)} to {info.timecode_at(info.frame_count - 1)})"
        )
    return start, end


def source_range(
    info: MediaInfo, in_point: str | None = None, out_point: str | None = None, handles: int = 0
) -> tuple[int, int]:
    """`[start, end)` source frames to render: the edit widened by `handles` on both sides, clamped to the clip."""
    if handles < 0:
        raise InvalidParameterError(f"--handles must be 0 or more, got {handles}")
    start, end = edit_range(info, in_point, out_point)
    return max(0, start - handles), min(info.frame_count, end + handles)


def dub_offset(info: MediaInfo, offset: Fraction, *, in_frame: int, start: int) -> Fraction:
    """The request's `audio_offset`: the dub's first sample belongs under the edit's in frame, so handles before
    it hear silence (or the dub before the offset); `offset` is the user's extra delay in seconds."""
    return Fraction(offset) + Fraction(in_frame - start) / info.frame_rate


def parse_face_click(text: str | None, info: MediaInfo, start: int, track_id: int | None = None) -> FaceChoice:
    """The face to render from `X,Y[@FRAME]` (source pixels; FRAME a number or timecode, default `start`) and/or
    a track id as `keydub inspect --faces` lists it; neither gives the largest face of each shot."""
    if text is None:
        return FaceChoice(track_id=track_id)
    match = _FACE.match(text)
    if match is None:
        raise InvalidParameterError(f"--face {text!r} is not X,Y or X,Y@FRAME, e.g. --face 960,540@12")
    x, y, frame = match.groups()
    return FaceChoice(
        point=(float(x), float(y)), frame=frame_number(frame, info) if frame else start, track_id=track_id
    )


def parse_speaker(text: str, info: MediaInfo, start: int) -> tuple[FaceChoice | str, Path | None]:
    """A `--speaker FACE[=AUDIO]`: the face (a click `X,Y[@FRAME]`, a track id, or a character's name to find with
    the cast) and its own dub (`None`: the shot's `--audio`)."""
    face, has_audio, audio = text.partition("=")
    if has_audio and not audio:
        raise InvalidParameterError(f"--speaker {text!r} names no audio after '='; write FACE=AUDIO or FACE alone")
    if not face:
        raise InvalidParameterError(f"--speaker {text!r} names no face; write X,Y[@FRAME], a track id or a character")
    dub = Path(audio).absolute() if audio else None
    if face.isdigit():
        return FaceChoice(track_id=int(face)), dub
    if _FACE.match(face):
        return parse_face_click(face, info, start), dub
    return face, dub

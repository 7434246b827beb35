"""A read-only picture of a Resolve timeline in plain dataclasses, read through the raw API with every answer checked.

Frame numbers are Resolve's: record positions are absolute timeline frames (`GetStart()`, 86400 for a clip at the
start of a 24 fps timeline beginning at 01:00:00:00), lengths are `GetDuration()` (`GetEnd()` can be inclusive),
source in-points are frame offsets from the first frame of the media file, and a media file's start timecode is an
absolute frame number at its own rate.

What real Resolve answers, and how it is read (resolve-measured.md has the sources):
- `FPS` is a number and `timelineFrameRate` a string: both go through `parse_frame_rate`;
- drop frame is `timelineDropFrameTimecode` and a clip's `Drop frame` property, never guessed from `;`;
- `GetStartFrame()` is trusted; a start timecode that disagrees is a warning;
- `GetLeftOffset()` counts the media's frames for video at 100 % speed, the timeline's frames for audio (so it is
  converted to the audio file's own frames), and the warped domain for retimed clips: a clip whose source span
  (`GetSourceStartFrame/EndFrame`) is not its record length is read as retimed, at that speed.

Items whose selected take is a Keydub render are read as their original, from what the render's metadata says
the original was, and Keydub's own tracks are marked, so that reading a timeline after a write-back gives the same
picture as before it.
"""

import logging
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from keydub.plugin.resolve.calls import Calls
from keydub.plugin.resolve.checks import as_list, require, require_int, require_number, require_str
from keydub.plugin.resolve.errors import ResolveCallError
from keydub.plugin.resolve.timecode import frame_to_timecode, parse_frame_rate, timecode_to_frame


logger = logging.getLogger(__name__)

# Third-party metadata stamped on every render Keydub imports into the media pool: its job, and the clip it
# replaces (its media file, source in-point in frames from the file's first frame, and length), so that a take
# selector showing the render can be read, and undone, without trusting what take 1 reports.
JOB_ID_KEY = "keydub.job_id"
JOB_HASH_KEY = "keydub.job_hash"
SOURCE_PATH_KEY = "keydub.source_path"
SOURCE_IN_KEY = "keydub.source_in"
SOURCE_FRAMES_KEY = "keydub.source_frames"
# Names of the tracks Keydub adds: "Keydub <dub track> v<N>".
OUTPUT_TRACK_PATTERN = re.compile(r"^Keydub (?P<dub>.+) v(?P<version>\d+)$")
TRACK_KINDS = ("video", "audio")
# Media pool item types that hold a timeline rather than a file.
_NESTED_TYPES = frozenset({"Timeline", "Compound", "Multicam", "Fusion Composition"})
# Source spans and record lengths may differ by this many frames without a retime: Resolve's source end frame is
# inclusive on some items and exclusive on others (nle-integration §1.4).
_SPAN_SLACK = 1
# Subframe answers are doubles of small ratios (240000/1001 timeline frames): recover the ratio.
_SUBFRAME_DENOMINATOR = 1_000_000
_REREAD = "read the timeline again after Resolve has finished loading it"


@dataclass(frozen=True)
class OriginalClip:
    """What a Keydub render replaces, as its metadata says: the media `path`, the source in-point `left_offset`
    (frames from the file's first frame) and the length `frames`."""

    path: str
    left_offset: int
    frames: int


@dataclass(frozen=True)
class MediaState:
    """A media pool item's file.

    Args:
        unique_id (`str`): the item's `GetUniqueId()`.
        name (`str`): its name in the pool.
        path (`str`): `File Path` (empty for items without a file, e.g. compound clips).
        kind (`str`): `Type` (`"Video"`, `"Audio"`, `"Video + Audio"`, `"Timeline"`...).
        frame_rate (`Fraction`): `FPS`, exact.
        start_frame (`int`): `Start TC` as an absolute frame number at `frame_rate`.
        frames (`int`): `Frames`, the file's length.
        drop_frame (`bool`): its timecode is drop frame (`Drop frame`).
        job_id (`str`): the Keydub job it is the render of (empty for any other media).
        original (`OriginalClip | None`): for a render, the clip it replaces.
    """

    unique_id: str
    name: str
    path: str
    kind: str
    frame_rate: Fraction
    start_frame: int
    frames: int
    drop_frame: bool = False
    job_id: str = ""
    original: OriginalClip | None = None

    @property
    def is_nested(self) -> bool:
        return self.kind in _NESTED_TYPES

    @property
    def is_render(self) -> bool:
        return bool(self.job_id)


@dataclass(frozen=True)
class ItemState:
    """One item of a track.

    Args:
        name (`str`), unique_id (`str`): the item.
        kind (`str`): `"clip"`, `"transition"` (no media pool item, no properties) or `"generator"` (no media pool
            item: titles, solids).
        start (`int`): the first record frame, absolute.
        duration (`int`): record frames (`GetDuration()`).
        left_offset (`Fraction`): source in-point, in frames of the media file from its first frame (whole for
            video; a fraction for audio at another rate than the timeline's).
        speed (`Fraction`): 1, or the retime's speed (2 plays twice as fast).
        media (`MediaState | None`): the media of the clip (of its original when a Keydub render is selected).
        enabled (`bool`): `GetClipEnabled()`.
        link_group (`int | None`): items linked together (picture and its sound) share a number.
    """

    name: str
    unique_id: str
    kind: str
    start: int
    duration: int
    left_offset: Fraction = Fraction(0)
    speed: Fraction = Fraction(1)
    media: MediaState | None = None
    enabled: bool = True
    link_group: int | None = None

    @property
    def end(self) -> int:
        """One past the last record frame."""
        return self.start + self.duration


@dataclass(frozen=True)
class TrackState:
    """A track: `kind` (`"video"`/`"audio"`), 1-based `index`, `name`, `enabled`, `locked`, `audio_type` (audio
    tracks: `"mono"`, `"stereo"`...), `items` in record order, and `is_output` for Keydub's own tracks."""

    kind: str
    index: int
    name: str
    enabled: bool
    locked: bool
    items: tuple[ItemState, ...]
    audio_type: str | None = None

    @property
    def is_output(self) -> bool:
        return self.kind == "video" and OUTPUT_TRACK_PATTERN.match(self.name) is not None


@dataclass(frozen=True)
class TimelineState:
    """A timeline: `name`, `unique_id`, `frame_rate` (exact), `drop_frame`, `start_frame` (absolute frame of its
    start), `start_timecode`, its `tracks` (video tracks first, then audio, each bottom first) and what the user
    should know about how it was read (`warnings`)."""

    name: str
    unique_id: str
    frame_rate: Fraction
    start_frame: int
    start_timecode: str
    tracks: tuple[TrackState, ...]
    drop_frame: bool = False
    warnings: tuple[str, ...] = ()


def timeline_rate(timeline: Any, project: Any, calls: Calls) -> tuple[Fraction, bool]:
    """`(exact rate, drop frame)` of a timeline: its own settings, else the project's."""
    keys = ("timelineFrameRate", "timelineDropFrameTimecode")
    settings = {**calls.settings(project, *keys), **calls.settings(timeline, *keys)}
    what = f"report the frame rate of timeline {timeline.GetName()!r}"
    rate = parse_frame_rate(require(settings.get("timelineFrameRate"), what, _REREAD))
    return rate, _is_set(settings.get("timelineDropFrameTimecode"))


def _is_set(flag: Any) -> bool:
    """Resolve's boolean settings and properties: "1"/"0", True/False."""
    return str(flag).strip().lower() in ("1", "true", "yes", "on")


def read_timeline_state(timeline: Any, project: Any, calls: Calls) -> TimelineState:
    """Read a timeline's tracks and items.

    Args:
        timeline (`Any`): a Resolve `Timeline`.
        project (`Any`): its `Project` (for the frame rate when the timeline has none of its own).
        calls (`Calls`): the version-dependent calls of this Resolve.

    Raises:
        `ResolveCallError`: an answer was a silent failure or does not make sense.
    """
    name = require_str(timeline.GetName(), "report the timeline's name", _REREAD)
    rate, drop_frame = timeline_rate(timeline, project, calls)
    start_frame = require_int(timeline.GetStartFrame(), f"report the start frame of {name!r}", _REREAD)
    start_timecode = str(timeline.GetStartTimecode() or "")
    warnings = []
    try:
        agrees = timecode_to_frame(start_timecode, rate, drop_frame) == start_frame
    except ResolveCallError:
        agrees = False
    if not agrees:
        warnings.append(
            f"timeline {name!r} starts at frame {start_frame} ({frame_to_timecode(start_frame, rate, drop_frame)}) "
            f"but reports the start timecode {start_timecode!r}; Keydub goes by the frame"
        )
        logger.warning(warnings[-1])
    reader = _Reader(calls, rate)
    tracks = []
    for kind in TRACK_KINDS:
        count = require_int(timeline.GetTrackCount(kind), f"count the {kind} tracks of {name!r}", _REREAD)
        for index in range(1, count + 1):
            tracks.append(reader.track(timeline, kind, index))
    return TimelineState(
        name=name,
        unique_id=str(timeline.GetUniqueId()),
        frame_rate=rate,
        start_frame=start_frame,
        start_timecode=frame_to_timecode(start_frame, rate, drop_frame),
        tracks=tuple(tracks),
        drop_frame=drop_frame,
        warnings=tuple(warnings),
    )


def read_media(item: Any, calls: Calls, cache: dict[str, MediaState] | None = None) -> MediaState:
    """A media pool item's file, rate, start timecode and length, in one call of each kind (cached by the item's
    unique id)."""
    unique_id = str(item.GetUniqueId())
    if cache is not None and unique_id in cache:
        return cache[unique_id]
    properties = calls.clip_properties(item)
    name = str(item.GetName() or properties.get("Clip Name") or "")
    fix = f"check clip {name!r} in the media pool (is it online?)"
    kind = str(properties.get("Type") or "")
    if kind in _NESTED_TYPES:
        media = MediaState(
            unique_id=unique_id, name=name, path="", kind=kind, frame_rate=Fraction(0), start_frame=0, frames=0
        )
    else:
        rate = parse_frame_rate(require(properties.get("FPS"), f"report the frame rate of {name!r}", fix))
        drop_frame = _is_set(properties.get("Drop frame"))
        start_tc = require_str(properties.get("Start TC"), f"report the start timecode of {name!r}", fix)
        metadata = calls.third_party_metadata(item)
        media = MediaState(
            unique_id=unique_id,
            name=name,
            path=require_str(properties.get("File Path"), f"report the file of {name!r}", fix),
            kind=kind,
            frame_rate=rate,
            start_frame=timecode_to_frame(start_tc, rate, drop_frame),
            frames=require_int(_whole(properties.get("Frames")), f"report the length of {name!r}", fix),
            drop_frame=drop_frame,
            job_id=str(metadata.get(JOB_ID_KEY) or ""),
            original=_original(metadata),
        )
    if cache is not None:
        cache[unique_id] = media
    return media


def _whole(answer: Any) -> Any:
    """A whole number answered as text (`'720'`) as an int; anything else unchanged, for the check to refuse."""
    if isinstance(answer, str) and answer.strip().isdigit():
        return int(answer.strip())
    return answer


def _original(metadata: dict[str, Any]) -> OriginalClip | None:
    path, left, frames = (metadata.get(key) for key in (SOURCE_PATH_KEY, SOURCE_IN_KEY, SOURCE_FRAMES_KEY))
    if not path or not str(left).isdigit() or not str(frames).isdigit():
        return None
    return OriginalClip(path=str(path), left_offset=int(left), frames=int(frames))


class _Reader:
    """Reads tracks and items, sharing one media cache and the numbering of linked groups."""

    def __init__(self, calls: Calls, rate: Fraction) -> None:
        self.calls = calls
        self.rate = rate
        self.media: dict[str, MediaState] = {}
        self._groups: dict[str, int] = {}

    def track(self, timeline: Any, kind: str, index: int) -> TrackState:
        what = f"{kind} track {index} of {timeline.GetName()!r}"
        name = require_str(timeline.GetTrackName(kind, index), f"name {what}", _REREAD)
        raw_items = as_list(timeline.GetItemListInTrack(kind, index), f"list the items of {what}", _REREAD)
        items = sorted(
            (self.item(item, kind, repr(name)) for item in raw_items),
            key=lambda item: (item.start, item.kind != "transition"),
        )
        audio_type = None
        if kind == "audio":
            audio_type = str(timeline.GetTrackSubType("audio", index) or "mono")
        return TrackState(
            kind=kind,
            index=index,
            name=name,
            enabled=timeline.GetIsTrackEnabled(kind, index) is not False,
            locked=timeline.GetIsTrackLocked(kind, index) is True,
            items=tuple(items),
            audio_type=audio_type,
        )

    def item(self, item: Any, kind: str, track: str) -> ItemState:
        """One timeline item as plain data (`kind` is its track's, `track` names it in messages)."""
        return read_item(item, kind, track, self.calls, self.rate, self.media, self._link_group)

    def _link_group(self, item: Any) -> int | None:
        linked = as_list(item.GetLinkedItems() or [], "list the items linked to a clip", _REREAD)
        if not linked:
            return None
        ids = [str(item.GetUniqueId())] + [str(other.GetUniqueId()) for other in linked]
        known = next((self._groups[uid] for uid in ids if uid in self._groups), None)
        number = known if known is not None else len(set(self._groups.values())) + 1
        for uid in ids:
            self._groups[uid] = number
        return number


def read_item(
    item: Any,
    kind: str,
    track: str,
    calls: Calls,
    rate: Fraction,
    media_cache: dict[str, MediaState] | None = None,
    link_group: Any = None,
) -> ItemState:
    """One timeline item as plain data.

    Args:
        item (`Any`): a Resolve `TimelineItem`.
        kind (`str`): its track's kind, `"video"` or `"audio"`.
        track (`str`): its track, for messages.
        calls (`Calls`), rate (`Fraction`): this Resolve's calls; the timeline's exact rate.
        media_cache (`dict | None`): media already read, by unique id.
        link_group (`Callable | None`): numbers the item's group of linked items.
    """
    name = str(item.GetName() or "")
    fix = f"check clip {name!r} on track {track}; {_REREAD}"
    common = {
        "name": name,
        "unique_id": str(item.GetUniqueId()),
        "start": require_int(item.GetStart(), f"report where {name!r} starts", fix),
        "duration": require_int(item.GetDuration(), f"report how long {name!r} is", fix),
        "enabled": item.GetClipEnabled() is not False,
    }
    pool_item = item.GetMediaPoolItem()
    if pool_item is None:
        # Transitions come as items without a media pool item and without properties; titles and solids have some.
        return ItemState(kind="generator" if calls.item_properties(item) else "transition", **common)
    media = read_media(pool_item, calls, media_cache)
    if media.is_nested:
        return ItemState(kind="clip", media=media, **common)
    if media.is_render and item.GetTakesCount():  # a render chosen in a take selector, not one on Keydub's track
        original, left_offset = _original_take(item, media, common["duration"], calls, media_cache, fix)
        return ItemState(kind="clip", left_offset=Fraction(left_offset), media=original, **common)
    left_offset, speed = _source_in_point(item, kind, media, common["duration"], rate, fix)
    return ItemState(
        kind="clip",
        left_offset=left_offset,
        speed=speed,
        media=media,
        link_group=link_group(item) if link_group is not None else None,
        **common,
    )


def _source_in_point(
    item: Any, kind: str, media: MediaState, duration: int, rate: Fraction, fix: str
) -> tuple[Fraction, Fraction]:
    """`(in-point in media frames, speed)` of a clip."""
    name = item.GetName()
    if kind == "audio":
        # An audio item's left offset counts timeline frames; its file counts its own (a WAV keeps the project
        # rate it was imported at).
        left = require_number(item.GetLeftOffset(True), f"report the source in-point of {name!r}", fix)
        timeline_frames = Fraction(left).limit_denominator(_SUBFRAME_DENOMINATOR)
        return timeline_frames * media.frame_rate / rate, Fraction(1)
    first = require_int(item.GetSourceStartFrame(), f"report the first source frame of {name!r}", fix)
    last = require_int(item.GetSourceEndFrame(), f"report the last source frame of {name!r}", fix)
    record_span = Fraction(duration) * media.frame_rate / rate
    if abs((last - first) - record_span) > _SPAN_SLACK:
        # The left offset of a retimed clip is in the warped domain; the source frames are the media's own.
        return Fraction(first), Fraction(last - first) / record_span if record_span else Fraction(0)
    return Fraction(require_int(item.GetLeftOffset(), f"report the source in-point of {name!r}", fix)), Fraction(1)


def _original_take(
    item: Any, render: MediaState, duration: int, calls: Calls, cache: dict[str, MediaState] | None, fix: str
) -> tuple[MediaState, int]:
    """The media and in-point of the clip a selected Keydub render replaces, as the render's metadata says."""
    name = item.GetName()
    original = render.original
    refuse = ResolveCallError(
        f"clip {name!r} on the timeline shows a Keydub render whose original cannot be told (its metadata "
        f"{SOURCE_PATH_KEY} or the original take is missing, or the clip was trimmed since); select the original "
        "take in its Take Selector, then read the timeline again"
    )
    if original is None or original.frames != duration:
        raise refuse
    count = require_int(item.GetTakesCount(), f"count the takes of {name!r}", fix)
    for index in range(1, count + 1):
        take = require(item.GetTakeByIndex(index), f"give take {index} of {name!r}", fix)
        pool_item = take.get("mediaPoolItem")
        if pool_item is None:
            continue
        media = read_media(pool_item, calls, cache)
        if not media.is_render and same_file(media.path, original.path):
            return media, original.left_offset
    raise refuse


def path_key(path: str) -> str:
    """A path as the OS compares it (case and separators), to tell whether two paths name the same file."""
    return os.path.normcase(os.path.abspath(path))


def same_file(first: str, second: str) -> bool:
    """Whether two paths Resolve or Keydub wrote name the same file."""
    return path_key(first) == path_key(second)

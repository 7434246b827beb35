"""A read-only picture of a Resolve timeline in plain dataclasses, read through the raw API with every answer checked.

Frame numbers are Resolve's: record positions are absolute timeline frames (`GetStart()`, 86400 for a clip at the
start of a 24 fps timeline beginning at 01:00:00:00), source in-points are frame offsets from the first frame of
the media file (`GetLeftOffset()`), and a media file's start timecode is an absolute frame number at its own rate.
Items whose selected take is a Keydub render are read as their original take, and Keydub's own tracks are marked,
so that reading a timeline after a write-back gives the same picture as before it.
"""

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from keydub.plugin.resolve.checks import as_list, require, require_int, require_str
from keydub.plugin.resolve.errors import ResolveCallError
from keydub.plugin.resolve.timecode import parse_frame_rate, timecode_to_frame


# Third-party metadata stamped on every render Keydub imports into the media pool.
JOB_ID_KEY = "keydub.job_id"
JOB_HASH_KEY = "keydub.job_hash"
# Names of the tracks Keydub adds: "Keydub <dub track> v<N>".
OUTPUT_TRACK_PATTERN = re.compile(r"^Keydub (?P<dub>.+) v(?P<version>\d+)$")
TRACK_KINDS = ("video", "audio")
# Media pool item types that hold a timeline rather than a file.
_NESTED_TYPES = frozenset({"Timeline", "Compound", "Multicam", "Fusion Composition"})
_REREAD = "read the timeline again after Resolve has finished loading it"


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
        is_render (`bool`): the item is a Keydub render (it carries Keydub's job id).
    """

    unique_id: str
    name: str
    path: str
    kind: str
    frame_rate: Fraction
    start_frame: int
    frames: int
    is_render: bool = False

    @property
    def is_nested(self) -> bool:
        return self.kind in _NESTED_TYPES


@dataclass(frozen=True)
class ItemState:
    """One item of a track.

    Args:
        name (`str`), unique_id (`str`): the item.
        kind (`str`): `"clip"`, `"transition"` (no media pool item, no properties) or `"generator"` (no media pool
            item: titles, solids).
        start (`int`), end (`int`): record frames, absolute; `end` exclusive.
        left_offset (`int`): source in-point, in frames from the media file's first frame.
        media (`MediaState | None`): the media of the clip (of its original take when a Keydub render is
            selected).
        enabled (`bool`): `GetClipEnabled()`.
        link_group (`int | None`): items linked together (picture and its sound) share a number.
    """

    name: str
    unique_id: str
    kind: str
    start: int
    end: int
    left_offset: int = 0
    media: MediaState | None = None
    enabled: bool = True
    link_group: int | None = None

    @property
    def duration(self) -> int:
        return self.end - self.start


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
    """A timeline: `name`, `unique_id`, `frame_rate` (exact), `start_frame` (absolute frame of its start
    timecode), `start_timecode`, and its `tracks` (video tracks first, then audio, each bottom first)."""

    name: str
    unique_id: str
    frame_rate: Fraction
    start_frame: int
    start_timecode: str
    tracks: tuple[TrackState, ...]


def timeline_frame_rate(timeline: Any, project: Any) -> Fraction:
    """The timeline's exact rate (its own setting, else the project's)."""
    text = timeline.GetSetting("timelineFrameRate") or project.GetSetting("timelineFrameRate")
    return parse_frame_rate(require_str(text, f"report the frame rate of timeline {timeline.GetName()!r}", _REREAD))


def read_timeline_state(timeline: Any, project: Any) -> TimelineState:
    """Read a timeline's tracks and items.

    Args:
        timeline (`Any`): a Resolve `Timeline`.
        project (`Any`): its `Project` (for the frame rate when the timeline has none of its own).

    Raises:
        `ResolveCallError`: an answer was a silent failure or does not make sense.
    """
    name = require_str(timeline.GetName(), "report the timeline's name", _REREAD)
    rate = timeline_frame_rate(timeline, project)
    start_frame = require_int(timeline.GetStartFrame(), f"report the start frame of {name!r}", _REREAD)
    start_timecode = require_str(timeline.GetStartTimecode(), f"report the start timecode of {name!r}", _REREAD)
    if timecode_to_frame(start_timecode, rate) != start_frame:
        raise ResolveCallError(
            f"timeline {name!r} starts at frame {start_frame} but at timecode {start_timecode}; {_REREAD}"
        )
    media_cache: dict[str, MediaState] = {}
    links = _LinkGroups()
    tracks = []
    for kind in TRACK_KINDS:
        count = require_int(timeline.GetTrackCount(kind), f"count the {kind} tracks of {name!r}", _REREAD)
        for index in range(1, count + 1):
            tracks.append(_read_track(timeline, kind, index, media_cache, links))
    return TimelineState(
        name=name,
        unique_id=str(timeline.GetUniqueId()),
        frame_rate=rate,
        start_frame=start_frame,
        start_timecode=start_timecode,
        tracks=tuple(tracks),
    )


def read_media(item: Any, cache: dict[str, MediaState] | None = None) -> MediaState:
    """A media pool item's file, rate, start timecode and length (cached by the item's unique id)."""
    unique_id = str(item.GetUniqueId())
    if cache is not None and unique_id in cache:
        return cache[unique_id]
    name = str(item.GetName())
    fix = f"check clip {name!r} in the media pool (is it online?)"
    kind = str(item.GetClipProperty("Type") or "")
    if kind in _NESTED_TYPES:
        media = MediaState(
            unique_id=unique_id, name=name, path="", kind=kind, frame_rate=Fraction(0), start_frame=0, frames=0
        )
    else:
        rate = parse_frame_rate(require_str(item.GetClipProperty("FPS"), f"report the frame rate of {name!r}", fix))
        start = timecode_to_frame(
            require_str(item.GetClipProperty("Start TC"), f"report the start timecode of {name!r}", fix), rate
        )
        frames = int(require_str(str(item.GetClipProperty("Frames") or ""), f"report the length of {name!r}", fix))
        media = MediaState(
            unique_id=unique_id,
            name=name,
            path=require_str(item.GetClipProperty("File Path"), f"report the file of {name!r}", fix),
            kind=kind,
            frame_rate=rate,
            start_frame=start,
            frames=frames,
            is_render=bool(item.GetThirdPartyMetadata(JOB_ID_KEY)),
        )
    if cache is not None:
        cache[unique_id] = media
    return media


class _LinkGroups:
    """Numbers the groups of linked items (a picture and its sound) in the order they are met."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def number(self, item: Any) -> int | None:
        linked = as_list(item.GetLinkedItems() or [], "list the items linked to a clip", _REREAD)
        if not linked:
            return None
        ids = [str(item.GetUniqueId())] + [str(other.GetUniqueId()) for other in linked]
        known = next((self._numbers[uid] for uid in ids if uid in self._numbers), None)
        number = known if known is not None else len(set(self._numbers.values())) + 1
        for uid in ids:
            self._numbers[uid] = number
        return number


def _read_track(
    timeline: Any, kind: str, index: int, media_cache: dict[str, MediaState], links: _LinkGroups
) -> TrackState:
    what = f"{kind} track {index} of {timeline.GetName()!r}"
    name = require_str(timeline.GetTrackName(kind, index), f"name {what}", _REREAD)
    raw_items = as_list(timeline.GetItemListInTrack(kind, index), f"list the items of {what}", _REREAD)
    items = sorted(
        (read_item(item, f"{name!r}", media_cache, links) for item in raw_items),
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


def read_item(
    item: Any, track: str, media_cache: dict[str, MediaState], links: "_LinkGroups | None" = None
) -> ItemState:
    """One timeline item as plain data (`track` names its track in messages)."""
    name = str(item.GetName() or "")
    fix = f"check clip {name!r} on track {track}; {_REREAD}"
    start = require_int(item.GetStart(), f"report where {name!r} starts", fix)
    end = require_int(item.GetEnd(), f"report where {name!r} ends", fix)
    common = {"name": name, "unique_id": str(item.GetUniqueId()), "start": start, "end": end}
    pool_item = item.GetMediaPoolItem()
    if pool_item is None:
        # Transitions come as items without a media pool item and without properties; titles and solids have some.
        kind = "generator" if item.GetProperty() else "transition"
        return ItemState(kind=kind, enabled=item.GetClipEnabled() is not False, **common)
    left_offset = require_int(item.GetLeftOffset(), f"report the source in-point of {name!r}", fix)
    media = read_media(pool_item, media_cache)
    if media.is_render and item.GetTakesCount():  # a render chosen in a take selector, not one on Keydub's track
        pool_item, left_offset = _original_take(item, name, fix)
        media = read_media(pool_item, media_cache)
    return ItemState(
        kind="clip",
        left_offset=left_offset,
        media=media,
        enabled=item.GetClipEnabled() is not False,
        link_group=links.number(item) if links is not None else None,
        **common,
    )


def _original_take(item: Any, name: str, fix: str) -> tuple[Any, int]:
    """The first take of `item` that is not a Keydub render: `(media pool item, source in-point)`."""
    count = require_int(item.GetTakesCount(), f"count the takes of {name!r}", fix)
    for index in range(1, count + 1):
        take = require(item.GetTakeByIndex(index), f"give take {index} of {name!r}", fix)
        pool_item = require(take.get("mediaPoolItem"), f"give the media of take {index} of {name!r}", fix)
        if not pool_item.GetThirdPartyMetadata(JOB_ID_KEY):
            return pool_item, require_int(take.get("startFrame"), f"give the in-point of take {index}", fix)
    raise ResolveCallError(
        f"clip {name!r} on the timeline shows a Keydub render and has no original take; put the "
        "original media back in Resolve (Take Selector) before rendering it again"
    )

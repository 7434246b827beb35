"""A stateful fake of the part of DaVinci Resolve's scripting API that Keydub uses, per Resolve version, with the
behaviour real Resolve is documented or measured to have.

It stands where Resolve's `fusionscript` library stands: `$RESOLVE_SCRIPT_LIB` names this file, and
`Modules/DaVinciResolveScript.py` (beside it, under `$RESOLVE_SCRIPT_API`) loads it as Resolve's module loads the
real library. It imports only the standard library (PyAV and OpenTimelineIO where a call needs them), so it also
loads under a bare Python as Resolve's scripts do.

Sources, tagged as in `shared/reference/resolve-measured.md`: [BM] Blackmagic's scripting README (24 Jul 2026) and
[BMDDOC] its versioned copy (WheheoHu/bmd_doc: "New in 19.0.2", "Deprecated Calling Conventions, New in 21.1.0");
[PYBMD] pybmd's changelog of API changes per version; [MCP] davinci-resolve-mcp, measured live on Studio 19.1.3.7,
20.3.2 and 21.0.x ([LIM] its api-limitations.md); [NAK] nakano000/Resolve_Script; [DUMP] real
`GetClipProperty()` dumps. What each version does:

- indices are 1-based; record frames are absolute timeline frames (a 24 fps timeline starting at 01:00:00:00
  starts at frame 86400); timeline markers count from the timeline start, item markers from the clip start,
  keyed by float frames ({96.0: {...}}) [BM];
- every failure is silent: `False`, `None` or `[]`, never an exception; unknown methods exist and return `None`,
  so `hasattr` is true for anything [LIM];
- the objects scripts get are new wrappers on every call, never the same Python object twice (`_Remote`), as
  real Resolve's are;
- a clip's `FPS` is a number (`24.0`, `23.976`, `29.97`) [DUMP]; a timeline's `timelineFrameRate` a string, drop
  frame a separate setting `timelineDropFrameTimecode` ("1"/"0") and a clip's `Drop frame` property [BM];
- `GetLeftOffset` of an audio item counts timeline frames, not the media's; of a retimed clip, the warped domain
  (position / speed); `GetSourceStartFrame/EndFrame` (19.0.2+) count the media's own frames [LIM];
- a WAV takes the project's frame rate at import and keeps it [LIM];
- `AppendToTimeline` acts on the *current* timeline only, takes source frames, drops a placement that overlaps an
  item already on the track and places nothing on a track that does not exist; its `endFrame` is inclusive on
  19.1.x (so `endFrame == Frames` places nothing on 19.1.3) and exclusive otherwise [MCP] PR #80, headless-edit-loop
  (19.1.3.7), [NAK]; on 19.1.x such a positioned append reports an inclusive `GetEnd()` ([MCP] server.py: "the
  timeline end position can be inclusive for clips created via positioned append", hence `GetDuration()`);
- third-party metadata and `GetSourceStart/EndFrame/Time` exist from 19.0.2, `GetTrackSubType` from 19.0.1,
  `GetLinkedItems` from 19.0 [PYBMD], [BMDDOC]; before that the names answer `None` like any unknown method;
- 21.1 adds the dict calling conventions (`GetSettings`, `SetSettings`, `GetProperties`,
  `SetThirdPartyMetadata({k: v})`) and keeps the deprecated forms working [BMDDOC];
- `ImportMedia` imports into the *current* folder and returns `[]` for a file already in the pool;
- `CreateEmptyTimeline` / `DuplicateTimeline` return `None` for a name already used;
- `SetClipColor` accepts only the 16 clip colours; markers only the 16 marker colours, one marker per frame;
- `AddTake` makes the original take 1; `SelectTakeByIndex` swaps the item's source in place ([MCP]
  tests/live_workaround_verification.py); the selected take cannot be deleted;
- `SaveProject` answers `False` for an "Untitled Project" [LIM];
- `Timeline.Export(path, EXPORT_OTIO, EXPORT_NONE)` writes Resolve's OTIO dialect (nle-integration §2.4).

Media properties are read from the files with PyAV, as Resolve reads them. Set-up helpers that are not Resolve API
(placing a transition, retiming a clip, the connection state) start with `fake_`.
"""

import itertools
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any


CLIP_COLOURS = (
    "Orange",
    "Apricot",
    "Yellow",
    "Lime",
    "Olive",
    "Green",
    "Teal",
    "Navy",
    "Blue",
    "Purple",
    "Violet",
    "Pink",
    "Tan",
    "Beige",
    "Brown",
    "Chocolate",
)
MARKER_COLOURS = (
    "Blue",
    "Cyan",
    "Green",
    "Yellow",
    "Red",
    "Pink",
    "Purple",
    "Fuchsia",
    "Rose",
    "Lavender",
    "Sky",
    "Mint",
    "Lemon",
    "Sand",
    "Cocoa",
    "Cream",
)


@dataclass(frozen=True)
class Profile:
    """What one Resolve version answers (see the module docstring for the sources).

    `inclusive_end` and `refuses_end_at_frames` override what the version is measured to do, for the answers
    nobody has measured (resolve-measured.md §5): an end convention other than expected, or an exclusive
    `endFrame == Frames` refused.
    """

    name: str
    version: tuple
    inclusive_end: bool | None = None
    refuses_end_at_frames: bool = False

    def since(self, *version: int) -> bool:
        return tuple(self.version[: len(version)]) >= version

    @property
    def end_frame_is_inclusive(self) -> bool:
        return tuple(self.version[:2]) == (19, 1) if self.inclusive_end is None else self.inclusive_end

    def lacks(self, method: str) -> bool:
        """Whether `method` is missing from this version (it then answers `None`, as any unknown name does)."""
        return any(method in names and not self.since(*version) for version, names in _NEW_METHODS)


_NEW_METHODS = (
    ((19, 0), {"GetLinkedItems"}),
    ((19, 0, 1), {"GetTrackSubType"}),
    (
        (19, 0, 2),
        {
            "GetThirdPartyMetadata",
            "SetThirdPartyMetadata",
            "GetSourceStartFrame",
            "GetSourceEndFrame",
            "GetSourceStartTime",
            "GetSourceEndTime",
        },
    ),
    ((21, 1), {"GetSettings", "SetSettings", "GetProperties", "SetProperties", "GetSpeed", "GetType"}),
)
PROFILES = {
    profile.name: profile
    for profile in (
        Profile("19.0.1", (19, 0, 1, 6, "")),
        Profile("19.1.3", (19, 1, 3, 7, "")),
        Profile("20.3", (20, 3, 2, 9, "")),
        Profile("21.1", (21, 1, 1, 2, "")),
    )
}
DEFAULT_PROFILE = PROFILES["20.3"]
_ids = itertools.count(1)

# The connection: "running" answers scriptapp("Resolve"); "not_running", "external_off" and "free" answer None
# (from outside, the last two cannot be told apart: Resolve just refuses).
STATE: dict[str, Any] = {"mode": "running", "resolve": None}


def scriptapp(name: str) -> "Any | None":
    if name != "Resolve" or STATE["mode"] != "running" or STATE["resolve"] is None:
        return None
    return fake_remote(STATE["resolve"])


def fake_install(resolve: "Resolve | None", mode: str = "running") -> None:
    """Make `resolve` the running Resolve (test set-up)."""
    STATE["resolve"] = resolve
    STATE["mode"] = mode


def fake_remote(value: Any) -> Any:
    """`value` as a script sees it: fake objects in new wrappers (test set-up for in-app globals)."""
    if isinstance(value, _Object):
        profile = value.profile() if callable(getattr(type(value), "profile", None)) else DEFAULT_PROFILE
        return _wrap(value, profile)
    return value


def _new_id() -> str:
    return f"fake-{next(_ids):06d}"


# Time -------------------------------------------------------------------------------------------------------
def fps_value(rate: Fraction) -> float:
    """A rate as Resolve's `FPS` clip property answers it: 24.0, 23.976, 29.97, 59.94."""
    return round(float(rate), 3)


def rate_name(rate: Fraction) -> str:
    """A rate as Resolve's `timelineFrameRate` setting answers it: "24", "23.976", "29.97"."""
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def _drops(rate: Fraction, drop_frame: bool) -> int:
    return 2 * round(rate) // 30 if drop_frame and rate.denominator == 1001 and round(rate) in (30, 60) else 0


def frame_to_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    base, dropped = round(rate), _drops(rate, drop_frame)
    if dropped:
        per_ten = 600 * base - 9 * dropped
        tens, rest = divmod(frame, per_ten)
        frame += 9 * dropped * tens + (dropped * ((rest - dropped) // (60 * base - dropped)) if rest > dropped else 0)
    seconds, frames = divmod(frame, base)
    separator = ";" if dropped else ":"
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{frames:02d}"


def timecode_to_frame(timecode: str, rate: Fraction, drop_frame: bool = False) -> int:
    hours, minutes, seconds, frames = (int(part) for part in timecode.replace(";", ":").split(":"))
    total_minutes = hours * 60 + minutes
    dropped = _drops(rate, drop_frame)
    return (total_minutes * 60 + seconds) * round(rate) + frames - dropped * (total_minutes - total_minutes // 10)


# What scripts hold ------------------------------------------------------------------------------------------
def _wrap(value: Any, profile: Profile) -> Any:
    if isinstance(value, _Object):
        return _Remote(value, profile)
    if isinstance(value, list):
        return [_wrap(item, profile) for item in value]
    if isinstance(value, dict):
        return {key: _wrap(item, profile) for key, item in value.items()}
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Remote):
        return object.__getattribute__(value, "_target")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


class _Remote:
    """A script's handle on a Resolve object: a new one on every answer, so two handles on the same timeline are
    never `is`- or `==`-equal (compare `GetUniqueId()`), and the version's missing methods answer `None`."""

    __slots__ = ("_target", "_profile")

    def __init__(self, target: Any, profile: Profile) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_profile", profile)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        profile = object.__getattribute__(self, "_profile")
        if profile.lacks(name):
            return lambda *args, **kwargs: None
        attribute = getattr(object.__getattribute__(self, "_target"), name)
        if not callable(attribute):
            return _wrap(attribute, profile)
        return lambda *args, **kwargs: _wrap(attribute(*_unwrap(args), **_unwrap(kwargs)), profile)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Resolve's objects take no attributes")


class _Object:
    """Resolve's objects answer any method name; an unknown one does nothing and returns None."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


class _Markers:
    """Markers keyed by float frames (as Resolve answers them), one per frame, 16 colours."""

    def __init__(self) -> None:
        self.markers: dict[float, dict[str, Any]] = {}

    def add(self, frame: Any, colour: Any, name: Any, note: Any, duration: Any, custom: Any, length: int) -> bool:
        if isinstance(frame, bool) or not isinstance(frame, (int, float)) or frame != int(frame):
            return False
        if not 0 <= frame < max(length, 1) or float(frame) in self.markers:
            return False
        if colour not in MARKER_COLOURS or not isinstance(duration, int) or duration < 1:
            return False
        self.markers[float(frame)] = {
            "color": colour,
            "duration": float(duration),
            "note": str(note),
            "name": str(name),
            "customData": str(custom or ""),
        }
        return True

    def by_custom_data(self, custom: str) -> dict[float, dict[str, Any]]:
        for frame, marker in sorted(self.markers.items()):
            if marker["customData"] == custom:
                return {frame: dict(marker)}
        return {}

    def delete_by_custom_data(self, custom: str) -> bool:
        for frame, marker in sorted(self.markers.items()):
            if marker["customData"] == custom:
                del self.markers[frame]
                return True
        return False


class _Clip(_Object):
    """What media pool items and timeline items share: a clip colour (16 names only) and markers."""

    colour = ""

    def marker_span(self) -> int:
        raise NotImplementedError

    def SetClipColor(self, colour: str) -> bool:
        if colour not in CLIP_COLOURS:
            return False
        self.colour = colour
        return True

    def GetClipColor(self) -> str:
        return self.colour

    def AddMarker(self, frame: int, colour: str, name: str, note: str, duration: int, custom: str = "") -> bool:
        return self.marker_list.add(frame, colour, name, note, duration, custom, self.marker_span())

    def GetMarkers(self) -> dict:
        return {frame: dict(marker) for frame, marker in self.marker_list.markers.items()}

    def GetMarkerByCustomData(self, custom: str) -> dict:
        return self.marker_list.by_custom_data(custom)

    def DeleteMarkerByCustomData(self, custom: str) -> bool:
        return self.marker_list.delete_by_custom_data(custom)


# The media pool ---------------------------------------------------------------------------------------------
class MediaPoolItem(_Clip):
    def __init__(self, path: Path, properties: dict[str, Any], project: "Project | None" = None) -> None:
        self._id = _new_id()
        self.path = path
        self.project = project
        self.properties = {"File Path": str(path), "Clip Name": path.name, **properties}
        self.third_party: dict[str, str] = {}
        self.colour = ""
        self.marker_list = _Markers()

    def profile(self) -> Profile:
        return self.project.profile() if self.project is not None else DEFAULT_PROFILE

    def GetName(self) -> str:
        return self.properties["Clip Name"]

    def GetUniqueId(self) -> str:
        return self._id

    def GetMediaId(self) -> str:
        return f"media-{self._id}"

    def GetClipProperty(self, key: str | None = None) -> Any:
        return dict(self.properties) if key is None else self.properties.get(key, "")

    def GetThirdPartyMetadata(self, key: str | None = None) -> Any:
        return dict(self.third_party) if key is None else self.third_party.get(key, "")

    def SetThirdPartyMetadata(self, key: Any, value: Any = None) -> bool:
        if isinstance(key, dict) and value is None:
            # The dict form is documented from 21.1 only ("Deprecated Calling Conventions").
            if not self.profile().since(21, 1):
                return False
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in key.items()):
                return False
            self.third_party.update(key)
            return True
        if not isinstance(key, str) or not isinstance(value, str):
            return False
        self.third_party[key] = value
        return True

    def marker_span(self) -> int:
        return self.frame_count()

    def frame_count(self) -> int:
        return int(self.properties["Frames"])


def exact_rate(fps: Any) -> Fraction:
    """The exact rate a fake `FPS` value stands for (the fake's own bookkeeping, not Keydub's parser)."""
    value = Fraction(str(fps))
    ntsc = Fraction(round(value * Fraction(1001, 1000)) * 1000, 1001)
    return ntsc if abs(ntsc - value) < Fraction(1, 100) and value.denominator != 1 else Fraction(round(value))


def media_properties(path: Path, project_rate: Fraction) -> dict[str, Any] | None:
    """What Resolve shows for a file (None when it cannot read it)."""
    if not path.is_file():
        return None
    if path.suffix.lower() == ".wav":
        with wave.open(str(path), "rb") as stream:
            seconds = Fraction(stream.getnframes(), stream.getframerate())
        frames = int(seconds * project_rate)
        return {
            "Type": "Audio",
            "FPS": fps_value(project_rate),  # the project's rate at import, kept ever after [LIM]
            "Start TC": "00:00:00:00",
            "End TC": frame_to_timecode(frames, project_rate),
            "Frames": str(frames),
            "Drop frame": "0",
            "Audio Ch": "1",
        }
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        frames = stream.frames or sum(1 for _ in container.decode(stream))
        tags = {key.lower(): value for key, value in [*container.metadata.items(), *stream.metadata.items()]}
        timecode = tags.get("timecode") or "00:00:00:00"  # QuickTime's tmcd track, Matroska's TIMECODE tag
        kind = "Video + Audio" if container.streams.audio else "Video"
        resolution = f"{stream.codec_context.width}x{stream.codec_context.height}"
    drop_frame = ";" in timecode and _drops(rate, True) > 0
    start = timecode_to_frame(timecode, rate, drop_frame)
    return {
        "Type": kind,
        "FPS": fps_value(rate),
        "Start TC": frame_to_timecode(start, rate, drop_frame),
        "End TC": frame_to_timecode(start + frames, rate, drop_frame),
        "Frames": str(frames),
        "Drop frame": "1" if drop_frame else "0",
        "Resolution": resolution,
    }


class Folder(_Object):
    def __init__(self, name: str) -> None:
        self._id = _new_id()
        self.name = name
        self.clips: list[MediaPoolItem] = []
        self.subfolders: list[Folder] = []

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self._id

    def GetClipList(self) -> list[MediaPoolItem]:
        return list(self.clips)

    def GetSubFolderList(self) -> list["Folder"]:
        return list(self.subfolders)

    def every_clip(self) -> list[MediaPoolItem]:
        return self.clips + [clip for sub in self.subfolders for clip in sub.every_clip()]


# Timelines --------------------------------------------------------------------------------------------------
class TimelineItem(_Clip):
    """A timeline item. Its source in-point `left_offset` counts the media's own frames (a `Fraction` for an
    audio item whose media rate is not the timeline's); `speed` is its retime (1 for none)."""

    def __init__(
        self,
        timeline: "Timeline",
        kind: str,
        index: int,
        start: int,
        end: int,
        pool_item: MediaPoolItem | None = None,
        left_offset: int | Fraction = 0,
        name: str | None = None,
    ) -> None:
        self._id = _new_id()
        self.timeline = timeline
        self.track = (kind, index)
        self.start = start
        self.end = end
        self.takes: list[dict[str, Any]] = []
        self.selected_take = 0
        self.pool_item = pool_item
        self.left_offset = left_offset
        self.speed = Fraction(1)
        self.end_is_inclusive = False
        self.name = name if name is not None else (pool_item.GetName() if pool_item else "Cross Dissolve")
        self.enabled = True
        self.colour = ""
        self.linked: list[TimelineItem] = []
        self.marker_list = _Markers()
        self.properties = {} if pool_item is None and name is None else {"Pan": 0.0, "ZoomX": 1.0}

    def profile(self) -> Profile:
        return self.timeline.profile()

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self._id

    def GetStart(self, subframe_precision: bool = False) -> int:
        return self.start

    def GetEnd(self, subframe_precision: bool = False) -> int:
        return self.end - 1 if self.end_is_inclusive else self.end

    def GetDuration(self, subframe_precision: bool = False) -> int:
        return self.end - self.start

    def _media_rate(self) -> Fraction:
        return exact_rate(self.pool_item.properties["FPS"])

    def GetLeftOffset(self, subframe_precision: bool = False) -> int | float | None:
        if self.pool_item is None:
            return None
        if self.track[0] == "audio":  # counts the timeline's frames [LIM]
            frames = Fraction(self.left_offset) / self._media_rate() * self.timeline.rate
        else:  # a retimed clip reports the warped domain, position / speed [LIM]
            frames = Fraction(self.left_offset) / self.speed
        return float(frames) if subframe_precision else int(frames)

    def GetRightOffset(self, subframe_precision: bool = False) -> int | None:
        # Measured on Studio: the source out position (left offset + duration), not the remaining frames.
        return self.GetLeftOffset() + self.end - self.start if self.pool_item is not None else None

    def _source_span(self) -> Fraction:
        return Fraction(self.end - self.start) / self.timeline.rate * self._media_rate() * self.speed

    def GetSourceStartFrame(self) -> int | None:
        return int(self.left_offset) if self.pool_item is not None else None

    def GetSourceEndFrame(self) -> int | None:
        return int(self.left_offset + self._source_span()) if self.pool_item is not None else None

    def GetSourceStartTime(self) -> float | None:
        # Seconds in the media's timecode space: its start timecode included [M].
        if self.pool_item is None:
            return None
        rate, properties = self._media_rate(), self.pool_item.properties
        start = timecode_to_frame(properties["Start TC"], rate, properties["Drop frame"] == "1")
        return float((start + Fraction(self.left_offset)) / rate)

    def GetMediaPoolItem(self) -> MediaPoolItem | None:
        return self.pool_item

    def GetProperty(self, key: str | None = None) -> Any:
        return dict(self.properties) if key is None else self.properties.get(key)

    def GetProperties(self) -> dict:
        return dict(self.properties)

    def GetTrackTypeAndIndex(self) -> list:
        return list(self.track)

    def GetLinkedItems(self) -> list["TimelineItem"]:
        return list(self.linked)

    def GetClipEnabled(self) -> bool:
        return self.enabled

    def SetClipEnabled(self, enabled: bool) -> bool:
        self.enabled = bool(enabled)
        return True

    def marker_span(self) -> int:
        return self.end - self.start

    # Takes: take 1 is the original; the selected take is what the item shows.
    def AddTake(self, pool_item: Any, start_frame: Any = None, end_frame: Any = None) -> bool:
        if self.pool_item is None or not isinstance(pool_item, MediaPoolItem):
            return False
        if self.timeline.locked(*self.track):
            return False
        if not self.takes:
            self.takes.append(
                {
                    "startFrame": int(self.left_offset),
                    "endFrame": int(self.left_offset) + self.GetDuration(),
                    "mediaPoolItem": self.pool_item,
                }
            )
            self.selected_take = 1
        start = 0 if start_frame is None else start_frame
        end = start + self.GetDuration() if end_frame is None else end_frame
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= pool_item.frame_count()):
            return False
        self.takes.append({"startFrame": start, "endFrame": end, "mediaPoolItem": pool_item})
        return True

    def GetTakesCount(self) -> int:
        return len(self.takes)

    def GetSelectedTakeIndex(self) -> int:
        return self.selected_take

    def GetTakeByIndex(self, index: int) -> dict | None:
        if not isinstance(index, int) or not 1 <= index <= len(self.takes):
            return None
        return dict(self.takes[index - 1])

    def SelectTakeByIndex(self, index: int) -> bool:
        if not isinstance(index, int) or not 1 <= index <= len(self.takes):
            return False
        self.selected_take = index
        take = self.takes[index - 1]
        self.pool_item, self.left_offset = take["mediaPoolItem"], take["startFrame"]
        return True

    def DeleteTakeByIndex(self, index: int) -> bool:
        if not isinstance(index, int) or not 1 <= index <= len(self.takes) or index == self.selected_take:
            return False
        del self.takes[index - 1]
        self.selected_take -= self.selected_take > index
        return True

    def FinalizeTake(self) -> bool:
        if not self.takes:
            return False
        self.takes, self.selected_take = [], 0
        return True

    def copy_to(self, timeline: "Timeline") -> "TimelineItem":
        copy = TimelineItem(
            timeline, self.track[0], self.track[1], self.start, self.end, self.pool_item, self.left_offset, self.name
        )
        copy.enabled, copy.colour, copy.properties = self.enabled, self.colour, dict(self.properties)
        copy.speed, copy.end_is_inclusive = self.speed, self.end_is_inclusive
        copy.takes, copy.selected_take = [dict(take) for take in self.takes], self.selected_take
        copy.marker_list.markers = {frame: dict(marker) for frame, marker in self.marker_list.markers.items()}
        return copy


class _Track:
    def __init__(self, name: str, sub_type: str = "") -> None:
        self.name = name
        self.sub_type = sub_type
        self.enabled = True
        self.locked = False
        self.items: list[TimelineItem] = []


class Timeline(_Object):
    def __init__(
        self,
        project: "Project",
        name: str,
        rate: Fraction,
        start_timecode: str = "01:00:00:00",
        drop_frame: bool = False,
    ) -> None:
        self._id = _new_id()
        self.project = project
        self.name = name
        self.rate = rate
        self.drop_frame = drop_frame
        self.start_frame = timecode_to_frame(start_timecode, rate, drop_frame)
        self.tracks: dict[str, list[_Track]] = {
            "video": [_Track("Video 1")],
            "audio": [_Track("Audio 1", "stereo")],
            "subtitle": [],
        }
        self.marker_list = _Markers()

    def profile(self) -> Profile:
        return self.project.profile()

    def locked(self, kind: str, index: int) -> bool:
        return self.tracks[kind][index - 1].locked

    def _track(self, kind: Any, index: Any) -> _Track | None:
        tracks = self.tracks.get(kind) if isinstance(kind, str) else None
        if tracks is None or not isinstance(index, int) or not 1 <= index <= len(tracks):
            return None
        return tracks[index - 1]

    def is_empty(self) -> bool:
        return not any(track.items for tracks in self.tracks.values() for track in tracks)

    def GetName(self) -> str:
        return self.name

    def SetName(self, name: str) -> bool:
        if any(other.name == name for other in self.project.timelines if other is not self):
            return False
        self.name = name
        return True

    def GetUniqueId(self) -> str:
        return self._id

    def GetStartFrame(self) -> int:
        return self.start_frame

    def GetEndFrame(self) -> int:
        ends = [item.end for tracks in self.tracks.values() for track in tracks for item in track.items]
        return max(ends, default=self.start_frame)

    def GetStartTimecode(self) -> str:
        return frame_to_timecode(self.start_frame, self.rate, self.drop_frame)

    def _settings(self) -> dict[str, str]:
        return {"timelineFrameRate": rate_name(self.rate), "timelineDropFrameTimecode": str(int(self.drop_frame))}

    def GetSetting(self, key: str | None = None) -> Any:
        settings = self._settings()
        return settings if key is None else settings.get(key, "")

    def GetSettings(self) -> dict:
        return self._settings()

    def SetSetting(self, key: str, value: str) -> bool:
        """The rate and drop frame of an empty timeline (Resolve refuses once it holds clips)."""
        if not self.is_empty():
            return False
        if key == "timelineFrameRate":
            self.rate = exact_rate(str(value).replace("DF", "").strip())
            return True
        if key == "timelineDropFrameTimecode" and value in ("0", "1"):
            self.drop_frame = value == "1"
            return True
        return False

    def GetTrackCount(self, kind: str) -> int:
        return len(self.tracks.get(kind, []))

    def AddTrack(self, kind: str, sub_type: Any = None) -> bool:
        if kind not in self.tracks:
            return False
        number = len(self.tracks[kind]) + 1
        prefix = {"video": "Video", "audio": "Audio", "subtitle": "Subtitle"}[kind]
        audio_type = sub_type.get("audioType", "mono") if isinstance(sub_type, dict) else (sub_type or "mono")
        self.tracks[kind].append(_Track(f"{prefix} {number}", audio_type if kind == "audio" else ""))
        return True

    def DeleteTrack(self, kind: str, index: int) -> bool:
        if self._track(kind, index) is None:
            return False
        del self.tracks[kind][index - 1]
        return True

    def DeleteClips(self, items: Any, ripple: bool = False) -> bool:
        if not isinstance(items, list) or not all(isinstance(item, TimelineItem) for item in items):
            return False
        for item in items:
            track = self._track(*item.track)
            if track is None or item not in track.items or track.locked:
                return False
        for item in items:
            self._track(*item.track).items.remove(item)
        return True

    def GetTrackName(self, kind: str, index: int) -> str | None:
        track = self._track(kind, index)
        return track.name if track else None

    def SetTrackName(self, kind: str, index: int, name: str) -> bool:
        track = self._track(kind, index)
        if track is None or not isinstance(name, str) or not name:
            return False
        track.name = name
        return True

    def GetTrackSubType(self, kind: str, index: int) -> str | None:
        track = self._track(kind, index)
        return track.sub_type if track else None

    def GetIsTrackEnabled(self, kind: str, index: int) -> bool | None:
        track = self._track(kind, index)
        return track.enabled if track else None

    def SetTrackEnable(self, kind: str, index: int, enabled: bool) -> bool:
        track = self._track(kind, index)
        if track is None:
            return False
        track.enabled = bool(enabled)
        return True

    def GetIsTrackLocked(self, kind: str, index: int) -> bool | None:
        track = self._track(kind, index)
        return track.locked if track else None

    def SetTrackLock(self, kind: str, index: int, locked: bool) -> bool:
        track = self._track(kind, index)
        if track is None:
            return False
        track.locked = bool(locked)
        return True

    def GetItemListInTrack(self, kind: str, index: int) -> list[TimelineItem] | None:
        track = self._track(kind, index)
        return None if track is None else sorted(track.items, key=lambda item: item.start)

    def GetCurrentVideoItem(self) -> TimelineItem | None:
        for track in reversed(self.tracks["video"]):
            for item in track.items:
                if item.start <= self.start_frame < item.end and item.pool_item is not None:
                    return item
        return None

    def AddMarker(self, frame: int, colour: str, name: str, note: str, duration: int, custom: str = "") -> bool:
        return self.marker_list.add(frame, colour, name, note, duration, custom, self.GetEndFrame() - self.start_frame)

    def GetMarkers(self) -> dict:
        return {frame: dict(marker) for frame, marker in self.marker_list.markers.items()}

    def GetMarkerByCustomData(self, custom: str) -> dict:
        return self.marker_list.by_custom_data(custom)

    def DuplicateTimeline(self, name: str | None = None) -> "Timeline | None":
        name = name or f"{self.name} copy"
        if any(other.name == name for other in self.project.timelines):
            return None
        copy = Timeline(self.project, name, self.rate, self.GetStartTimecode(), self.drop_frame)
        copy.tracks = {}
        for kind, tracks in self.tracks.items():
            copy.tracks[kind] = []
            for track in tracks:
                new = _Track(track.name, track.sub_type)
                new.enabled, new.locked = track.enabled, track.locked
                new.items = [item.copy_to(copy) for item in track.items]
                copy.tracks[kind].append(new)
        self.project.timelines.append(copy)
        return copy

    def Export(self, path: Any, export_type: Any, export_subtype: Any = None) -> bool:
        if export_type != Resolve.EXPORT_OTIO or not isinstance(path, str):
            return False
        try:
            _otio_writer().write_resolve_otio(self, Path(path))
        except OSError:
            return False
        return True

    # Test set-up (not Resolve API): Resolve's API cannot create transitions or retimes.
    def fake_add_transition(self, index: int, cut: int, before: int, after: int) -> TimelineItem:
        item = TimelineItem(self, "video", index, cut - before, cut + after)
        self.tracks["video"][index - 1].items.append(item)
        return item

    def fake_place(self, kind: str, index: int, info: dict[str, Any]) -> TimelineItem | None:
        """One clipInfo of `AppendToTimeline` (its rules: source frames, end inclusive on 19.1.x and exclusive
        otherwise, no overlap, the track must exist; an audio clip at another rate is as long as its seconds)."""
        track = self._track(kind, index)
        pool_item = info.get("mediaPoolItem")
        if track is None or track.locked or not isinstance(pool_item, MediaPoolItem):
            return None
        inclusive = self.profile().end_frame_is_inclusive
        frames = pool_item.frame_count()
        start = info.get("startFrame", 0)
        end = info.get("endFrame", frames - 1 if inclusive else frames)
        if not (isinstance(start, int) and isinstance(end, int)):
            return None
        last = end if inclusive else end - 1
        if not 0 <= start <= last < frames:
            return None
        if "endFrame" in info and end == frames and self.profile().refuses_end_at_frames:
            return None
        record = info.get("recordFrame")
        is_positioned = record is not None
        if record is None:
            record = max((item.end for item in track.items), default=self.start_frame)
        if not isinstance(record, int):
            return None
        seconds = Fraction(last + 1 - start) / exact_rate(pool_item.properties["FPS"])
        length = int(seconds * self.rate)  # source frames floored onto the timeline when the rates differ [LIM]
        new = TimelineItem(self, kind, index, record, record + length, pool_item, start)
        new.end_is_inclusive = inclusive and is_positioned
        if any(item.start < new.end and new.start < item.end for item in track.items if item.pool_item is not None):
            return None  # overlapping placements are dropped (the earlier one wins)
        track.items.append(new)
        return new


def fake_retime(item: TimelineItem, speed: Fraction) -> None:
    """Retime `item` to `speed` (2 plays twice as fast), keeping its record length and source in-point."""
    item.speed = Fraction(speed)


class MediaPool(_Object):
    def __init__(self, project: "Project") -> None:
        self.project = project
        self.root = Folder("Master")
        self.current = self.root

    def GetRootFolder(self) -> Folder:
        return self.root

    def GetCurrentFolder(self) -> Folder:
        return self.current

    def SetCurrentFolder(self, folder: Any) -> bool:
        if not isinstance(folder, Folder) or not self._contains(self.root, folder):
            return False
        self.current = folder
        return True

    def _contains(self, parent: Folder, folder: Folder) -> bool:
        return parent is folder or any(self._contains(sub, folder) for sub in parent.subfolders)

    def AddSubFolder(self, parent: Any, name: str) -> Folder | None:
        if not isinstance(parent, Folder) or not isinstance(name, str) or not name:
            return None
        folder = Folder(name)
        parent.subfolders.append(folder)
        return folder

    def ImportMedia(self, items: Any) -> list[MediaPoolItem]:
        if not isinstance(items, list):
            return []
        known = {clip.properties["File Path"] for clip in self.root.every_clip()}
        imported = []
        for entry in items:
            path = Path(entry if isinstance(entry, str) else entry.get("FilePath", ""))
            properties = media_properties(path, self.project.rate)
            if str(path) in known or properties is None:
                continue  # already in the pool, or unreadable: left out, silently
            item = MediaPoolItem(path, properties, self.project)
            self.current.clips.append(item)
            imported.append(item)
        return imported

    def AppendToTimeline(self, items: Any) -> list[TimelineItem]:
        timeline = self.project.current_timeline
        if timeline is None or not isinstance(items, list):
            return []
        placed = []
        for info in items:
            if isinstance(info, MediaPoolItem):
                info = {"mediaPoolItem": info}
            if not isinstance(info, dict):
                continue
            kinds = {1: ["video"], 2: ["audio"]}.get(info.get("mediaType"), ["video", "audio"])
            new = [timeline.fake_place(kind, info.get("trackIndex", 1), info) for kind in kinds]
            new = [item for item in new if item is not None]
            for item in new:
                item.linked = [other for other in new if other is not item]
            placed.extend(new)
        return placed

    def DeleteTimelines(self, timelines: Any) -> bool:
        if not isinstance(timelines, list) or not all(any(t is o for o in self.project.timelines) for t in timelines):
            return False
        for timeline in timelines:
            self.project.timelines.remove(timeline)
            if self.project.current_timeline is timeline:
                self.project.current_timeline = self.project.timelines[0] if self.project.timelines else None
        return True

    def CreateEmptyTimeline(self, name: str) -> Timeline | None:
        if not isinstance(name, str) or not name or any(other.name == name for other in self.project.timelines):
            return None
        timeline = Timeline(self.project, name, self.project.rate, drop_frame=self.project.drop_frame)
        self.project.timelines.append(timeline)
        self.project.current_timeline = timeline
        return timeline


class Project(_Object):
    def __init__(self, name: str, rate: Fraction, drop_frame: bool = False) -> None:
        self._id = _new_id()
        self.name = name
        self.rate = Fraction(rate)
        self.drop_frame = drop_frame
        self.resolve: Resolve | None = None
        self.media_pool = MediaPool(self)
        self.timelines: list[Timeline] = []
        self.current_timeline: Timeline | None = None
        self.saves = 0

    def profile(self) -> Profile:
        return self.resolve.profile_ if self.resolve is not None else DEFAULT_PROFILE

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self._id

    def GetMediaPool(self) -> MediaPool:
        return self.media_pool

    def GetTimelineCount(self) -> int:
        return len(self.timelines)

    def GetTimelineByIndex(self, index: int) -> Timeline | None:
        if not isinstance(index, int) or not 1 <= index <= len(self.timelines):
            return None
        return self.timelines[index - 1]

    def GetCurrentTimeline(self) -> Timeline | None:
        return self.current_timeline

    def SetCurrentTimeline(self, timeline: Any) -> bool:
        if not any(timeline is other for other in self.timelines):
            return False
        self.current_timeline = timeline
        return True

    def _settings(self) -> dict[str, str]:
        return {"timelineFrameRate": rate_name(self.rate), "timelineDropFrameTimecode": str(int(self.drop_frame))}

    def GetSetting(self, key: str | None = None) -> Any:
        settings = self._settings()
        return settings if key is None else settings.get(key, "")

    def GetSettings(self) -> dict:
        return self._settings()

    def SetSetting(self, key: str, value: str) -> bool:
        """The project's rate, while it has no timeline (media imported before keeps the rate it took)."""
        if self.timelines:
            return False
        if key == "timelineFrameRate":
            self.rate = exact_rate(str(value))
            return True
        if key == "timelineDropFrameTimecode" and value in ("0", "1"):
            self.drop_frame = value == "1"
            return True
        return False


class ProjectManager(_Object):
    def __init__(self, project: Project | None, database: dict | None) -> None:
        self.project = project
        self.database = database

    def GetCurrentProject(self) -> Project | None:
        return self.project

    def GetCurrentDatabase(self) -> dict | None:
        return dict(self.database) if self.database is not None else None

    def SaveProject(self) -> bool:
        if self.project is None or self.project.name == "Untitled Project":
            return False
        self.project.saves += 1
        return True


class Resolve(_Object):
    EXPORT_OTIO = 25
    EXPORT_AAF = 0
    EXPORT_EDL = 2
    EXPORT_FCP_7_XML = 3
    EXPORT_NONE = 0

    def __init__(
        self,
        project: Project | None,
        *,
        product: str = "DaVinci Resolve Studio",
        profile: str = DEFAULT_PROFILE.name,
        database: dict | None = None,
    ) -> None:
        self.product = product
        self.profile_ = PROFILES[profile]
        self.project_manager = ProjectManager(
            project, database if database is not None else {"DbType": "Disk", "DbName": "Local Database"}
        )
        if project is not None:
            project.resolve = self
        self.page = "edit"

    def profile(self) -> Profile:
        return self.profile_

    def GetProductName(self) -> str:
        return self.product

    def GetVersion(self) -> list:
        return list(self.profile_.version)

    def GetVersionString(self) -> str:
        return ".".join(str(part) for part in self.profile_.version if part != "")

    def GetProjectManager(self) -> ProjectManager:
        return self.project_manager

    def OpenPage(self, name: str) -> bool:
        if name not in ("media", "cut", "edit", "fusion", "color", "fairlight", "deliver"):
            return False
        self.page = name
        return True

    def GetCurrentPage(self) -> str:
        return self.page


def _otio_writer() -> Any:
    """`otio_export` beside this file (it needs OpenTimelineIO, so it is loaded only when a timeline is exported)."""
    import importlib.util

    path = Path(__file__).with_name("otio_export.py")
    spec = importlib.util.spec_from_file_location("fake_resolve_otio_export", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

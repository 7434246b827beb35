"""A stateful fake of the part of DaVinci Resolve's scripting API that Keydub uses, with its documented quirks.

It stands where Resolve's `fusionscript` library stands: `$RESOLVE_SCRIPT_LIB` names this file, and
`Modules/DaVinciResolveScript.py` (beside it, under `$RESOLVE_SCRIPT_API`) loads it as Resolve's module loads the
real library. Behaviour follows Blackmagic's scripting README and what was measured on Studio builds
(reference: nle-integration §1.4 and §6.3):

- indices are 1-based; record frames are absolute timeline frames (a 24 fps timeline starting at 01:00:00:00
  starts at frame 86400); timeline markers count from the timeline start, item markers from the clip start;
- every failure is silent: `False`, `None` or `[]`, never an exception; unknown methods exist and return `None`
  (`hasattr` is true for anything);
- `ImportMedia` imports into the *current* folder and returns `[]` for a file already in the pool;
- `AppendToTimeline` acts on the *current* timeline only, takes source frames end-exclusive, drops a placement
  that overlaps an item already on the track, and places nothing on a track that does not exist;
- `CreateEmptyTimeline` / `DuplicateTimeline` return `None` for a name already used;
- `SetClipColor` accepts only the 16 clip colours; markers only the 16 marker colours, one marker per frame;
- `AddTake` makes the original take 1; `SelectTakeByIndex` swaps the item's source in place;
- `SaveProject` answers `False` for an "Untitled Project".

Media properties are read from the files with PyAV, as Resolve reads them: `FPS` as Resolve writes rates
(`"23.976"`), `Start TC` from the timecode track, `Frames`; WAVs take the project's frame rate at import.

Set-up helpers that are not Resolve API (placing a transition, the connection state) start with `fake_`.
"""

import itertools
import wave
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
_RATE_NAMES = {
    Fraction(24000, 1001): "23.976",
    Fraction(30000, 1001): "29.97",
    Fraction(60000, 1001): "59.94",
    Fraction(48000, 1001): "47.952",
}
_ids = itertools.count(1)

# The connection: "running" answers scriptapp("Resolve"); "not_running", "external_off" and "free" answer None
# (from outside, the last two cannot be told apart: Resolve just refuses).
STATE: dict[str, Any] = {"mode": "running", "resolve": None}


def scriptapp(name: str) -> "Resolve | None":
    if name != "Resolve" or STATE["mode"] != "running":
        return None
    return STATE["resolve"]


def fake_install(resolve: "Resolve | None", mode: str = "running") -> None:
    """Make `resolve` the running Resolve (test set-up)."""
    STATE["resolve"] = resolve
    STATE["mode"] = mode


def _new_id() -> str:
    return f"fake-{next(_ids):06d}"


def rate_name(rate: Fraction) -> str:
    return _RATE_NAMES.get(rate, str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3f}")


def frame_to_timecode(frame: int, rate: Fraction) -> str:
    base = round(rate)
    frames, seconds = frame % base, frame // base
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frames:02d}"


def timecode_to_frame(timecode: str, rate: Fraction) -> int:
    hours, minutes, seconds, frames = (int(part) for part in timecode.replace(";", ":").split(":"))
    return ((hours * 60 + minutes) * 60 + seconds) * round(rate) + frames


class _Object:
    """Resolve's objects answer any method name; an unknown one does nothing and returns None."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


class _Markers:
    """Markers keyed by frame, one per frame, 16 colours."""

    def __init__(self) -> None:
        self.markers: dict[int, dict[str, Any]] = {}

    def add(self, frame: Any, colour: Any, name: Any, note: Any, duration: Any, custom: Any, length: int) -> bool:
        if not isinstance(frame, int) or not 0 <= frame < max(length, 1) or frame in self.markers:
            return False
        if colour not in MARKER_COLOURS or not isinstance(duration, int) or duration < 1:
            return False
        self.markers[frame] = {
            "color": colour,
            "duration": duration,
            "note": str(note),
            "name": str(name),
            "customData": str(custom or ""),
        }
        return True

    def by_custom_data(self, custom: str) -> dict[int, dict[str, Any]]:
        for frame, marker in sorted(self.markers.items()):
            if marker["customData"] == custom:
                return {frame: dict(marker)}
        return {}


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


class MediaPoolItem(_Clip):
    def __init__(self, path: Path, properties: dict[str, str]) -> None:
        self._id = _new_id()
        self.path = path
        self.properties = {"File Path": str(path), "Clip Name": path.name, **properties}
        self.third_party: dict[str, str] = {}
        self.colour = ""
        self.marker_list = _Markers()

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

    def SetThirdPartyMetadata(self, key: Any, value: Any) -> bool:
        if not isinstance(key, str) or not isinstance(value, str):
            return False
        self.third_party[key] = value
        return True

    def marker_span(self) -> int:
        return self.frame_count()

    def frame_count(self) -> int:
        return int(self.properties["Frames"])


def media_properties(path: Path, project_rate: Fraction) -> dict[str, str] | None:
    """What Resolve shows for a file (None when it cannot read it)."""
    if not path.is_file():
        return None
    if path.suffix.lower() == ".wav":
        with wave.open(str(path), "rb") as stream:
            seconds = Fraction(stream.getnframes(), stream.getframerate())
        frames = int(seconds * project_rate)
        return {
            "Type": "Audio",
            "FPS": rate_name(project_rate),
            "Start TC": "00:00:00:00",
            "End TC": frame_to_timecode(frames, project_rate),
            "Frames": str(frames),
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
    start = timecode_to_frame(timecode, rate)
    return {
        "Type": kind,
        "FPS": rate_name(rate),
        "Start TC": frame_to_timecode(start, rate),
        "End TC": frame_to_timecode(start + frames, rate),
        "Frames": str(frames),
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


class TimelineItem(_Clip):
    def __init__(
        self,
        timeline: "Timeline",
        kind: str,
        index: int,
        start: int,
        end: int,
        pool_item: MediaPoolItem | None = None,
        left_offset: int = 0,
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
        self.name = name if name is not None else (pool_item.GetName() if pool_item else "Cross Dissolve")
        self.enabled = True
        self.colour = ""
        self.linked: list[TimelineItem] = []
        self.marker_list = _Markers()
        self.properties = {} if pool_item is None and name is None else {"Pan": 0.0, "ZoomX": 1.0}

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self._id

    def GetStart(self, subframe_precision: bool = False) -> int:
        return self.start

    def GetEnd(self, subframe_precision: bool = False) -> int:
        return self.end

    def GetDuration(self, subframe_precision: bool = False) -> int:
        return self.end - self.start

    def GetLeftOffset(self, subframe_precision: bool = False) -> int | None:
        return self.left_offset if self.pool_item is not None else None

    def GetRightOffset(self, subframe_precision: bool = False) -> int | None:
        # Measured on Studio: the source out position (left offset + duration), not the remaining frames.
        return self.left_offset + self.end - self.start if self.pool_item is not None else None

    def GetMediaPoolItem(self) -> MediaPoolItem | None:
        return self.pool_item

    def GetProperty(self, key: str | None = None) -> Any:
        return dict(self.properties) if key is None else self.properties.get(key)

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

    def GetMarkerByCustomData(self, custom: str) -> dict:
        return self.marker_list.by_custom_data(custom)

    # Takes: take 1 is the original; the selected take is what the item shows.
    def AddTake(self, pool_item: Any, start_frame: Any = None, end_frame: Any = None) -> bool:
        if self.pool_item is None or not isinstance(pool_item, MediaPoolItem):
            return False
        if self.timeline.locked(*self.track):
            return False
        if not self.takes:
            self.takes.append(
                {
                    "startFrame": self.left_offset,
                    "endFrame": self.left_offset + self.GetDuration(),
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
    def __init__(self, project: "Project", name: str, rate: Fraction, start_timecode: str = "01:00:00:00") -> None:
        self._id = _new_id()
        self.project = project
        self.name = name
        self.rate = rate
        self.start_frame = timecode_to_frame(start_timecode, rate)
        self.tracks: dict[str, list[_Track]] = {
            "video": [_Track("Video 1")],
            "audio": [_Track("Audio 1", "stereo")],
            "subtitle": [],
        }
        self.marker_list = _Markers()

    def locked(self, kind: str, index: int) -> bool:
        return self.tracks[kind][index - 1].locked

    def _track(self, kind: Any, index: Any) -> _Track | None:
        tracks = self.tracks.get(kind) if isinstance(kind, str) else None
        if tracks is None or not isinstance(index, int) or not 1 <= index <= len(tracks):
            return None
        return tracks[index - 1]

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
        return frame_to_timecode(self.start_frame, self.rate)

    def GetSetting(self, key: str | None = None) -> Any:
        settings = {"timelineFrameRate": rate_name(self.rate)}
        return settings if key is None else settings.get(key, "")

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
        copy = Timeline(self.project, name, self.rate, self.GetStartTimecode())
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

    # Test set-up (not Resolve API): Resolve's API cannot create transitions.
    def fake_add_transition(self, index: int, cut: int, before: int, after: int) -> TimelineItem:
        item = TimelineItem(self, "video", index, cut - before, cut + after)
        self.tracks["video"][index - 1].items.append(item)
        return item

    def fake_place(self, kind: str, index: int, info: dict[str, Any]) -> TimelineItem | None:
        """One clipInfo of `AppendToTimeline` (its rules: end exclusive, no overlap, track must exist)."""
        track = self._track(kind, index)
        pool_item = info.get("mediaPoolItem")
        if track is None or track.locked or not isinstance(pool_item, MediaPoolItem):
            return None
        start = info.get("startFrame", 0)
        end = info.get("endFrame", pool_item.frame_count())
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= pool_item.frame_count()):
            return None
        record = info.get("recordFrame")
        if record is None:
            record = max((item.end for item in track.items), default=self.start_frame)
        if not isinstance(record, int):
            return None
        new = TimelineItem(self, kind, index, record, record + end - start, pool_item, start)
        if any(item.start < new.end and new.start < item.end for item in track.items if item.pool_item is not None):
            return None  # overlapping placements are dropped (the earlier one wins)
        track.items.append(new)
        return new


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
            item = MediaPoolItem(path, properties)
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

    def CreateEmptyTimeline(self, name: str) -> Timeline | None:
        if not isinstance(name, str) or not name or any(other.name == name for other in self.project.timelines):
            return None
        timeline = Timeline(self.project, name, self.project.rate)
        self.project.timelines.append(timeline)
        self.project.current_timeline = timeline
        return timeline


class Project(_Object):
    def __init__(self, name: str, rate: Fraction) -> None:
        self._id = _new_id()
        self.name = name
        self.rate = rate
        self.media_pool = MediaPool(self)
        self.timelines: list[Timeline] = []
        self.current_timeline: Timeline | None = None
        self.saves = 0

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
        if timeline not in self.timelines:
            return False
        self.current_timeline = timeline
        return True

    def GetSetting(self, key: str | None = None) -> Any:
        settings = {"timelineFrameRate": rate_name(self.rate)}
        return settings if key is None else settings.get(key, "")


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
        version: tuple = (20, 2, 1, 6, ""),
        database: dict | None = None,
    ) -> None:
        self.product = product
        self.version = list(version)
        self.project_manager = ProjectManager(
            project, database if database is not None else {"DbType": "Disk", "DbName": "Local Database"}
        )
        self.page = "edit"

    def GetProductName(self) -> str:
        return self.product

    def GetVersion(self) -> list:
        return list(self.version)

    def GetVersionString(self) -> str:
        return ".".join(str(part) for part in self.version if part != "")

    def GetProjectManager(self) -> ProjectManager:
        return self.project_manager

    def OpenPage(self, name: str) -> bool:
        if name not in ("media", "cut", "edit", "fusion", "color", "fairlight", "deliver"):
            return False
        self.page = name
        return True

    def GetCurrentPage(self) -> str:
        return self.page

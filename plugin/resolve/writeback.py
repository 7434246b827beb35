"""Putting renders back on a Resolve timeline without destroying anything, each write read back and verified, and
everything undone when a write fails.

1. Every picture clip is checked to be the one its render was made from, before anything is written.
2. Every render is imported on its own into the bin `Keydub/<timeline>/<dub track>` (an item already in the pool
   with the same file is reused; the pool is indexed once per apply) and stamped with Keydub's job and with the
   clip it replaces (third-party metadata: media path, in-point, length).
3. Then one strategy:
   - `track`: a new video track `Keydub <dub track> v<N>` with each render at its picture clip's record frame,
     the handles trimmed off (`AppendToTimeline` with the head handle as `startFrame`);
   - `takes`: `AddTake` on each original item, the original staying take 1 and the render selected;
   - `duplicate`: a copy of the timeline, `<timeline> [Keydub <dub track>]`, then `track` on the copy.
4. A marker on each processed clip: the job id as its (invisible) custom data, the QC figures in its note.

Where Resolve versions differ or nobody has measured the answer (resolve-measured.md §5), every write is read
back: a placement whose length is off by one is removed and placed again with the other `endFrame` convention, and
a take likewise. A failure at any step undoes what this apply added to the timeline (the new track, the takes,
the markers, the copy of the timeline), so the timeline is left as it was; renders imported into the bin stay
there and are reused by the next apply. Original items are never changed (no `ReplaceClip`, no trims), and a second
apply of the same renders adds nothing.
"""

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.plugin.qc_marker import MARKER_NAME, qc_colour, qc_note
from keydub.plugin.resolve.calls import Calls
from keydub.plugin.resolve.checks import as_list, require, require_int, require_str, require_true
from keydub.plugin.resolve.errors import ResolveCallError
from keydub.plugin.resolve.state import (
    JOB_HASH_KEY,
    JOB_ID_KEY,
    SOURCE_FRAMES_KEY,
    SOURCE_IN_KEY,
    SOURCE_PATH_KEY,
    ItemState,
    path_key,
    read_item,
    read_media,
    same_file,
    timeline_rate,
)


logger = logging.getLogger(__name__)

STRATEGIES = ("track", "takes", "duplicate")
BIN_ROOT = "Keydub"
_UNTITLED = "Untitled Project"
_FIX = "check that the timeline is not locked and Resolve is on the Edit page, then apply again"


@dataclass(frozen=True)
class Placement:
    """One render to put back, and the picture clip it replaces.

    Args:
        job_id (`str`), job_hash (`str`): the job (the id becomes the marker's custom data).
        dub (`str`): the dub track(s) it was rendered with, e.g. `"DX es-419"`.
        clip_name (`str`), picture_track (`str`): the picture clip and its track's name.
        record_frame (`int`): the clip's first record frame, absolute (the timeline's start timecode included).
        duration (`int`): frames on the timeline.
        head (`int`): handle frames at the start of the render (its frame `head` is the clip's first frame).
        render_path (`str`): the render (absolute).
        render_start (`int`): the render's start timecode as an absolute frame number at `frame_rate`.
        frame_rate (`Fraction`): the render's (and the source's) exact rate.
        source_path (`str`), source_start (`int`): the picture clip's media and its first source frame
            (timecode-absolute), to check the clip is still the one the render was made for.
        qc (`dict`): the render's QC figures.
    """

    job_id: str
    job_hash: str
    dub: str
    clip_name: str
    picture_track: str
    record_frame: int
    duration: int
    head: int
    render_path: str
    render_start: int
    frame_rate: Fraction
    source_path: str
    source_start: int
    qc: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "frame_rate": str(self.frame_rate)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Placement":
        return cls(**{**data, "frame_rate": Fraction(data["frame_rate"]), "qc": dict(data.get("qc") or {})})


@dataclass
class ApplyReport:
    """What `apply` did.

    Args:
        timeline (`str`): the timeline written to (the copy, for `duplicate`).
        strategy (`str`): `track`, `takes` or `duplicate`.
        bin (`str`): the media pool bin of the renders, e.g. `"Keydub/episode101/DX es-419"`.
        imported (`list[str]`), reused (`list[str]`): renders imported now, and those already in the pool.
        tracks (`list[str]`): the Keydub tracks holding the renders (new or already there).
        added_items (`int`): timeline items added; added_takes (`int`): takes added; added_markers (`int`).
        already_applied (`int`): renders that were on the timeline already.
        saved (`bool`): the project was saved.
        warnings (`list[str]`): what the user should know (e.g. an untitled project is not saved).
    """

    timeline: str
    strategy: str
    bin: str = ""
    imported: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    tracks: list[str] = field(default_factory=list)
    added_items: int = 0
    added_takes: int = 0
    added_markers: int = 0
    already_applied: int = 0
    saved: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def details(self) -> list[str]:
        """What was done, a line each, for a report window."""
        added = {"track": "clip(s) on the new track", "takes": "take(s)"}
        lines = [
            f"Renders: {len(self.imported)} imported into the bin {self.bin!r}, {len(self.reused)} already in the "
            "media pool",
            f"Added: {self.added_items or self.added_takes} {added.get(self.strategy, 'clip(s)')}, "
            f"{self.added_markers} QC marker(s); {self.already_applied} render(s) were there already",
        ]
        if self.tracks:
            lines.append(f"Track: {', '.join(self.tracks)}")
        lines.append("Project saved" if self.saved else "Project not saved")
        return lines + [f"Warning: {warning}" for warning in self.warnings]

    def summary(self) -> str:
        """One line for people."""
        where = f"track(s) {', '.join(map(repr, self.tracks))}" if self.tracks else "takes"
        return (
            f"Applied to {self.timeline!r} as {self.strategy} ({where}): {len(self.imported)} imported into bin "
            f"{self.bin!r}, {len(self.reused)} reused, {self.added_items} clips and {self.added_takes} takes and "
            f"{self.added_markers} markers added, {self.already_applied} already there"
            + ("" if self.saved else "; project not saved")
        )


class _Undo:
    """What an apply added, to take back in reverse order when a later step fails."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], bool]]] = []

    def push(self, what: str, step: Callable[[], bool]) -> None:
        self._steps.append((what, step))

    def run(self) -> list[str]:
        """Undo everything; what could not be undone, for the message."""
        left = []
        for what, step in reversed(self._steps):
            try:
                done = step()
            except ResolveCallError:
                done = False
            if not done:
                left.append(what)
        self._steps.clear()
        return left


def apply_placements(
    resolve: Any, project: Any, timeline: Any, placements: Sequence[Placement], strategy: str, calls: Calls
) -> ApplyReport:
    """Write `placements` back onto `timeline` with `strategy` (see the module docstring).

    Args:
        resolve (`Any`), project (`Any`), timeline (`Any`): the connected `Resolve`, its current `Project` and the
            `Timeline` the renders were made from.
        placements (`Sequence[Placement]`): the renders.
        strategy (`str`): `track`, `takes` or `duplicate`.
        calls (`Calls`): the version-dependent calls of this Resolve.

    Raises:
        `InvalidParameterError`: an unknown strategy, or renders of several dubs at once.
        `ResolveCallError`: a picture clip is no longer where it was rendered from (checked before any write), a
            call failed, or a write did not read back; what this apply added to the timeline was removed again.
    """
    if strategy not in STRATEGIES:
        raise InvalidParameterError(f"unknown write-back strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    dubs = sorted({placement.dub for placement in placements})
    if len(dubs) > 1:
        raise InvalidParameterError(
            f"the results hold renders of several dubs ({', '.join(dubs)}); apply one dub at a time"
        )
    name = require_str(timeline.GetName(), "report the timeline's name", _FIX)
    report = ApplyReport(timeline=name, strategy=strategy)
    if not placements:
        return report
    writer = _Writer(resolve, project, calls, report)
    # 1. Before any write: every picture clip must still be the one its render was made for.
    originals = writer.originals(timeline, placements)
    # 2. The renders in the bin (kept there if a later step fails: the next apply reuses them).
    bin_path = [BIN_ROOT, safe_bin_name(name), safe_bin_name(dubs[0])]
    pool_items = writer.import_renders(bin_path, placements, originals)
    # 3. The strategy, then markers, save and read back; any failure undoes what was added to the timeline.
    undo = _Undo()
    try:
        if strategy == "takes":
            targets = writer.add_takes(placements, originals, pool_items, undo)
        else:
            if strategy == "duplicate":
                timeline = writer.duplicate(timeline, f"{name} [Keydub {dubs[0]}]", undo)
                report.timeline = timeline.GetName()
                writer.originals(timeline, placements)
            targets = writer.add_tracks(timeline, placements, pool_items, undo)
        for placement in placements:
            report.added_markers += writer.mark(targets[placement.job_id], placement, undo)
        report.saved = writer.save()
        writer.verify(timeline, placements, strategy)
    except ResolveCallError as error:
        left = undo.run()
        if not left:
            then = "everything this apply added to the timeline was removed again"
        else:
            then = f"remove by hand what could not be removed again: {'; '.join(left)}"
        raise ResolveCallError(f"{error}; {then}, then apply again") from error
    return report


class _PoolIndex:
    """The media pool's files, read once per apply: Keydub's bin first, then the whole pool (one
    `GetClipProperty()` per item), instead of a walk of the pool per render."""

    def __init__(self, media_pool: Any, folder: Any, calls: Calls) -> None:
        self._media_pool = media_pool
        self._folder = folder
        self._calls = calls
        self._by_path: dict[str, Any] | None = None

    def _scan(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        root = require(self._media_pool.GetRootFolder(), "give the media pool's root folder", _FIX)
        for where in (self._folder, root):  # the first item seen for a file wins: Keydub's bin
            for item in _clips_in(where):
                path = str(self._calls.clip_properties(item).get("File Path") or "")
                if path:
                    found.setdefault(path_key(path), item)
        return found

    def find(self, path: str) -> Any:
        if self._by_path is None:
            self._by_path = self._scan()
        return self._by_path.get(path_key(path))

    def add(self, path: str, item: Any) -> None:
        if self._by_path is not None:
            self._by_path[path_key(path)] = item


def _clips_in(folder: Any) -> Iterator[Any]:
    """Every media pool item in `folder` and its bins."""
    yield from as_list(folder.GetClipList(), f"list the clips of bin {folder.GetName()!r}", _FIX)
    for sub in as_list(folder.GetSubFolderList(), f"list the bins in {folder.GetName()!r}", _FIX):
        yield from _clips_in(sub)


class _Writer:
    """The steps of one apply, sharing the connection, the calls of this version and the report."""

    def __init__(self, resolve: Any, project: Any, calls: Calls, report: ApplyReport) -> None:
        self.resolve = resolve
        self.project = project
        self.calls = calls
        self.report = report
        self.media_pool = require(project.GetMediaPool(), "give the media pool", _FIX)

    # Reading ------------------------------------------------------------------------------------------------
    def track_index(self, timeline: Any, kind: str, name: str) -> int:
        count = require_int(timeline.GetTrackCount(kind), f"count the {kind} tracks", _FIX)
        names = [timeline.GetTrackName(kind, index) for index in range(1, count + 1)]
        if name not in names:
            listed = ", ".join(repr(track) for track in names) or "none"
            raise ResolveCallError(
                f"timeline {timeline.GetName()!r} has no {kind} track named {name!r} (the renders were "
                f"made from it); {kind} tracks: {listed}; rename the track back or render again"
            )
        return names.index(name) + 1

    @staticmethod
    def items_by_start(timeline: Any, kind: str, index: int) -> dict[int, Any]:
        items = as_list(timeline.GetItemListInTrack(kind, index), f"list the items of {kind} track {index}", _FIX)
        return {
            require_int(item.GetStart(), "report where a clip starts", _FIX): item
            for item in items
            if item.GetMediaPoolItem() is not None
        }

    def originals(self, timeline: Any, placements: Sequence[Placement]) -> dict[str, tuple[Any, ItemState]]:
        """The picture item of each placement and its state, checked to be the clip the render was made from
        (media, in-point, length), before anything is written."""
        rate, _ = timeline_rate(timeline, self.project, self.calls)
        originals, problems = {}, []
        by_track: dict[str, dict[int, Any]] = {}
        for placement in placements:
            if placement.picture_track not in by_track:
                index = self.track_index(timeline, "video", placement.picture_track)
                by_track[placement.picture_track] = self.items_by_start(timeline, "video", index)
            item = by_track[placement.picture_track].get(placement.record_frame)
            state = (
                read_item(item, "video", repr(placement.picture_track), self.calls, rate) if item is not None else None
            )
            if (
                state is None
                or state.media is None
                or not same_file(state.media.path, placement.source_path)
                or state.media.start_frame + state.left_offset != placement.source_start
                or state.duration != placement.duration
            ):
                problems.append(
                    f"{placement.clip_name!r} at record frame {placement.record_frame} on {placement.picture_track!r}"
                )
            else:
                originals[placement.job_id] = (item, state)
        if problems:
            raise ResolveCallError(
                f"timeline {timeline.GetName()!r} changed since the render: no longer the same clip at "
                f"{'; '.join(problems)}; nothing was written: render the timeline again"
            )
        return originals

    # The bin ------------------------------------------------------------------------------------------------
    def import_renders(
        self, bin_path: list[str], placements: Sequence[Placement], originals: dict[str, tuple[Any, ItemState]]
    ) -> dict[str, Any]:
        folder = self._bin(bin_path)
        self.report.bin = "/".join(bin_path)
        index = _PoolIndex(self.media_pool, folder, self.calls)
        return {
            placement.job_id: self._pool_item(index, folder, placement, originals[placement.job_id][1])
            for placement in placements
        }

    def _bin(self, names: list[str]) -> Any:
        """The bin at `names` under the root folder, created where missing."""
        folder = require(self.media_pool.GetRootFolder(), "give the media pool's root folder", _FIX)
        for name in names:
            subfolders = as_list(folder.GetSubFolderList(), f"list the bins in {folder.GetName()!r}", _FIX)
            found = next((sub for sub in subfolders if sub.GetName() == name), None)
            if found is None:
                found = require(self.media_pool.AddSubFolder(folder, name), f"create the bin {name!r}", _FIX)
                if found.GetName() != name:
                    raise ResolveCallError(f"Resolve created the bin {found.GetName()!r} instead of {name!r}")
            folder = found
        return folder

    def _pool_item(self, index: _PoolIndex, folder: Any, placement: Placement, original: ItemState) -> Any:
        """The render's media pool item, imported into `folder` unless already in the pool; checked and stamped
        with its job and the clip it replaces."""
        path = placement.render_path
        item = index.find(path)
        if item is not None:
            self.report.reused.append(path)
        else:
            with _current_folder(self.media_pool, folder):
                imported = as_list(self.calls.import_media(self.media_pool, path), f"import {path}", _FIX)
            if len(imported) != 1:
                raise ResolveCallError(
                    f"Resolve imported {len(imported)} items for the render {path}; check that the "
                    "file exists and is readable, then apply again"
                )
            item = imported[0]
            index.add(path, item)
            self.report.imported.append(path)
        media = read_media(item, self.calls)
        if (
            not same_file(media.path, path)
            or media.frame_rate != placement.frame_rate
            or media.start_frame != placement.render_start
            or media.frames < placement.head + placement.duration
        ):
            raise ResolveCallError(
                f"the media pool item of {path} reads back as {media.frames} frames at "
                f"{media.frame_rate} fps from frame {media.start_frame}, not the render (from frame "
                f"{placement.render_start} at {placement.frame_rate} fps); relink or remove it from "
                "the media pool and apply again"
            )
        assert original.media is not None, "originals are clips with media"
        wanted = {
            JOB_ID_KEY: placement.job_id,
            JOB_HASH_KEY: placement.job_hash,
            SOURCE_PATH_KEY: original.media.path,
            SOURCE_IN_KEY: str(int(original.left_offset)),
            SOURCE_FRAMES_KEY: str(original.duration),
        }
        if any(self.calls.third_party_metadata(item).get(key) != value for key, value in wanted.items()):
            require_true(self.calls.set_third_party_metadata(item, wanted), f"tag {path} with its job", _FIX)
            kept = self.calls.third_party_metadata(item)
            if any(kept.get(key) != value for key, value in wanted.items()):
                raise ResolveCallError(f"Resolve did not keep Keydub's metadata on {path}; apply again")
        return item

    # Tracks -------------------------------------------------------------------------------------------------
    def duplicate(self, timeline: Any, name: str, undo: _Undo) -> Any:
        """The copy of `timeline` named `name`: the one already in the project, or a new one."""
        count = require_int(self.project.GetTimelineCount(), "count the project's timelines", _FIX)
        for index in range(1, count + 1):
            existing = require(self.project.GetTimelineByIndex(index), f"give timeline {index}", _FIX)
            if existing.GetName() == name:
                return existing
        copy = require(timeline.DuplicateTimeline(name), f"duplicate the timeline as {name!r}", _FIX)
        undo.push(f"the timeline {name!r}", lambda: self.media_pool.DeleteTimelines([copy]) is True)
        if copy.GetName() != name:
            raise ResolveCallError(f"Resolve named the copy of the timeline {copy.GetName()!r}, not {name!r}")
        return copy

    def placed_on(
        self, timeline: Any, index: int, placements: Sequence[Placement]
    ) -> tuple[dict[str, Any], list[Placement]]:
        """`(items, missing)`: the item of each placement found on video track `index` (starting at its record
        frame, as long as its clip, from frame `head` of the render's file), and the placements not found."""
        items = self.items_by_start(timeline, "video", index)
        found, missing = {}, []
        for placement in placements:
            item = items.get(placement.record_frame)
            if item is not None and self._shows(item, placement):
                found[placement.job_id] = item
            else:
                missing.append(placement)
        return found, missing

    def _shows(self, item: Any, placement: Placement) -> bool:
        """Whether timeline `item` shows exactly the render's clip: its file, from frame `head`, its length."""
        pool_item = item.GetMediaPoolItem()
        return (
            pool_item is not None
            and same_file(str(self.calls.clip_properties(pool_item).get("File Path") or ""), placement.render_path)
            and item.GetStart() == placement.record_frame
            and item.GetDuration() == placement.duration
            and item.GetLeftOffset() == placement.head
        )

    def add_tracks(
        self, timeline: Any, placements: Sequence[Placement], pool_items: dict[str, Any], undo: _Undo
    ) -> dict[str, Any]:
        """The `track` strategy, one new track per picture track; a track already holding the renders is reused."""
        by_picture: dict[str, list[Placement]] = {}
        for placement in placements:
            by_picture.setdefault(placement.picture_track, []).append(placement)
        targets: dict[str, Any] = {}
        for picture, group in by_picture.items():
            suffix = "" if len(by_picture) == 1 else f" ({picture})"
            targets.update(self._add_track(timeline, group, pool_items, suffix, undo))
        return targets

    def _add_track(
        self, timeline: Any, placements: Sequence[Placement], pool_items: dict[str, Any], suffix: str, undo: _Undo
    ) -> dict[str, Any]:
        dub = placements[0].dub
        ours = re.compile(rf"^Keydub {re.escape(dub)} v(\d+){re.escape(suffix)}$")
        count = require_int(timeline.GetTrackCount("video"), "count the video tracks", _FIX)
        versions = []
        for index in range(1, count + 1):
            name = str(timeline.GetTrackName("video", index) or "")
            match = ours.match(name)
            if match is None:
                continue
            found, missing = self.placed_on(timeline, index, placements)
            if not missing:
                self.report.tracks.append(name)
                self.report.already_applied += len(placements)
                return found
            versions.append(int(match.group(1)))
        name = f"Keydub {dub} v{max(versions, default=0) + 1}{suffix}"
        require_true(timeline.AddTrack("video"), "add a video track", _FIX)
        index = count + 1
        if timeline.GetTrackCount("video") != index:
            raise ResolveCallError(f"Resolve did not add a video track to {timeline.GetName()!r}")
        # Deleting the track takes its clips with it.
        undo.push(f"the video track {name!r}", lambda: timeline.DeleteTrack("video", index) is True)
        require_true(timeline.SetTrackName("video", index, name), f"name the new track {name!r}", _FIX)
        if timeline.GetTrackName("video", index) != name:
            raise ResolveCallError(f"the new video track {index} is not named {name!r}")
        with _current_timeline(self.project, timeline):
            found = {
                placement.job_id: self._place(timeline, index, placement, pool_items[placement.job_id])
                for placement in placements
            }
        self.report.tracks.append(name)
        self.report.added_items += len(found)
        return found

    def _place(self, timeline: Any, index: int, placement: Placement, pool_item: Any) -> Any:
        """Place one render on video track `index` and read it back. Its `endFrame` follows this version's
        convention; a placement whose length is off is removed and placed again with the other one, and a render
        that ends at its file's last frame also without `endFrame` (where the end is inclusive, `endFrame ==
        Frames` places nothing)."""
        where = f"{placement.render_path} at record frame {placement.record_frame}"
        answers = []
        for is_inclusive in self._end_conventions(placement, pool_item):
            clip_info = {
                "mediaPoolItem": pool_item,
                "startFrame": placement.head,
                "mediaType": 1,
                "trackIndex": index,
                "recordFrame": placement.record_frame,
            }
            if is_inclusive is not None:
                clip_info["endFrame"] = placement.head + placement.duration - (1 if is_inclusive else 0)
            appended = as_list(self.media_pool.AppendToTimeline([clip_info]), f"place {where}", _FIX)
            if len(appended) == 1 and self._shows(appended[0], placement):
                if is_inclusive != self.calls.version.end_frame_is_inclusive:
                    self._warn_convention(is_inclusive)
                return appended[0]
            answers.append(
                f"{len(appended)} clip(s)"
                if len(appended) != 1
                else f"{appended[0].GetDuration()} frames from frame {appended[0].GetLeftOffset()}"
            )
            if appended and timeline.DeleteClips(appended, False) is not True:
                raise ResolveCallError(f"Resolve placed {where} wrongly and did not remove it again")
        raise ResolveCallError(
            f"Resolve placed {' then '.join(answers)} for {where}, not {placement.duration} frames from frame "
            f"{placement.head} (is something else there?)"
        )

    def _end_conventions(self, placement: Placement, pool_item: Any) -> list[bool | None]:
        """The `endFrame` conventions to try, this version's first; `None` (no `endFrame`: to the file's end) for a
        render without a tail handle."""
        first = self.calls.version.end_frame_is_inclusive
        conventions: list[bool | None] = [first, not first]
        if placement.head + placement.duration == read_media(pool_item, self.calls).frames:
            conventions.append(None)
        return conventions

    def _warn_convention(self, is_inclusive: bool | None) -> None:
        kind = {True: "as inclusive", False: "as exclusive", None: "only when left out"}[is_inclusive]
        warning = (
            f"Resolve {self.calls.version} took the end frame of a placement {kind}, unlike what Keydub expects "
            "of this version; the renders were placed again that way and read back exactly"
        )
        if warning not in self.report.warnings:
            self.report.warnings.append(warning)
            logger.warning(warning)

    # Takes --------------------------------------------------------------------------------------------------
    def _take_index(self, item: Any, path: str) -> int | None:
        """The 1-based index of the take of `item` whose media is `path`."""
        count = require_int(item.GetTakesCount(), f"count the takes of {item.GetName()!r}", _FIX)
        for index in range(1, count + 1):
            take = require(item.GetTakeByIndex(index), f"give take {index} of {item.GetName()!r}", _FIX)
            pool_item = take.get("mediaPoolItem")
            if pool_item is not None and same_file(
                str(self.calls.clip_properties(pool_item).get("File Path") or ""), path
            ):
                return index
        return None

    def add_takes(
        self,
        placements: Sequence[Placement],
        originals: dict[str, tuple[Any, ItemState]],
        pool_items: dict[str, Any],
        undo: _Undo,
    ) -> dict[str, Any]:
        """The `takes` strategy: the render as a new take of each original item, selected; the original is take 1."""
        targets = {}
        for placement in placements:
            item, original = originals[placement.job_id]
            targets[placement.job_id] = item
            if self._take_index(item, placement.render_path) is not None:
                self.report.already_applied += 1
                continue
            self._add_take(item, original, placement, pool_items[placement.job_id], undo)
            self.report.added_takes += 1
        return targets

    def _add_take(self, item: Any, original: ItemState, placement: Placement, pool_item: Any, undo: _Undo) -> None:
        """Add the render as a take and select it; read back, with the other end convention if the length is
        off. A take that does not show the render exactly is deleted again and the original selected."""
        name = placement.clip_name
        had_takes = require_int(item.GetTakesCount(), f"count the takes of {name!r}", _FIX) > 0
        original_index = item.GetSelectedTakeIndex() if had_takes else 1
        inclusive_first = self.calls.version.end_frame_is_inclusive
        shown = []
        # AddTake's end bound is undocumented ("startFrame and endFrame ... specify the extents"); this version's
        # AppendToTimeline convention first, then the other.
        for is_inclusive in (inclusive_first, not inclusive_first):
            end = placement.head + placement.duration - (1 if is_inclusive else 0)
            require_true(item.AddTake(pool_item, placement.head, end), f"add the render as a take of {name!r}", _FIX)
            index = require_int(item.GetTakesCount(), f"count the takes of {name!r}", _FIX)  # the new one is last
            remove = self._take_remover(item, index, original_index, had_takes)
            try:
                if index < 2 or self._take_index(item, placement.render_path) != index:
                    raise ResolveCallError(
                        f"after adding the take of {name!r}, Resolve does not show the original as take 1 and the "
                        "render after it; check its Take Selector"
                    )
                require_true(item.SelectTakeByIndex(index), f"select the take of {name!r}", _FIX)
                is_exact = item.GetSelectedTakeIndex() == index and self._shows(item, placement)
            except ResolveCallError:
                remove()
                raise
            if is_exact:
                undo.push(f"the Keydub take of {name!r} (take {index})", remove)
                if is_inclusive != inclusive_first:
                    self._warn_convention(is_inclusive)
                return
            shown.append(f"{item.GetDuration()} frames from frame {item.GetLeftOffset()}")
            if not remove():
                raise ResolveCallError(f"the take of {name!r} shows the render wrongly and could not be removed")
        raise ResolveCallError(
            f"the take of {name!r} shows {' then '.join(shown)} of the render, not {placement.duration} frames "
            f"from frame {placement.head}; check its Take Selector"
        )

    @staticmethod
    def _take_remover(item: Any, index: int, original_index: int, had_takes: bool) -> Callable[[], bool]:
        def remove() -> bool:
            if item.GetSelectedTakeIndex() == index and item.SelectTakeByIndex(original_index) is not True:
                return False
            if item.DeleteTakeByIndex(index) is not True:
                return False
            # An item that had no take selector gets none back: finalizing keeps the (original) selected take.
            return had_takes or item.FinalizeTake() is True

        return remove

    # Markers, saving, reading back --------------------------------------------------------------------------
    def mark(self, item: Any, placement: Placement, undo: _Undo) -> int:
        """A QC marker on `item` with the job id as custom data, unless it has one; 1 when added."""
        if item.GetMarkerByCustomData(placement.job_id):
            return 0
        markers = item.GetMarkers() or {}
        # One marker per frame: a clip dubbed in several languages keeps each dub's marker.
        frame = next(frame for frame in range(placement.duration + 1) if frame not in markers)
        require_true(
            item.AddMarker(frame, qc_colour(placement.qc), MARKER_NAME, qc_note(placement.qc), 1, placement.job_id),
            f"mark {placement.clip_name!r}",
            _FIX,
        )
        undo.push(
            f"the marker on {placement.clip_name!r}", lambda: item.DeleteMarkerByCustomData(placement.job_id) is True
        )
        if not item.GetMarkerByCustomData(placement.job_id):
            raise ResolveCallError(f"the marker on {placement.clip_name!r} does not read back")
        return 1

    def save(self) -> bool:
        # Saving an untitled project opens a dialog in Resolve (and hangs a headless one).
        if self.project.GetName() == _UNTITLED:
            self.report.warnings.append(
                "the project is untitled, so it was not saved: save it in Resolve (File > Save Project)"
            )
            return False
        manager = require(self.resolve.GetProjectManager(), "give its project manager", _FIX)
        if manager.SaveProject() is not True:
            self.report.warnings.append("Resolve did not save the project: save it in Resolve (File > Save Project)")
            return False
        return True

    def verify(self, timeline: Any, placements: Sequence[Placement], strategy: str) -> None:
        """Read the result back after saving (placements from a failed call can look present and then vanish)."""
        targets: dict[str, Any] = {}
        if strategy == "takes":
            for placement in placements:
                index = self.track_index(timeline, "video", placement.picture_track)
                item = self.items_by_start(timeline, "video", index).get(placement.record_frame)
                selected = item.GetSelectedTakeIndex() if item is not None else None
                if item is not None and selected and selected == self._take_index(item, placement.render_path):
                    targets[placement.job_id] = item
        else:
            for track in self.report.tracks:
                found, _ = self.placed_on(timeline, self.track_index(timeline, "video", track), placements)
                targets.update(found)
        lost = [
            placement.clip_name
            for placement in placements
            if placement.job_id not in targets or not targets[placement.job_id].GetMarkerByCustomData(placement.job_id)
        ]
        if lost:
            raise ResolveCallError(
                f"after saving, Resolve no longer shows the renders or markers of {', '.join(map(repr, lost))}"
            )


@contextmanager
def _current_folder(media_pool: Any, folder: Any) -> Iterator[None]:
    """Make `folder` the current bin (imports land there), then give the editor's bin back."""
    previous = media_pool.GetCurrentFolder()
    require_true(media_pool.SetCurrentFolder(folder), f"open the bin {folder.GetName()!r}", _FIX)
    try:
        yield
    finally:
        if previous is not None:
            media_pool.SetCurrentFolder(previous)


@contextmanager
def _current_timeline(project: Any, timeline: Any) -> Iterator[None]:
    """Make `timeline` current (`AppendToTimeline` acts on the current one), then give the editor's back."""
    previous = project.GetCurrentTimeline()
    switch = previous is None or previous.GetUniqueId() != timeline.GetUniqueId()
    if switch:
        require_true(project.SetCurrentTimeline(timeline), f"open the timeline {timeline.GetName()!r}", _FIX)
        current = project.GetCurrentTimeline()
        if current is None or current.GetUniqueId() != timeline.GetUniqueId():
            raise ResolveCallError(f"Resolve did not open the timeline {timeline.GetName()!r}")
    try:
        yield
    finally:
        if switch and previous is not None:
            project.SetCurrentTimeline(previous)


def safe_bin_name(name: str) -> str:
    """A bin name for a timeline or track name (Resolve accepts any text; slashes would read as nesting)."""
    return re.sub(r"[/\\]+", "-", name)

"""Putting renders back on a Resolve timeline without destroying anything, each write read back and verified.

1. Every render is imported on its own into the bin `Keydub/<timeline>/<dub track>` (an item already in the pool
   with the same file is reused) and stamped with Keydub's job id (third-party metadata).
2. Then one strategy:
   - `track`: a new video track `Keydub <dub track> v<N>` with each render at its picture clip's record frame,
     the handles trimmed off (`AppendToTimeline` with the head handle as `startFrame`, end exclusive);
   - `takes`: `AddTake` on each original item, the original staying take 1 and the render selected;
   - `duplicate`: a copy of the timeline, `<timeline> [Keydub <dub track>]`, then `track` on the copy.
3. A marker on each processed clip: the job id as its (invisible) custom data, the QC figures in its note.

Original items are never changed (no `ReplaceClip`, no trims), and a second apply of the same renders adds
nothing: renders already in the pool, on a Keydub track, among an item's takes or marked are left as they are.
"""

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.plugin.qc_marker import MARKER_NAME, qc_colour, qc_note
from keydub.plugin.resolve.checks import as_list, require, require_int, require_str, require_true
from keydub.plugin.resolve.errors import ResolveCallError
from keydub.plugin.resolve.state import JOB_HASH_KEY, JOB_ID_KEY, read_item, read_media


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

    def summary(self) -> str:
        """One line for people."""
        where = f"track(s) {', '.join(map(repr, self.tracks))}" if self.tracks else "takes"
        return (
            f"Applied to {self.timeline!r} as {self.strategy} ({where}): {len(self.imported)} imported into bin "
            f"{self.bin!r}, {len(self.reused)} reused, {self.added_items} clips and {self.added_takes} takes and "
            f"{self.added_markers} markers added, {self.already_applied} already there"
            + ("" if self.saved else "; project not saved")
        )


def apply_placements(
    resolve: Any, project: Any, timeline: Any, placements: Sequence[Placement], strategy: str = "track"
) -> ApplyReport:
    """Write `placements` back onto `timeline` with `strategy` (see the module docstring).

    Args:
        resolve (`Any`), project (`Any`), timeline (`Any`): the connected `Resolve`, its current `Project` and the
            `Timeline` the renders were made from.
        placements (`Sequence[Placement]`): the renders.
        strategy (`str`, defaults to `"track"`): `track`, `takes` or `duplicate`.

    Raises:
        `InvalidParameterError`: an unknown strategy, or renders of several dubs at once.
        `ResolveCallError`: a picture clip is no longer where it was rendered from (checked before any write), a
            call failed, or a write did not read back.
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
    dub = dubs[0]
    # 1. Before any write: every picture clip must still be the one its render was made for.
    originals = _originals(timeline, placements)
    # 2. The renders in the bin.
    media_pool = require(project.GetMediaPool(), "give the media pool", _FIX)
    bin_path = [BIN_ROOT, safe_bin_name(name), safe_bin_name(dub)]
    folder = _bin(media_pool, bin_path)
    report.bin = "/".join(bin_path)
    pool_items = {placement.job_id: _pool_item(media_pool, folder, placement, report) for placement in placements}
    # 3. The strategy; `targets` are the items that now show the renders.
    if strategy == "takes":
        targets = _add_takes(placements, originals, pool_items, report)
    else:
        if strategy == "duplicate":
            timeline = _duplicate(project, timeline, f"{name} [Keydub {dub}]")
            report.timeline = timeline.GetName()
            _originals(timeline, placements)
        targets = _add_tracks(project, media_pool, timeline, placements, pool_items, report)
    # 4. Markers, then save and read everything back.
    for placement in placements:
        report.added_markers += _mark(targets[placement.job_id], placement)
    report.saved = _save(resolve, project, report)
    _verify(timeline, placements, strategy, report)
    return report


def _same_file(first: str, second: str) -> bool:
    return os.path.normcase(os.path.abspath(first)) == os.path.normcase(os.path.abspath(second))


def _track_index(timeline: Any, kind: str, name: str) -> int:
    count = require_int(timeline.GetTrackCount(kind), f"count the {kind} tracks", _FIX)
    names = [timeline.GetTrackName(kind, index) for index in range(1, count + 1)]
    if name not in names:
        listed = ", ".join(repr(track) for track in names) or "none"
        raise ResolveCallError(
            f"timeline {timeline.GetName()!r} has no {kind} track named {name!r} (the renders were "
            f"made from it); {kind} tracks: {listed}; rename the track back or render again"
        )
    return names.index(name) + 1


def _items_by_start(timeline: Any, kind: str, index: int) -> dict[int, Any]:
    items = as_list(timeline.GetItemListInTrack(kind, index), f"list the items of {kind} track {index}", _FIX)
    return {
        require_int(item.GetStart(), "report where a clip starts", _FIX): item
        for item in items
        if item.GetMediaPoolItem() is not None
    }


def _originals(timeline: Any, placements: Sequence[Placement]) -> dict[str, Any]:
    """The picture item of each placement, checked to be the clip the render was made from (media, in-point,
    length), before anything is written."""
    originals, problems = {}, []
    by_track: dict[str, dict[int, Any]] = {}
    for placement in placements:
        if placement.picture_track not in by_track:
            index = _track_index(timeline, "video", placement.picture_track)
            by_track[placement.picture_track] = _items_by_start(timeline, "video", index)
        item = by_track[placement.picture_track].get(placement.record_frame)
        state = read_item(item, placement.picture_track, {}) if item is not None else None
        if (
            state is None
            or state.media is None
            or not _same_file(state.media.path, placement.source_path)
            or state.media.start_frame + state.left_offset != placement.source_start
            or state.duration != placement.duration
        ):
            problems.append(
                f"{placement.clip_name!r} at record frame {placement.record_frame} on {placement.picture_track!r}"
            )
        else:
            originals[placement.job_id] = item
    if problems:
        raise ResolveCallError(
            f"timeline {timeline.GetName()!r} changed since the render: no longer the same clip at "
            f"{'; '.join(problems)}; nothing was written: render the timeline again"
        )
    return originals


def _bin(media_pool: Any, names: list[str]) -> Any:
    """The bin at `names` under the root folder, created where missing."""
    folder = require(media_pool.GetRootFolder(), "give the media pool's root folder", _FIX)
    for name in names:
        subfolders = as_list(folder.GetSubFolderList(), f"list the bins in {folder.GetName()!r}", _FIX)
        found = next((sub for sub in subfolders if sub.GetName() == name), None)
        if found is None:
            found = require(media_pool.AddSubFolder(folder, name), f"create the bin {name!r}", _FIX)
            if found.GetName() != name:
                raise ResolveCallError(f"Resolve created the bin {found.GetName()!r} instead of {name!r}; rename it")
        folder = found
    return folder


def _clips_in(folder: Any) -> Iterator[Any]:
    """Every media pool item in `folder` and its bins."""
    yield from as_list(folder.GetClipList(), f"list the clips of bin {folder.GetName()!r}", _FIX)
    for sub in as_list(folder.GetSubFolderList(), f"list the bins in {folder.GetName()!r}", _FIX):
        yield from _clips_in(sub)


def _find_pool_item(media_pool: Any, folder: Any, path: str) -> Any:
    """The media pool item of `path`: in Keydub's bin first, else anywhere in the pool (Resolve imports a file
    only once)."""
    for where in (folder, require(media_pool.GetRootFolder(), "give the media pool's root folder", _FIX)):
        for item in _clips_in(where):
            if _same_file(str(item.GetClipProperty("File Path") or ""), path):
                return item
    return None


def _pool_item(media_pool: Any, folder: Any, placement: Placement, report: ApplyReport) -> Any:
    """The render's media pool item, imported into `folder` unless already in the pool; checked and stamped."""
    path = placement.render_path
    item = _find_pool_item(media_pool, folder, path)
    if item is not None:
        report.reused.append(path)
    else:
        with _current_folder(media_pool, folder):
            imported = as_list(media_pool.ImportMedia([path]), f"import {path}", _FIX)
        if len(imported) != 1:
            raise ResolveCallError(
                f"Resolve imported {len(imported)} items for the render {path}; check that the "
                "file exists and is readable, then apply again"
            )
        item = imported[0]
        report.imported.append(path)
    media = read_media(item)
    if (
        not _same_file(media.path, path)
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
    for key, value in ((JOB_ID_KEY, placement.job_id), (JOB_HASH_KEY, placement.job_hash)):
        if item.GetThirdPartyMetadata(key) != value:
            require_true(item.SetThirdPartyMetadata(key, value), f"tag {path} with {key}", _FIX)
            if item.GetThirdPartyMetadata(key) != value:
                raise ResolveCallError(f"Resolve did not keep the metadata {key} on {path}; apply again")
    return item


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
            raise ResolveCallError(f"Resolve did not open the timeline {timeline.GetName()!r}; open it, apply again")
    try:
        yield
    finally:
        if switch and previous is not None:
            project.SetCurrentTimeline(previous)


def _duplicate(project: Any, timeline: Any, name: str) -> Any:
    """The copy of `timeline` named `name`: the one already in the project, or a new one."""
    count = require_int(project.GetTimelineCount(), "count the project's timelines", _FIX)
    for index in range(1, count + 1):
        existing = require(project.GetTimelineByIndex(index), f"give timeline {index}", _FIX)
        if existing.GetName() == name:
            return existing
    copy = require(timeline.DuplicateTimeline(name), f"duplicate the timeline as {name!r}", _FIX)
    if copy.GetName() != name:
        raise ResolveCallError(f"Resolve named the copy of the timeline {copy.GetName()!r}, not {name!r}")
    return copy


def _placed_on(timeline: Any, index: int, placements: Sequence[Placement]) -> tuple[dict[str, Any], list[Placement]]:
    """`(items, missing)`: the item of each placement found on video track `index` (starting at its record frame,
    as long as its clip, from frame `head` of the render's file), and the placements not found."""
    items = _items_by_start(timeline, "video", index)
    found, missing = {}, []
    for placement in placements:
        item = items.get(placement.record_frame)
        pool_item = item.GetMediaPoolItem() if item is not None else None
        if (
            item is not None
            and pool_item is not None
            and _same_file(str(pool_item.GetClipProperty("File Path") or ""), placement.render_path)
            and item.GetEnd() == placement.record_frame + placement.duration
            and item.GetLeftOffset() == placement.head
        ):
            found[placement.job_id] = item
        else:
            missing.append(placement)
    return found, missing


def _add_tracks(
    project: Any,
    media_pool: Any,
    timeline: Any,
    placements: Sequence[Placement],
    pool_items: dict[str, Any],
    report: ApplyReport,
) -> dict[str, Any]:
    """The `track` strategy, one new track per picture track; a track already holding the renders is reused."""
    by_picture: dict[str, list[Placement]] = {}
    for placement in placements:
        by_picture.setdefault(placement.picture_track, []).append(placement)
    targets: dict[str, Any] = {}
    for picture, group in by_picture.items():
        suffix = "" if len(by_picture) == 1 else f" ({picture})"
        targets.update(_add_track(project, media_pool, timeline, group, pool_items, suffix, report))
    return targets


def _add_track(
    project: Any,
    media_pool: Any,
    timeline: Any,
    placements: Sequence[Placement],
    pool_items: dict[str, Any],
    suffix: str,
    report: ApplyReport,
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
        found, missing = _placed_on(timeline, index, placements)
        if not missing:
            report.tracks.append(name)
            report.already_applied += len(placements)
            return found
        versions.append(int(match.group(1)))
    name = f"Keydub {dub} v{max(versions, default=0) + 1}{suffix}"
    require_true(timeline.AddTrack("video"), "add a video track", _FIX)
    index = count + 1
    if timeline.GetTrackCount("video") != index:
        raise ResolveCallError(f"Resolve did not add a video track to {timeline.GetName()!r}; apply again")
    require_true(timeline.SetTrackName("video", index, name), f"name the new track {name!r}", _FIX)
    if timeline.GetTrackName("video", index) != name:
        raise ResolveCallError(f"the new video track {index} is not named {name!r}; rename it and apply again")
    try:
        found = _fill_new_track(project, media_pool, timeline, index, placements, pool_items)
    except ResolveCallError as error:
        # Leave no half-filled track behind: a re-run would add the next version beside it.
        removed = timeline.DeleteTrack("video", index) is True
        then = "the new track was removed again" if removed else f"delete the track {name!r}"
        raise ResolveCallError(f"{error}; {then}, then apply again") from error
    report.tracks.append(name)
    report.added_items += len(found)
    return found


def _fill_new_track(
    project: Any,
    media_pool: Any,
    timeline: Any,
    index: int,
    placements: Sequence[Placement],
    pool_items: dict[str, Any],
) -> dict[str, Any]:
    """Place each render on video track `index` and read the track back; the items by job id."""
    with _current_timeline(project, timeline):
        for placement in placements:
            # Source frames of the render's file, end exclusive: the handles stay in the file, off the timeline.
            clip_info = {
                "mediaPoolItem": pool_items[placement.job_id],
                "startFrame": placement.head,
                "endFrame": placement.head + placement.duration,
                "mediaType": 1,
                "trackIndex": index,
                "recordFrame": placement.record_frame,
            }
            appended = as_list(
                media_pool.AppendToTimeline([clip_info]),
                f"place {placement.render_path} at record frame {placement.record_frame}",
                _FIX,
            )
            if len(appended) != 1:
                raise ResolveCallError(
                    f"Resolve placed {len(appended)} clips for {placement.render_path} at record "
                    f"frame {placement.record_frame} (is something else there?)"
                )
    found, missing = _placed_on(timeline, index, placements)
    if missing:
        listed = ", ".join(f"{placement.clip_name!r} at {placement.record_frame}" for placement in missing)
        raise ResolveCallError(f"after placing the renders, Resolve does not show {listed}")
    return found


def _take_index(item: Any, path: str) -> int | None:
    """The 1-based index of the take of `item` whose media is `path`."""
    count = require_int(item.GetTakesCount(), f"count the takes of {item.GetName()!r}", _FIX)
    for index in range(1, count + 1):
        take = require(item.GetTakeByIndex(index), f"give take {index} of {item.GetName()!r}", _FIX)
        pool_item = take.get("mediaPoolItem")
        if pool_item is not None and _same_file(str(pool_item.GetClipProperty("File Path") or ""), path):
            return index
    return None


def _add_takes(
    placements: Sequence[Placement], originals: dict[str, Any], pool_items: dict[str, Any], report: ApplyReport
) -> dict[str, Any]:
    """The `takes` strategy: the render as a new take of each original item, selected; the original is take 1."""
    for placement in placements:
        item = originals[placement.job_id]
        if _take_index(item, placement.render_path) is not None:
            report.already_applied += 1
            continue
        what = f"add the render as a take of {placement.clip_name!r}"
        require_true(
            item.AddTake(pool_items[placement.job_id], placement.head, placement.head + placement.duration), what, _FIX
        )
        index = _take_index(item, placement.render_path)
        first = item.GetTakeByIndex(1) or {}
        original_media = first.get("mediaPoolItem")
        if (
            index is None
            or index == 1
            or original_media is None
            or not _same_file(str(original_media.GetClipProperty("File Path") or ""), placement.source_path)
        ):
            raise ResolveCallError(
                f"after adding the take of {placement.clip_name!r}, Resolve does not show the "
                "original as take 1 and the render after it; check its Take Selector"
            )
        take = item.GetTakeByIndex(index)
        wanted = (placement.head, placement.head + placement.duration)
        if (take.get("startFrame"), take.get("endFrame")) != wanted:
            raise ResolveCallError(
                f"the take of {placement.clip_name!r} reads back as frames {take.get('startFrame')}"
                f"-{take.get('endFrame')}, not {wanted[0]}-{wanted[1]}"
            )
        require_true(item.SelectTakeByIndex(index), f"select the take of {placement.clip_name!r}", _FIX)
        if item.GetSelectedTakeIndex() != index:
            raise ResolveCallError(
                f"Resolve did not select the render's take of {placement.clip_name!r}; select take "
                f"{index} in its Take Selector"
            )
        report.added_takes += 1
    return dict(originals)


def _mark(item: Any, placement: Placement) -> int:
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
    if not item.GetMarkerByCustomData(placement.job_id):
        raise ResolveCallError(f"the marker on {placement.clip_name!r} does not read back; apply again")
    return 1


def _save(resolve: Any, project: Any, report: ApplyReport) -> bool:
    # Saving an untitled project opens a dialog in Resolve (and hangs a headless one).
    if project.GetName() == _UNTITLED:
        report.warnings.append(
            "the project is untitled, so it was not saved: save it in Resolve (File > Save Project)"
        )
        return False
    manager = require(resolve.GetProjectManager(), "give its project manager", _FIX)
    if manager.SaveProject() is not True:
        report.warnings.append("Resolve did not save the project: save it in Resolve (File > Save Project)")
        return False
    return True


def _verify(timeline: Any, placements: Sequence[Placement], strategy: str, report: ApplyReport) -> None:
    """Read the result back after saving (placements from a failed call can look present and then vanish)."""
    if strategy == "takes":
        originals = _originals_after_takes(timeline, placements)
        targets = originals
    else:
        targets = {}
        for track in report.tracks:
            found, _ = _placed_on(timeline, _track_index(timeline, "video", track), placements)
            targets.update(found)
    lost = [
        placement.clip_name
        for placement in placements
        if placement.job_id not in targets or not targets[placement.job_id].GetMarkerByCustomData(placement.job_id)
    ]
    if lost:
        raise ResolveCallError(
            f"after saving, Resolve no longer shows the renders or markers of "
            f"{', '.join(map(repr, lost))}; check the timeline and apply again"
        )


def _originals_after_takes(timeline: Any, placements: Sequence[Placement]) -> dict[str, Any]:
    found = {}
    for placement in placements:
        items = _items_by_start(timeline, "video", _track_index(timeline, "video", placement.picture_track))
        item = items.get(placement.record_frame)
        selected = item.GetSelectedTakeIndex() if item is not None else None
        if item is not None and selected is not None and selected == _take_index(item, placement.render_path):
            found[placement.job_id] = item
    return found


def safe_bin_name(name: str) -> str:
    """A bin name for a timeline or track name (Resolve accepts any text; slashes would read as nesting)."""
    return re.sub(r"[/\\]+", "-", name)

"""Between Resolve and OTIO: a timeline read from Resolve as a Resolve-shaped OTIO `Timeline`, and the renders of a
Keydub result timeline as the placements `apply` writes back.

The timeline is shaped like Resolve's own OTIO export (reference: nle-integration §2.4), so the planner takes it
exactly as it takes a file from File > Export > Timeline: `Resolve_OTIO` metadata, `global_start_time` at the
start timecode, `Clip.2` clips with one `DEFAULT_MEDIA` reference holding a bare path and a timecode-absolute
available range, timecode-absolute source ranges, gaps between clips and transitions at their cuts.

This module imports OpenTimelineIO; the bridge imports it only when a snapshot or a result timeline is needed.
"""

import os
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from keydub.core.errors import TimelineError
from keydub.plugin.resolve.state import ItemState, TimelineState, TrackState
from keydub.plugin.resolve.writeback import Placement
from keydub.plugin.timeline.clips import resolve_media_path
from keydub.plugin.timeline.timecode import exact_rate, to_frames
from keydub.plugin.timeline.tracks import METADATA_KEY, keydub_metadata, placed_items, record_origin, timeline_rate


_RESOLVE_KEY = "Resolve_OTIO"
_MEDIA_KEY = otio.schema.Clip.DEFAULT_MEDIA_KEY


def timeline_from_state(state: TimelineState) -> otio.schema.Timeline:
    """The Resolve-shaped OTIO timeline of a timeline read from Resolve (a new object; `state` is plain data)."""
    timeline = otio.schema.Timeline(
        name=state.name,
        global_start_time=_time(state.start_frame, state.frame_rate),
        metadata={_RESOLVE_KEY: {"Resolve OTIO Meta Version": "1.0"}},
    )
    timeline.tracks.name = ""
    for track in state.tracks:
        timeline.tracks.append(_track(track, state))
    return timeline


def _time(frames: int | Fraction, rate: Fraction) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(float(frames), float(rate))


def _range(start: int | Fraction, duration: int | Fraction, rate: Fraction) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(_time(start, rate), _time(duration, rate))


def _track(track: TrackState, state: TimelineState) -> otio.schema.Track:
    metadata: dict = {_RESOLVE_KEY: {"Locked": track.locked}}
    if track.kind == "audio":
        metadata[_RESOLVE_KEY].update({"Audio Type": (track.audio_type or "mono").capitalize(), "SoloOn": False})
    if track.is_output:
        metadata[METADATA_KEY] = {"role": "output"}
    kind = otio.schema.TrackKind.Video if track.kind == "video" else otio.schema.TrackKind.Audio
    result = otio.schema.Track(name=track.name, kind=kind, metadata=metadata)
    result.enabled = track.enabled
    rate = state.frame_rate
    items = [item for item in track.items if item.kind != "transition"]
    at_cut: dict[int, list[otio.schema.Transition]] = {}
    for item in track.items:
        if item.kind == "transition":
            cut = _cut_of(item, items, track.name)
            at_cut.setdefault(cut, []).append(
                otio.schema.Transition(
                    name=item.name,
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=_time(cut - item.start, rate),
                    out_offset=_time(item.end - cut, rate),
                )
            )
    cursor = state.start_frame
    for item in items:
        if item.start < cursor:
            raise TimelineError(
                f"clips overlap on track {track.name!r} at record frame {item.start}; read the timeline again"
            )
        if item.start > cursor:
            result.append(otio.schema.Gap(source_range=_range(0, item.start - cursor, rate)))
        result.extend(at_cut.pop(item.start, []))
        result.append(_item(item, rate))
        cursor = item.end
    result.extend(at_cut.pop(cursor, []))  # a fade out at the end of the track
    return result


def _cut_of(transition: ItemState, items: list[ItemState], track: str) -> int:
    """The record frame of the cut a transition lies across (Resolve lists it as an item spanning the cut)."""
    starts = [item.start for item in items if transition.start <= item.start <= transition.end]
    ends = [item.end for item in items if transition.start <= item.end <= transition.end]
    if not starts and not ends:
        raise TimelineError(
            f"transition {transition.name!r} on track {track!r} lies across no cut; read the timeline again"
        )
    return (starts or ends)[0]


def _item(item: ItemState, rate: Fraction) -> otio.core.Composable:
    if item.kind == "generator":
        clip = otio.schema.Clip(
            name=item.name,
            source_range=_range(0, item.duration, rate),
            media_reference=otio.schema.GeneratorReference(name=item.name),
        )
        clip.enabled = item.enabled
        return clip
    media = item.media
    assert media is not None, "clips read from Resolve have media"
    if media.is_nested:
        return otio.schema.Stack(name=item.name, source_range=_range(0, item.duration, rate))
    media_rate = media.frame_rate
    # Source frames count at the media's rate; a clip at another rate keeps its record length. A retime is said
    # the way Resolve's own export says it, as a time warp the planner skips with its speed.
    duration = Fraction(item.duration) * media_rate / rate
    metadata = {_RESOLVE_KEY: {"Link Group ID": item.link_group}} if item.link_group is not None else {}
    clip = otio.schema.Clip(
        name=item.name,
        metadata=metadata,
        source_range=_range(media.start_frame + item.left_offset, duration, media_rate),
    )
    if item.speed != 1:
        clip.effects.append(otio.schema.LinearTimeWarp(name="Retime", time_scalar=float(item.speed)))
    reference = otio.schema.ExternalReference(
        target_url=media.path, available_range=_range(media.start_frame, media.frames, media_rate)
    )
    reference.name = os.path.basename(media.path)
    clip.set_media_references({_MEDIA_KEY: reference}, _MEDIA_KEY)
    clip.enabled = item.enabled
    return clip


def placements_from_timeline(timeline: otio.schema.Timeline, base_dir: Path | None = None) -> list[Placement]:
    """The renders of a Keydub result timeline (from `keydub timeline` or `render_timeline`), as placements.

    Args:
        timeline (`otio.schema.Timeline`): a result timeline: its `metadata["keydub"]["output_tracks"]` name the
            tracks of renders, whose clips carry `metadata["keydub"]` (job id and hash, source clip and track,
            handles, QC figures).
        base_dir (`Path | None`): folder relative media paths are resolved against (the result file's folder);
            without it they are refused.

    Raises:
        `TimelineError`: the timeline is not a Keydub result, or a render's picture clip is not on its track.
    """
    names = keydub_metadata(timeline).get("output_tracks")
    if not isinstance(names, list):
        raise TimelineError(
            f"timeline {timeline.name!r} is not a Keydub result (it has no metadata "
            "keydub.output_tracks); pass the .otio written by `keydub timeline` or `keydub resolve "
            "render -o`"
        )
    rate = timeline_rate(timeline)
    origin = record_origin(timeline, rate)
    tracks = {track.name: track for track in timeline.tracks if isinstance(track, otio.schema.Track)}
    placements = []
    for name in names:
        output = tracks.get(name)
        if output is None:
            raise TimelineError(f"the result timeline names the output track {name!r} but has no such track")
        info = keydub_metadata(output)
        picture = tracks.get(str(info.get("picture_track")))
        originals = (
            {}
            if picture is None
            else {placed.start_time.to_frames(): item for _, item, placed in placed_items(picture)}
        )
        for _, item, placed in placed_items(output):
            if isinstance(item, otio.schema.Clip):
                placements.append(
                    _placement(item, placed, originals, str(info.get("dub", "")), rate, origin, base_dir)
                )
    return placements


def _placement(
    clip: otio.schema.Clip,
    placed: otio.opentime.TimeRange,
    originals: dict,
    dub: str,
    rate: Fraction,
    origin: int,
    base_dir: Path | None,
) -> Placement:
    data = keydub_metadata(clip)
    what = f"render {clip.name!r}"
    record = origin + to_frames(placed.start_time, rate, f"record start of {what}")
    duration = to_frames(placed.duration, rate, f"duration of {what}")
    original = originals.get(placed.start_time.to_frames())
    if not isinstance(original, otio.schema.Clip) or not isinstance(data.get("job_id"), str):
        raise TimelineError(
            f"{what} at record frame {record} has no picture clip under it on track "
            f"{data.get('source_track')!r}, or no Keydub job id; render the timeline again"
        )
    media_rate = exact_rate(clip.source_range.start_time.rate)
    source_start = to_frames(clip.source_range.start_time, media_rate, f"source start of {what}")
    render_start = to_frames(clip.available_range().start_time, media_rate, f"media start of {what}")
    render = _file(clip, base_dir, what)
    source = _file(original, base_dir, f"picture clip {original.name!r}")
    return Placement(
        job_id=data["job_id"],
        job_hash=str(data.get("job_hash", "")),
        dub=dub,
        clip_name=str(data.get("source_clip", original.name)),
        picture_track=str(data.get("source_track", "")),
        record_frame=record,
        duration=duration,
        head=source_start - render_start,
        render_path=str(render),
        render_start=render_start,
        frame_rate=media_rate,
        source_path=str(source),
        source_start=source_start,
        qc=dict(data.get("qc", {})),
    )


def _file(clip: otio.schema.Clip, base_dir: Path | None, what: str) -> Path:
    path = resolve_media_path(clip.media_reference.target_url, base_dir or Path())
    if not path.is_absolute():
        raise TimelineError(
            f"{what} has a relative media path {clip.media_reference.target_url!r}; Resolve needs "
            "absolute paths: read the result from its .otio file, or render the timeline again"
        )
    return path

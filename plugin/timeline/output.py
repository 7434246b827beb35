"""Rendered clips back into a timeline: a copy of the input with a new video track above the picture.

The new track holds, at the record positions of the originals, clips that reference the rendered files with the
same `source_range` as the originals: a render carries the source timecode of its first frame and covers the
handles, so its available range is the source range widened by the handles. Everything else on the track is a
gap, and a dissolve between two rendered clips is mirrored. Each new clip carries the QC marker
(`keydub.plugin.qc_marker`): the job id and the QC figures in `metadata["keydub"]`, the disclosure label and the
figures as its note, which Resolve imports as a clip marker; the clip's own `metadata["keydub"]` names the label and
the render's Content Credentials (`manifest_id`). The result stays Resolve-shaped (`Clip.2` with a
`DEFAULT_MEDIA` reference holding a bare path and an available range, `Resolve_OTIO` track metadata) when the
input was a Resolve export, so File > Import > Timeline accepts it.
"""

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from keydub.core.disclosure import DISCLOSURE_LABEL
from keydub.plugin.qc_marker import MARKER_NAME, qc_colour, qc_figures, qc_note
from keydub.plugin.timeline.plan import PlannedClip, TimelinePlan
from keydub.plugin.timeline.timecode import format_timecode, time_range, to_frames
from keydub.plugin.timeline.tracks import METADATA_KEY, tracks_of_kind


# Resolve's own key for the one media reference of a clip (`otio.schema.Clip.DEFAULT_MEDIA_KEY`).
_MEDIA_KEY = "DEFAULT_MEDIA"


@dataclass(frozen=True)
class RenderedClip:
    """A picture clip and the file rendered for it.

    Args:
        planned (`PlannedClip`): the clip as planned (a job, record position, handles).
        output (`Path`): the rendered file (absolute).
        job_hash (`str`): the job's content hash.
        qc (`dict[str, Any]`): figures from the render's report, recorded in the new clip's metadata.
    """

    planned: PlannedClip
    output: Path
    job_hash: str
    qc: dict[str, Any] = field(default_factory=dict)


def output_track_name(timeline: otio.schema.Timeline, dub_label: str) -> tuple[str, int]:
    """`("Keydub <dub> v<N>", N)` with the first version number no track of the timeline uses yet."""
    base = f"Keydub {dub_label}"
    pattern = re.compile(rf"^{re.escape(base)} v(\d+)\b")
    used = [
        int(match.group(1))
        for ref in tracks_of_kind(timeline, otio.schema.TrackKind.Video)
        if (match := pattern.match(ref.track.name))
    ]
    version = max(used, default=0) + 1
    return f"{base} v{version}", version


def timeline_with_results(
    timeline: otio.schema.Timeline, plan: TimelinePlan, rendered: Sequence[RenderedClip]
) -> otio.schema.Timeline:
    """A copy of `timeline` with the rendered clips on a new video track above the picture.

    Args:
        timeline (`otio.schema.Timeline`): the input timeline (not modified).
        plan (`TimelinePlan`): the plan the renders came from.
        rendered (`Sequence[RenderedClip]`): the finished renders (any subset of the plan's jobs).

    Returns:
        `otio.schema.Timeline`: the new timeline. With renders from several picture tracks, one new track per
        picture track, each named after it.
    """
    result = copy.deepcopy(timeline)
    name, version = output_track_name(timeline, plan.dub_label)
    by_track: dict[int, dict[int, RenderedClip]] = {}
    for item in rendered:
        by_track.setdefault(item.planned.track_index, {})[item.planned.item_index] = item
    is_resolve = "Resolve_OTIO" in timeline.metadata
    new_tracks = []
    for track_index in sorted(by_track):
        picture = timeline.tracks[track_index]
        track_name = name if len(by_track) == 1 else f"{name} ({picture.name or f'track {track_index + 1}'})"
        metadata = {
            METADATA_KEY: {"role": "output", "dub": plan.dub_label, "version": version, "picture_track": picture.name}
        }
        if is_resolve:
            metadata["Resolve_OTIO"] = {"Locked": False}
        track = otio.schema.Track(name=track_name, kind=otio.schema.TrackKind.Video, metadata=metadata)
        _fill_track(track, picture, by_track[track_index], plan, is_resolve)
        new_tracks.append(track)
    # Above every video track (later children of the stack are composited on top), below nothing that matters:
    # audio tracks do not stack with pictures.
    video_positions = [ref.index for ref in tracks_of_kind(result, otio.schema.TrackKind.Video)]
    position = max(video_positions, default=-1) + 1
    for offset, track in enumerate(new_tracks):
        result.tracks.insert(position + offset, track)
    result.metadata[METADATA_KEY] = {
        "output_tracks": [track.name for track in new_tracks],
        "dub": plan.dub_label,
        "version": version,
    }
    return result


def _fill_track(
    track: otio.schema.Track,
    picture: otio.schema.Track,
    rendered: dict[int, RenderedClip],
    plan: TimelinePlan,
    is_resolve: bool,
) -> None:
    """Gaps and rendered clips at the picture track's positions; dissolves between two rendered clips kept."""
    rate = plan.rate
    pending_gap = 0
    previous_rendered = False
    ranges = picture.range_of_all_children()
    for index, item in enumerate(picture):
        if isinstance(item, otio.schema.Transition):
            is_between_renders = previous_rendered and index + 1 in rendered
            if is_between_renders:
                track.append(copy.deepcopy(item))
            continue
        duration = to_frames(ranges[item].duration, rate, f"duration of {item.name!r}")
        if index not in rendered:
            pending_gap += duration
            previous_rendered = False
            continue
        if pending_gap:
            track.append(otio.schema.Gap(source_range=time_range(0, pending_gap, rate)))
            pending_gap = 0
        track.append(_rendered_clip(item, rendered[index], plan, is_resolve))
        previous_rendered = True
    if pending_gap:
        track.append(otio.schema.Gap(source_range=time_range(0, pending_gap, rate)))


def _rendered_clip(
    original: otio.schema.Clip, rendered: RenderedClip, plan: TimelinePlan, is_resolve: bool
) -> otio.schema.Clip:
    planned = rendered.planned
    job = planned.job
    assert job is not None, "only planned jobs are rendered"
    source = original.trimmed_range()
    # Written in the original's own rate double, so the source range and the available range compare exactly.
    media_rate = source.start_time.rate
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(float(planned.source_start - planned.head), media_rate),
        otio.opentime.RationalTime(float(job.frame_count), media_rate),
    )
    reference = otio.schema.ExternalReference(target_url=str(rendered.output), available_range=available)
    reference.name = rendered.output.name
    clip = otio.schema.Clip(name=rendered.output.name, source_range=copy.deepcopy(source))
    clip.set_media_references({_MEDIA_KEY: reference}, _MEDIA_KEY)
    clip.metadata[METADATA_KEY] = {
        "job_id": job.job_id,
        "job_hash": rendered.job_hash,
        "source_clip": planned.name,
        "source_track": planned.track,
        "record_timecode": format_timecode(planned.record_start, plan.rate),
        "handles": [planned.head, planned.tail],
        "audio": [piece.label for piece in job.audio_pieces],
        "qc": rendered.qc,
        # What the render is, and the Content Credentials that say so (no manifest id: rendered with provenance off).
        "label": DISCLOSURE_LABEL,
        "manifest_id": rendered.qc.get("manifest_id"),
    }
    clip.markers.append(qc_marker(job.job_id, rendered.qc, source.start_time, is_resolve))
    return clip


def qc_marker(job_id: str, qc: dict[str, Any], at: otio.opentime.RationalTime, is_resolve: bool) -> otio.schema.Marker:
    """The QC marker of a rendered clip: one frame at `at` (the clip's first source frame), its figures in
    `metadata["keydub"]` and as its note (`comment`, and `Resolve_OTIO.Note`, where Resolve's importer reads it)."""
    note = qc_note(qc)
    metadata: dict[str, Any] = {METADATA_KEY: {"job_id": job_id, **qc_figures(qc)}}
    if is_resolve:
        metadata["Resolve_OTIO"] = {"Keywords": [], "Note": note}
    return otio.schema.Marker(
        name=MARKER_NAME,
        comment=note,
        color=qc_colour(qc).upper(),
        metadata=metadata,
        marked_range=otio.opentime.TimeRange(at, otio.opentime.RationalTime(1, at.rate)),
    )

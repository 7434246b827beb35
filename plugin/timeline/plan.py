"""From a dubbing timeline to a plan: one `ClipJob` per picture clip to render, a reason for every clip left alone.

`plan_timeline` reads the timeline and never changes it. For each picture clip it works out, in whole frames at
the media's rate, the source range, the handles the media can give, the record position, and the dub audio under
all of it, assembled into one buffer and (unless planning a dry run) cached as a WAV named after its content.
"""

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import opentimelineio as otio

from keydub.core.audio.framing import MODEL_SAMPLE_RATE
from keydub.core.errors import AudioError, InvalidParameterError, TimelineError, UnsupportedMediaError
from keydub.core.files import path_kind
from keydub.core.media import MediaInfo, probe, require_constant_frame_rate
from keydub.core.render.options import RenderOptions
from keydub.plugin.cluster.path_map import PathMap
from keydub.plugin.jobs import AudioPiece, ClipJob, SourceFile
from keydub.plugin.timeline.audio import (
    DubTrackIndex,
    assemble_audio,
    cached_wav,
    is_silent,
    pieces_under,
    sample_index,
)
from keydub.plugin.timeline.clips import (
    ClipSettings,
    empty_range,
    media_path_problems,
    range_problem,
    read_clip_settings,
    resolve_media_path,
    unrenderable_reason,
)
from keydub.plugin.timeline.timecode import format_rate, format_timecode, to_frames
from keydub.plugin.timeline.tracks import (
    TrackRef,
    keydub_metadata,
    placed_items,
    record_origin,
    select_dub_tracks,
    select_picture_tracks,
    timeline_rate,
)


if TYPE_CHECKING:  # the cast package plans with this module
    from keydub.plugin.cast.cast_file import Cast

# Editors' usual handle length: half a second at 24 fps, enough to trim or add a short dissolve after the render.
DEFAULT_HANDLES = 12
# How QC names the dub of a character without its own dub track.
MIXED_DUB = "mixed dub"
# Listing every path problem of a 2000-clip timeline helps nobody; the first few show the pattern.
_MAX_LISTED_PROBLEMS = 10


@dataclass(frozen=True)
class PlanOptions:
    """What to render from a timeline.

    Args:
        picture_tracks (`tuple[str, ...]`): video track names; empty for every enabled video track.
        dub_tracks (`tuple[str, ...]`): audio track names holding the dub dialogue (summed when several).
        dub_language (`str | None`): pick the dub track(s) by language instead (`metadata["keydub"]["lang"]` or a
            word of the track name).
        handles (`int`, defaults to 12): frames rendered before and after each clip, clamped to the media.
        only (`tuple[str, ...]`): clip names or clip ids to plan; empty for all.
        sample_rate (`int`, defaults to 16000): rate of the assembled dub audio.
        render_options (`RenderOptions`): render options for every clip (a mapping of option names is read into
            one, the rest at their defaults).
        relink (`PathMap`): the editor's media folders as this machine mounts them (`--relink FROM=TO`).
        require_consent (`bool`): refuse the batch, before any render, when a face to regenerate has no consent
            reference (`--require-consent`).
        cast (`Cast | None`): the characters to lip-sync in each shot, each with its own dub track or the mixed dub
            (`--cast cast.toml`, see `keydub.plugin.timeline.cast`); `None` for one face per clip.
    """

    picture_tracks: tuple[str, ...] = ()
    dub_tracks: tuple[str, ...] = ()
    dub_language: str | None = None
    handles: int = DEFAULT_HANDLES
    only: tuple[str, ...] = ()
    sample_rate: int = MODEL_SAMPLE_RATE
    render_options: RenderOptions = field(default_factory=RenderOptions)
    relink: PathMap = field(default_factory=PathMap)
    require_consent: bool = False
    cast: "Cast | None" = None

    def __post_init__(self) -> None:
        if not isinstance(self.render_options, RenderOptions):
            object.__setattr__(self, "render_options", RenderOptions.from_dict(self.render_options))

    def check(self) -> None:
        """Raise `InvalidParameterError` for a value that cannot be used."""
        if not (isinstance(self.handles, int) and self.handles >= 0):
            raise InvalidParameterError(f"handles must be a whole number of frames >= 0, not {self.handles!r}")
        if not (isinstance(self.sample_rate, int) and 8_000 <= self.sample_rate <= 192_000):
            raise InvalidParameterError(
                f"the audio sample rate must be between 8000 and 192000 Hz, not {self.sample_rate!r}"
            )


@dataclass(frozen=True)
class PlannedClip:
    """One picture clip of the timeline and what the batch does with it.

    Args:
        clip_id (`str`): `metadata["keydub"]["id"]` when set, else `"<track>@<record timecode>"`.
        name (`str`): the clip's name.
        track (`str`): its track's name.
        track_index (`int`), item_index (`int`): where it is: `timeline.tracks[track_index][item_index]`.
        record_start (`int`): record frame of its first frame, absolute (the timeline's start timecode included).
        duration (`int`): frames on the timeline.
        source_start (`int | None`): source frame of its first frame in the media's time (as in `source_range`).
        head (`int`), tail (`int`): handle frames granted before and after.
        job (`ClipJob | None`): the render job; `None` when the clip is skipped.
        skip_reason (`str | None`): why the clip is left alone.
        cast_notes (`tuple[str, ...]`): what a render by the cast leaves out of the shot, one line each (a
            character whose dub speaks under it but whose face is not in it; one that is silent there).
    """

    clip_id: str
    name: str
    track: str
    track_index: int
    item_index: int
    record_start: int
    duration: int
    source_start: int | None = None
    head: int = 0
    tail: int = 0
    job: ClipJob | None = None
    skip_reason: str | None = None
    cast_notes: tuple[str, ...] = ()

    def cast_qc(self) -> dict[str, Any]:
        """Who the clip's render syncs, with the match distances, and what it leaves out, for its QC record and
        marker (empty for a clip rendered without a cast)."""
        if self.job is None or not self.job.speakers:
            return {}
        return {
            "speakers": [
                {
                    "character": speaker.character,
                    "track_id": speaker.track_id,
                    "distance": None if speaker.distance is None else round(speaker.distance, 4),
                    "dub": speaker.dub_track or MIXED_DUB,
                }
                for speaker in self.job.speakers
            ],
            "cast_notes": list(self.cast_notes),
        }


@dataclass(frozen=True)
class TimelinePlan:
    """Everything a batch will do with a timeline.

    Args:
        timeline_name (`str`): the timeline's name.
        rate (`Fraction`): the record frame rate.
        dub_label (`str`): the dub track(s), e.g. `"DX es-419"`; names the output track and keys the jobs.
        clips (`tuple[PlannedClip, ...]`): every picture clip, in track order then record order.
    """

    timeline_name: str
    rate: Fraction
    dub_label: str
    clips: tuple[PlannedClip, ...]

    @property
    def jobs(self) -> list[ClipJob]:
        """The render jobs, in plan order."""
        return [clip.job for clip in self.clips if clip.job is not None]

    def input_files(self) -> dict[str, Path]:
        """Every file the jobs read (each clip's media and dub audio), by a label for messages: never an output."""
        files: dict[str, Path] = {}
        for job in self.jobs:
            files[f"media of clip {job.name!r}"] = job.source.path
            for piece in job.audio_pieces:
                files[f"dub audio {piece.path.name}"] = piece.path
        return files


def plan_timeline(
    timeline: otio.schema.Timeline,
    base_dir: Path,
    audio_cache: Path,
    options: PlanOptions | None = None,
    write_audio: bool = True,
) -> TimelinePlan:
    """Plan the batch render of a dubbing timeline.

    Args:
        timeline (`otio.schema.Timeline`): the timeline (not modified).
        base_dir (`Path`): folder that relative media paths are relative to (the timeline file's folder).
        audio_cache (`Path`): folder of the assembled dub audio, one `<sha256>.wav` per distinct buffer.
        options (`PlanOptions | None`): tracks, handles, clip selection and render options.
        write_audio (`bool`, defaults to `True`): write missing audio files; `False` for a dry run, which only
            computes them (jobs name their audio file either way).

    Returns:
        `TimelinePlan`: a job for each clip to render, a reason for each clip left alone.

    Raises:
        `TimelineError`: no picture clips, unknown track names, or media paths no clip could be rendered from.
        `InvalidParameterError`: a bad option or an `only` name that matches no clip.
    """
    # 1. Check the options; find the record clock, the picture clips and the dub tracks.
    options = options or PlanOptions()
    options.check()
    base_dir = Path(base_dir).absolute()
    rate = timeline_rate(timeline)
    origin = record_origin(timeline, rate)
    picture_tracks = select_picture_tracks(timeline, options.picture_tracks)
    entries = _picture_items(picture_tracks, rate, origin)
    if not entries:
        tracks = ", ".join(repr(ref.label) for ref in picture_tracks)
        raise TimelineError(
            f"timeline {timeline.name!r} has no clips on its picture track(s) {tracks}; "
            "export the timeline with the picture cut, or choose tracks with --video-track"
        )
    dub_tracks = select_dub_tracks(timeline, options.dub_tracks, options.dub_language)
    dub_label = " + ".join(ref.label for ref in dub_tracks)

    # 2. Keep the picture clips asked for; what is left alone anyway (stills, titles, generators, empty ranges,
    #    retimes...) is skipped here, each with its reason, before anything could refuse the whole timeline.
    _check_unique_ids(entries)
    entries = _select(entries, options.only)
    entries = [(_first_skip(entry, item, base_dir, options), item) for entry, item in entries]
    candidates = [(entry, item) for entry, item in entries if entry.skip_reason is None]

    # 3. Refuse ranges no edit can have and media paths no clip could be rendered from, on the clips that would
    #    be rendered and the dub tracks: the user must fix these first.
    dub_clips = [
        (f"{ref.label} clip {clip.name!r}", clip)
        for ref in dub_tracks
        for clip in ref.track.find_clips(shallow_search=True)
    ]
    picture_clips = [(f"{entry.track} clip {entry.name!r}", item) for entry, item in candidates]
    _refuse_problems(
        [f"{label}: {problem}" for label, clip in picture_clips if (problem := range_problem(clip)) is not None]
        + [
            f"{label}: {problem}"
            for label, clip in dub_clips
            if (problem := range_problem(clip) or empty_range(clip)) is not None
        ],
        "have ranges no edit can have",
        "Fix the clips' in and out points in your editor and export the timeline again.",
    )
    _refuse_problems(
        media_path_problems(picture_clips + dub_clips, base_dir, options.relink),
        "point at media paths Keydub cannot use",
        "Mount the media drive, map the editor's folders onto this machine with --relink FROM=TO, or relink "
        "the clips in your editor and export the timeline again (or leave those clips out with --only).",
        unit="path(s)",
    )

    # 4. Plan each clip.
    context = _ClipContext(
        timeline=timeline,
        rate=rate,
        origin=origin,
        base_dir=base_dir,
        dub_tracks=dub_tracks,
        dub_label=dub_label,
        options=options,
        audio_cache=Path(audio_cache).absolute(),
        write_audio=write_audio,
    )
    planned = [
        _plan_clip(entry, item, picture_tracks, context) if entry.skip_reason is None else entry
        for entry, item in entries
    ]
    return TimelinePlan(timeline_name=timeline.name, rate=rate, dub_label=dub_label, clips=tuple(planned))


def _first_skip(entry: PlannedClip, item: otio.core.Composable, base_dir: Path, options: PlanOptions) -> PlannedClip:
    """`entry` with the reason it is left alone whatever its media holds, if there is one."""
    if entry.skip_reason is not None:
        return entry
    try:
        settings = read_clip_settings(item, base_dir, options.relink)
    except InvalidParameterError as error:
        return replace(entry, skip_reason=f"invalid Keydub settings: {error}")
    return replace(entry, skip_reason=unrenderable_reason(item, settings))


def _refuse_problems(problems: list[str], what: str, fix: str, unit: str = "clip(s)") -> None:
    """One `TimelineError` listing the first problems (one line each, naming the clip or the folder), when there
    are any: a list, so a multi-line message."""
    if not problems:
        return
    listed = "\n  ".join(problems[:_MAX_LISTED_PROBLEMS])
    hidden = len(problems) - _MAX_LISTED_PROBLEMS
    more = f"\n  ... and {hidden} more" if hidden > 0 else ""
    raise TimelineError(f"{len(problems)} {unit} {what}:\n  {listed}{more}\n{fix}")


@dataclass(frozen=True)
class _ClipContext:
    timeline: otio.schema.Timeline
    rate: Fraction
    origin: int
    base_dir: Path
    dub_tracks: list[TrackRef]
    dub_label: str
    options: PlanOptions
    audio_cache: Path
    write_audio: bool
    # Probes by media path: an episode cuts back to the same camera files hundreds of times.
    probes: dict[Path, MediaInfo] = field(default_factory=dict)
    # Placed clips of each dub track, by the track's index in the stack.
    dub_indexes: dict[int, DubTrackIndex] = field(default_factory=dict)

    def dub_index(self, ref: TrackRef) -> DubTrackIndex:
        return self.dub_indexes.get(ref.index) or self.dub_indexes.setdefault(ref.index, DubTrackIndex(ref))


def _picture_items(
    tracks: list[TrackRef], rate: Fraction, origin: int
) -> list[tuple[PlannedClip, otio.core.Composable]]:
    """Every clip and nested stack on the picture tracks, with its record position."""
    entries = []
    for ref in tracks:
        for index, item, placed in placed_items(ref.track):
            if not isinstance(item, (otio.schema.Clip, otio.schema.Stack)):
                continue  # gaps
            record_start = origin + to_frames(placed.start_time, rate, f"record start of {item.name!r}")
            duration = to_frames(placed.duration, rate, f"duration of {item.name!r}")
            stamped = keydub_metadata(item).get("id")
            clip_id = (
                stamped
                if isinstance(stamped, str) and stamped
                else f"{ref.label}@{format_timecode(record_start, rate)}"
            )
            if duration == 0 and clip_id != stamped:
                # A zero-length clip shares its record position with the next clip; it is skipped, but its id
                # must still be its own.
                clip_id = f"{clip_id}#{index}"
            entry = PlannedClip(
                clip_id=clip_id,
                name=item.name,
                track=ref.label,
                track_index=ref.index,
                item_index=index,
                record_start=record_start,
                duration=duration,
            )
            if isinstance(item, otio.schema.Stack):
                entry = replace(
                    entry,
                    skip_reason="a nested timeline (compound clip) is not supported yet; decompose it in your editor",
                )
            entries.append((entry, item))
    return entries


def _check_unique_ids(entries: list[tuple[PlannedClip, otio.core.Composable]]) -> None:
    seen: dict[str, PlannedClip] = {}
    for entry, _ in entries:
        other = seen.setdefault(entry.clip_id, entry)
        if other is not entry:
            raise TimelineError(
                f"clips {other.name!r} ({other.track}) and {entry.name!r} ({entry.track}) have the "
                f"same Keydub id {entry.clip_id!r}; give one of them another metadata keydub.id (or "
                "rename one of two tracks with the same name)"
            )


def _select(
    entries: list[tuple[PlannedClip, otio.core.Composable]], only: tuple[str, ...]
) -> list[tuple[PlannedClip, otio.core.Composable]]:
    if not only:
        return entries
    known = {entry.name for entry, _ in entries} | {entry.clip_id for entry, _ in entries}
    missing = [name for name in only if name not in known]
    if missing:
        names = ", ".join(sorted({repr(entry.name) for entry, _ in entries}))
        raise InvalidParameterError(f"no picture clip is named {', '.join(map(repr, missing))}; clips: {names}")
    return [(entry, item) for entry, item in entries if entry.name in only or entry.clip_id in only]


class _SkipClip(Exception):
    """A clip is left alone; the message is the reason shown to the user."""


def _plan_clip(
    entry: PlannedClip, clip: otio.schema.Clip, picture_tracks: list[TrackRef], context: _ClipContext
) -> PlannedClip:
    """Plan one clip: a job, or the same entry with a skip reason."""
    try:
        # 1. Keydub's settings (already checked by `_first_skip`).
        settings = read_clip_settings(clip, context.base_dir, context.options.relink)
        # 2. The media file and what it holds.
        info = _probe_media(clip, context)
        # 3. Source range, media extent and handles, in whole frames of the media's own time.
        source_start, head, tail, media_origin = _source_span(
            clip, info, entry, picture_tracks, context.options.handles
        )
        entry = replace(entry, source_start=source_start, head=head, tail=tail)
        # 4. The dub audio under the clip and its handles.
        pieces, samples = _dub_audio(entry, settings, context)
    except (_SkipClip, TimelineError, AudioError, UnsupportedMediaError, InvalidParameterError) as error:
        return replace(entry, skip_reason=str(error))

    # 5. The audio file the render reads, named after its content so that equal audio is written once.
    sample_rate = context.options.sample_rate
    audio_file, digest = cached_wav(context.audio_cache, samples, sample_rate, context.write_audio)

    # 6. The job.
    start_frame = source_start - head - media_origin
    job = ClipJob(
        job_id=f"{context.dub_label}/{entry.clip_id}",
        name=entry.name,
        source=SourceFile.of(info.path),
        frame_rate=info.frame_rate,
        start_frame=start_frame,
        end_frame=start_frame + head + entry.duration + tail,
        timecode_start=info.start_frame + start_frame,
        audio_pieces=tuple(pieces),
        audio_file=audio_file,
        audio_sha256=digest,
        audio_sample_rate=sample_rate,
        face=settings.face,
        occluders=settings.occluders,
        options=context.options.render_options.with_params(settings.params),
    )
    return replace(entry, job=job)


def _probe_media(clip: otio.schema.Clip, context: _ClipContext) -> MediaInfo:
    path = resolve_media_path(clip.media_reference.target_url, context.base_dir, context.options.relink)
    kind = path_kind(path)
    if kind == "nothing":
        raise _SkipClip(f"media offline: {path} not found; relink the clip")
    if kind != "a file":
        raise _SkipClip(f"the clip's media {path} is {kind}, not a movie file; relink the clip to its file")
    info = context.probes.get(path) or context.probes.setdefault(path, probe(path))
    require_constant_frame_rate(info)
    if info.frame_rate != context.rate:
        raise _SkipClip(
            f"the media runs at {format_rate(info.frame_rate)} fps on a {format_rate(context.rate)} fps "
            "timeline; Keydub renders clips at the timeline's rate only: conform the media first"
        )
    return info


def _source_span(
    clip: otio.schema.Clip, info: MediaInfo, entry: PlannedClip, picture_tracks: list[TrackRef], handles: int
) -> tuple[int, int, int, int]:
    """`(source_start, head, tail, media_origin)` in frames of the media's time.

    `media_origin` is the media time of the file's first frame: the reference's available range start when the
    timeline gives one (timecode-absolute in Resolve exports, 0 in some tools), else the file's own timecode.
    """
    rate = info.frame_rate
    name = repr(clip.name)
    source = clip.trimmed_range()
    source_start = to_frames(source.start_time, rate, f"source start of {name}")
    source_end = source_start + to_frames(source.duration, rate, f"source duration of {name}")
    available = clip.media_reference.available_range
    if available is not None:
        media_origin = to_frames(available.start_time, rate, f"media start of {name}")
        if media_origin not in (0, info.start_frame):
            raise _SkipClip(
                f"the timeline places the media at {format_timecode(media_origin, rate)} but the file "
                f"starts at {format_timecode(info.start_frame, rate)}; relink the clip to the right file"
            )
        media_end = min(
            media_origin + info.frame_count,
            media_origin + to_frames(available.duration, rate, f"media duration of {name}"),
        )
    else:
        media_origin = info.start_frame
        media_end = media_origin + info.frame_count
    if source_start < media_origin or source_end > media_end:
        raise _SkipClip(
            f"the clip uses source frames {format_timecode(source_start, rate)}-"
            f"{format_timecode(source_end, rate)} but the media holds only "
            f"{format_timecode(media_origin, rate)}-{format_timecode(media_end, rate)}; relink it to the "
            "full-length media"
        )
    if source_end - source_start != entry.duration:
        raise _SkipClip("the clip's source and record durations differ (a speed change?); bake the retime first")
    # A dissolve shows the clip's media beyond its cut points, so the handles must cover the transition.
    track = next(ref.track for ref in picture_tracks if ref.index == entry.track_index)
    in_transition, out_transition = track.handles_of_child(clip)
    wanted_head = max(handles, to_frames(in_transition, rate, f"transition into {name}") if in_transition else 0)
    wanted_tail = max(handles, to_frames(out_transition, rate, f"transition out of {name}") if out_transition else 0)
    head = min(wanted_head, source_start - media_origin)
    tail = min(wanted_tail, media_end - source_end)
    return source_start, head, tail, media_origin


def _dub_audio(
    entry: PlannedClip, settings: ClipSettings, context: _ClipContext
) -> tuple[list[AudioPiece], np.ndarray]:
    """The audio pieces under the clip and its handles, and the assembled samples."""
    rate = context.rate
    window_start, window_duration = dub_window(entry, rate, context.origin)
    override = settings.audio
    if override is not None and override.file is not None:
        if not override.file.is_file():
            raise _SkipClip(
                f"the clip's dub audio file {override.file} does not exist; fix metadata keydub.audio.file"
            )
        file_start = override.file_start - Fraction(entry.head) / rate
        # Before the file's first sample (a line starting right at the cut, with handles) plays silence.
        skipped = max(Fraction(0), -file_start)
        pieces = [
            AudioPiece(
                path=override.file,
                file_start=file_start + skipped,
                duration=window_duration - skipped,
                offset=skipped,
                label=f"file: {override.file.name}",
            )
        ]
        label = override.file.name
    else:
        tracks = context.dub_tracks
        if override is not None:
            tracks = select_dub_tracks(context.timeline, override.tracks, override.language)
        label = " + ".join(ref.label for ref in tracks)
        pieces = pieces_under(
            [context.dub_index(ref) for ref in tracks],
            window_start,
            window_start + window_duration,
            context.base_dir,
            context.options.relink,
        )
    record_from = Fraction(entry.head) / rate
    record_to = record_from + Fraction(entry.duration) / rate
    if not any(piece.offset < record_to and piece.offset + piece.duration > record_from for piece in pieces):
        raise _SkipClip(f"no dialogue under the clip on {label}")
    samples = assemble_audio(pieces, window_duration, context.options.sample_rate)
    if not speaks_under(entry, samples, rate, context.options.sample_rate):
        raise _SkipClip(f"the dub audio under the clip on {label} is silent")
    return pieces, samples


def dub_window(entry: PlannedClip, rate: Fraction, origin: int) -> tuple[Fraction, Fraction]:
    """`(start, duration)` in seconds of the clip and its handles on the timeline's audio clock."""
    start = Fraction(entry.record_start - origin - entry.head) / rate
    return start, Fraction(entry.head + entry.duration + entry.tail) / rate


def speaks_under(entry: PlannedClip, samples: np.ndarray, rate: Fraction, sample_rate: int) -> bool:
    """Whether the audio of a clip's window (`dub_window`) holds dialogue under the clip itself, handles left out."""
    record_from = Fraction(entry.head) / rate
    record_to = record_from + Fraction(entry.duration) / rate
    return not is_silent(samples[sample_index(record_from, sample_rate) : sample_index(record_to, sample_rate)])

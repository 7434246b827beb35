"""The panel's controller: clips and their sessions, the current clip, jobs, states and export, without Qt.

Widgets read from it and call it; it reports every change through typed events (`keydub.plugin.panel.events`),
so the same controller runs in tests without a `QApplication` and behind any front end:

- `ClipsChanged`: the clip list was replaced (a video or timeline was opened).
- `ClipChanged(clip_id)`: a clip's session changed (face, range, occluders, params).
- `CurrentChanged(clip_id)`: another clip became the current one.
- `OptionsChanged`: the folder's render options or handles changed (every job may have changed).
"""

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import opentimelineio as otio

from keydub.core.errors import InvalidParameterError, KeydubError, TimelineError
from keydub.core.media import MediaInfo, probe
from keydub.core.render.options import RenderOptions
from keydub.core.render.request import FaceChoice
from keydub.plugin.jobs import CastSpeaker, ClipJob
from keydub.plugin.panel.events import ClipChanged, ClipsChanged, CurrentChanged, EventSource, OptionsChanged
from keydub.plugin.panel.session import ClipSession, OpenedSource, SessionStore
from keydub.plugin.panel.sources import (
    SINGLE_CLIP_ID,
    SINGLE_DUB_TRACK,
    check_dub,
    single_clip_position,
    single_clip_timeline,
)
from keydub.plugin.panel.status import ClipStatus, clip_status
from keydub.plugin.store import JobState, JobStore
from keydub.plugin.timeline.clips import PER_CLIP_PARAMS
from keydub.plugin.timeline.otio_file import read_timeline, write_timeline
from keydub.plugin.timeline.output import RenderedClip, timeline_with_results
from keydub.plugin.timeline.plan import DEFAULT_HANDLES, PlannedClip, PlanOptions, TimelinePlan, plan_timeline
from keydub.plugin.timeline.timecode import format_timecode
from keydub.plugin.timeline.tracks import METADATA_KEY


logger = logging.getLogger(__name__)


@dataclass
class OpenedFolder:
    """Everything `PanelController.apply` needs, computed off the UI thread by `load_video` / `load_timeline`.

    Args:
        source (`OpenedSource`): what was opened.
        out_dir (`Path`): the output folder (renders, job store, sessions).
        timeline (`otio.schema.Timeline`): the timeline the clips come from (one clip for a single video).
        base_dir (`Path`): folder that relative media paths are resolved against.
        sessions (`list[ClipSession]`): one per renderable clip, restored from the folder where stored.
        render_options (`RenderOptions`): the folder's render options (stored ones win over the defaults given).
        handles (`int`): handle frames before and after each clip.
        positions (`dict[str, tuple[int, int]]`): each session's picture clip as `(track index, item index)` in
            `timeline.tracks`.
        jobs (`dict[str, ClipJob]`): each clip's job as the timeline plans it, before the session's edits.
        infos (`dict[Path, MediaInfo]`): the probes of the clips' media.
        skipped (`list[tuple[str, str]]`): `(clip name, reason)` of clips that cannot be rendered.
    """

    source: OpenedSource
    out_dir: Path
    timeline: otio.schema.Timeline
    base_dir: Path
    sessions: list[ClipSession]
    render_options: RenderOptions = field(default_factory=RenderOptions)
    handles: int = DEFAULT_HANDLES
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    jobs: dict[str, ClipJob] = field(default_factory=dict)
    infos: dict[Path, MediaInfo] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DubAudioWrite:
    """The dub audio excerpts some clips' jobs read, to write off the UI thread (`PanelController.dub_audio_write`).

    Cutting a long clip's excerpt out of the dub and writing it as a WAV is real I/O; a window runs `run` on the
    thread that then submits the jobs, in that order.

    Args:
        timeline (`otio.schema.Timeline`): the timeline the jobs were planned from (replaced, never changed, by an
            edit, so another thread may read it).
        base_dir (`Path`), audio_cache (`Path`), options (`PlanOptions`): as `plan_timeline` takes them.
        audio_files (`tuple[Path, ...]`): the files the jobs name (their names are the audio's content hash).
        stems (`tuple[DubAudioWrite, ...]`): the speakers' own stems, each planned from its character's dub track.
    """

    timeline: otio.schema.Timeline
    base_dir: Path
    audio_cache: Path
    options: PlanOptions
    audio_files: tuple[Path, ...]
    stems: tuple["DubAudioWrite", ...] = ()

    def run(self) -> None:
        """Write the files that are missing. Safe on any thread.

        Raises:
            `KeydubError`: the dub cannot be read or the file cannot be written (`AudioError`,
                `OutputNotWritableError`), or the clips' audio changed since they were planned.
        """
        for stem in self.stems:
            stem.run()
        missing = [path for path in self.audio_files if not path.is_file()]
        if not missing:
            return
        plan = plan_timeline(self.timeline, self.base_dir, self.audio_cache, self.options, write_audio=True)
        for planned in plan.clips:
            if planned.job is None:  # e.g. the dub was moved or deleted since the clip was planned
                raise KeydubError(f"clip {planned.name!r} cannot be rendered: {planned.skip_reason}")
        still_missing = [path.name for path in missing if not path.is_file()]
        if still_missing:
            raise KeydubError(
                f"the dub audio changed while the job was being queued ({', '.join(still_missing)} was not written); "
                "render the clips again"
            )


def default_out_dir(path: Path) -> Path:
    """`<name>_keydub` beside a video or timeline, as `keydub timeline` does."""
    path = Path(path).absolute()
    return path.with_name(f"{path.stem}_keydub")


def load_video(
    video: Path,
    dub: Path,
    out_dir: Path | None = None,
    render_options: RenderOptions | Mapping[str, Any] | None = None,
    handles: int = DEFAULT_HANDLES,
    frame_range: tuple[int, int] | None = None,
) -> OpenedFolder:
    """Open one clip with its dub; the session stored in the output folder, if any, comes back as it was.

    `frame_range` (`[start, end)` frames of the file) is the range of a clip opened for the first time (default:
    the whole clip); a stored session keeps its own.

    Raises:
        `MediaNotFoundError` / `UnsupportedMediaError`: the video cannot be read.
        `AudioError`: the dub is missing or unreadable.
        `JobStoreError`: the stored sessions are damaged.
    """
    video, dub = Path(video).absolute(), Path(dub).absolute()
    info = probe(video)
    check_dub(dub)
    out_dir = Path(out_dir).absolute() if out_dir else default_out_dir(video)
    source = OpenedSource(video=video, dub=dub)
    stored_source, stored_options, stored = SessionStore(out_dir).load()
    session = stored.get(SINGLE_CLIP_ID) if stored_source == source else None
    if session is None:
        start, end = frame_range or (0, info.frame_count)
        if not 0 <= start < end <= info.frame_count:
            raise InvalidParameterError(
                f"the range [{start}, {end}) is not inside {video.name}'s {info.frame_count} frames"
            )
        session = ClipSession(
            clip_id=SINGLE_CLIP_ID, name=video.stem, video=video, start_frame=start, end_frame=end, dub=dub.name
        )
    session = session.with_changes(
        record_in=info.position_label(session.start_frame), record_out=info.position_label(session.end_frame - 1)
    )
    timeline = single_clip_timeline(info, dub, session.start_frame, session.end_frame)
    stored_options = stored_options if stored_source == source else {}
    opened = OpenedFolder(
        source=source,
        out_dir=out_dir,
        timeline=timeline,
        base_dir=video.parent,
        sessions=[session],
        render_options=_options(render_options, stored_options),
        handles=_handles(stored_options, handles),
        positions={SINGLE_CLIP_ID: single_clip_position(session.start_frame)},
        infos={video: info},
    )
    plan = plan_timeline(
        timeline, opened.base_dir, out_dir / ".keydub" / "audio", _plan_options(opened, ()), write_audio=False
    )
    opened.jobs = {clip.clip_id: clip.job for clip in plan.clips if clip.job is not None}
    return opened


def load_timeline(
    path: Path,
    dub_tracks: tuple[str, ...],
    out_dir: Path | None = None,
    render_options: RenderOptions | Mapping[str, Any] | None = None,
    handles: int = DEFAULT_HANDLES,
) -> OpenedFolder:
    """Open an OTIO dubbing timeline: one session per clip the planner can render, stored edits restored.

    Raises:
        `TimelineError`: the timeline cannot be read, or has no clip or no such dub track.
    """
    path = Path(path).absolute()
    timeline = read_timeline(path)
    out_dir = Path(out_dir).absolute() if out_dir else default_out_dir(path)
    source = OpenedSource(timeline=path, dub_tracks=tuple(dub_tracks))
    stored_source, stored_options, stored = SessionStore(out_dir).load()
    if stored_source != source:
        stored_options, stored = {}, {}
    options = _options(render_options, stored_options)
    plan = plan_timeline(
        timeline,
        path.parent,
        out_dir / ".keydub" / "audio",
        PlanOptions(dub_tracks=tuple(dub_tracks), handles=_handles(stored_options, handles), render_options=options),
        write_audio=False,
    )
    sessions, skipped, positions, jobs = [], [], {}, {}
    for planned in plan.clips:
        if planned.job is None:
            skipped.append((planned.name, planned.skip_reason or ""))
            continue
        sessions.append(stored.get(planned.clip_id) or _session_from_plan(planned, plan))
        positions[planned.clip_id] = (planned.track_index, planned.item_index)
        jobs[planned.clip_id] = planned.job
    if not sessions:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped[:3])
        raise TimelineError(f"no clip of {path.name} can be rendered with dub {plan.dub_label} ({reasons})")
    return OpenedFolder(
        source=source,
        out_dir=out_dir,
        timeline=timeline,
        base_dir=path.parent,
        sessions=sessions,
        render_options=options,
        handles=_handles(stored_options, handles),
        positions=positions,
        jobs=jobs,
        infos={job.source.path: probe(job.source.path) for job in jobs.values()},
        skipped=skipped,
    )


def _plan_options(opened: OpenedFolder, clip_ids: tuple[str, ...]) -> PlanOptions:
    dub_tracks = (SINGLE_DUB_TRACK,) if opened.source.video is not None else opened.source.dub_tracks
    return PlanOptions(
        dub_tracks=dub_tracks, handles=opened.handles, only=clip_ids, render_options=opened.render_options
    )


def _options(
    given: RenderOptions | Mapping[str, Any] | None, stored: Mapping[str, Any] | None = None
) -> RenderOptions:
    """Render options as given (ready, or option names and values; the rest at their defaults), with the folder's
    stored ones over them."""
    base = given.to_dict() if isinstance(given, RenderOptions) else dict(given or {})
    base.update((name, value) for name, value in (stored or {}).items() if name != "handles")
    return RenderOptions.from_dict(base, where="panel settings")


def _handles(stored: dict[str, Any], default: int) -> int:
    return int(stored.get("handles", default))


def _session_from_plan(planned: PlannedClip, plan: TimelinePlan) -> ClipSession:
    job = planned.job
    assert job is not None
    start = job.start_frame + planned.head
    return ClipSession(
        clip_id=planned.clip_id,
        name=planned.name,
        video=job.source.path,
        start_frame=start,
        end_frame=start + planned.duration,
        dub=plan.dub_label,
        record_in=format_timecode(planned.record_start, plan.rate),
        record_out=format_timecode(planned.record_start + planned.duration - 1, plan.rate),
        face=job.face,
        occluders=job.occluders,
    )


class PanelController(EventSource):
    """The clips of one output folder and what the editor chose for each.

    Args:
        render_options (`RenderOptions | Mapping | None`): the render options new folders start with (e.g. from
            the app's settings).
        handles (`int`, defaults to 12): handle frames new folders start with.
    """

    def __init__(
        self, render_options: RenderOptions | Mapping[str, Any] | None = None, handles: int = DEFAULT_HANDLES
    ) -> None:
        super().__init__()
        self.default_options = _options(render_options)
        self.default_handles = handles
        self.opened: OpenedFolder | None = None
        self._sessions: dict[str, ClipSession] = {}
        self._jobs: dict[str, ClipJob] = {}
        # Content hash of each clip's job, with the session and base job it was computed from (the clip list
        # asks for every clip's state every second; a long timeline must not hash every job each time).
        self._hashes: dict[str, tuple[ClipSession, ClipJob, tuple[CastSpeaker, ...], str]] = {}
        # Each clip's dub excerpt from another audio track (a character's own dub), by (clip id, track); `None`
        # where that track has no dialogue under the clip.
        self._stems: dict[tuple[str, str], Path | None] = {}
        self._speakers_source: Callable[[str], tuple[CastSpeaker, ...]] | None = None
        self.current_id: str | None = None

    # Opening ------------------------------------------------------------------------------------------------
    def open_video(self, video: Path, dub: Path, out_dir: Path | None = None) -> None:
        """`load_video` and `apply` in one call (for scripts and tests; the window loads on a thread)."""
        self.apply(load_video(video, dub, out_dir, self.default_options, self.default_handles))

    def open_timeline(self, path: Path, dub_tracks: tuple[str, ...], out_dir: Path | None = None) -> None:
        """`load_timeline` and `apply` in one call."""
        self.apply(load_timeline(path, dub_tracks, out_dir, self.default_options, self.default_handles))

    def apply(self, opened: OpenedFolder) -> None:
        """Make `opened` the folder being worked on (emits `ClipsChanged` then `CurrentChanged`)."""
        self.opened = opened
        self._sessions = {session.clip_id: session for session in opened.sessions}
        self._jobs = dict(opened.jobs)
        self._stems = {}
        self.current_id = opened.sessions[0].clip_id if opened.sessions else None
        self._save()
        self._emit(ClipsChanged())
        self._emit(CurrentChanged(self.current_id))

    # Reading ------------------------------------------------------------------------------------------------
    @property
    def sessions(self) -> list[ClipSession]:
        """Every clip's session, in timeline order."""
        return list(self._sessions.values())

    @property
    def current(self) -> ClipSession | None:
        return self._sessions.get(self.current_id) if self.current_id else None

    @property
    def out_dir(self) -> Path | None:
        return self.opened.out_dir if self.opened else None

    @property
    def options(self) -> RenderOptions:
        """The render options of the folder (or of new folders, when none is open)."""
        return self.opened.render_options if self.opened else self.default_options

    @property
    def render_options(self) -> dict[str, Any]:
        """`options` as option names and values."""
        return self.options.to_dict()

    @property
    def handles(self) -> int:
        return self.opened.handles if self.opened else self.default_handles

    def media_info(self, video: Path) -> MediaInfo:
        """The probe of a clip's media (probed when opening, so the UI thread never waits for it)."""
        assert self.opened is not None
        if video not in self.opened.infos:
            self.opened.infos[video] = probe(video)
        return self.opened.infos[video]

    @property
    def is_single_clip(self) -> bool:
        return self.opened is not None and self.opened.source.video is not None

    def plan_options(self) -> PlanOptions:
        """How the opened folder's timeline is planned (its dub tracks, handles and render options)."""
        assert self.opened is not None
        return _plan_options(self.opened, ())

    def session_store(self) -> SessionStore:
        """The opened folder's panel files."""
        return self._store()

    def session(self, clip_id: str) -> ClipSession:
        try:
            return self._sessions[clip_id]
        except KeyError:
            raise InvalidParameterError(f"no clip {clip_id!r} is open") from None

    # Changing -----------------------------------------------------------------------------------------------
    def select(self, clip_id: str) -> None:
        """Make `clip_id` the current clip."""
        self.session(clip_id)
        if clip_id != self.current_id:
            self.current_id = clip_id
            self._emit(CurrentChanged(clip_id))

    def choose_face(
        self, clip_id: str, point: tuple[float, float] | None, frame: int | None, track_id: int | None = None
    ) -> None:
        """Choose the face to dub by a click (`point` in source pixels on file frame `frame`) or a track id;
        `None` everywhere goes back to the largest face."""
        face = FaceChoice(point=(float(point[0]), float(point[1])) if point else None, frame=frame, track_id=track_id)
        self._update(clip_id, face=face)

    def set_range(self, clip_id: str, start: int, end: int) -> None:
        """Render frames `[start, end)` of the file (a single video only: a timeline clip's range is its cut)."""
        if not self.is_single_clip:
            raise InvalidParameterError(
                "a timeline clip renders the range of its cut; trim it in the editor and export the timeline again"
            )
        session = self.session(clip_id)
        info = self.media_info(session.video)
        if not 0 <= start < end <= info.frame_count:
            raise InvalidParameterError(
                f"the range [{start}, {end}) is not inside the clip's {info.frame_count} "
                "frames; set the in point before the out point"
            )
        assert self.opened is not None and self.opened.source.dub is not None
        self.opened.timeline = single_clip_timeline(info, self.opened.source.dub, start, end)
        self.opened.positions = {clip_id: single_clip_position(start)}
        self._update(
            clip_id,
            start_frame=start,
            end_frame=end,
            record_in=info.position_label(start),
            record_out=info.position_label(end - 1),
        )

    def set_occluders(self, clip_id: str, occluders: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> None:
        """Replace the clip's occlusion prompts (`OcclusionPrompt.to_dict()` dicts, as `RenderRequest` takes)."""
        from keydub.core.occlusion import OcclusionPrompt

        checked = tuple(OcclusionPrompt.from_dict(dict(prompt)).to_dict() for prompt in occluders)
        self._update(clip_id, occluders=checked)

    def set_params(self, clip_id: str, params: dict[str, Any]) -> None:
        """Render options for this clip only (names in `PER_CLIP_PARAMS`)."""
        unknown = sorted(set(params) - PER_CLIP_PARAMS)
        if unknown:
            raise InvalidParameterError(
                f"{', '.join(unknown)} cannot be set per clip; per-clip options: {', '.join(sorted(PER_CLIP_PARAMS))}"
            )
        self._update(clip_id, params=dict(params))

    def set_render_options(self, options: RenderOptions | Mapping[str, Any], handles: int | None = None) -> None:
        """The folder's render options (checked as the command line checks them) and handles."""
        options = _options(options)
        if handles is not None and not (isinstance(handles, int) and handles >= 0):
            raise InvalidParameterError(f"handles must be a whole number of frames >= 0, not {handles!r}")
        self.default_options = options
        if handles is not None:
            self.default_handles = handles
        if self.opened is not None:
            self.opened.render_options = options
            if handles is not None:
                self.opened.handles = handles
            self._jobs, self._stems = {}, {}
            self._save()
        self._emit(OptionsChanged())

    def brush_mask_path(self, clip_id: str, object_id: int, frame: int) -> Path:
        """Where a brush mask PNG of the clip is kept (inside the output folder, beside the sessions)."""
        self.session(clip_id)
        return self._store().brush_mask_path(clip_id, object_id, frame)

    def _update(self, clip_id: str, **changes: Any) -> None:
        self._sessions[clip_id] = self.session(clip_id).with_changes(**changes)
        if "start_frame" in changes or "end_frame" in changes:
            self._jobs.pop(clip_id, None)  # other frames, other dub audio: plan again
            self._stems = {key: stem for key, stem in self._stems.items() if key[0] != clip_id}
        self._save()
        self._emit(ClipChanged(clip_id))

    # Jobs ---------------------------------------------------------------------------------------------------
    def job(self, clip_id: str, write_audio: bool = True) -> ClipJob:
        """The render job of a clip as it is now, its dub audio written into the folder unless `write_audio` is
        false (a window plans on its UI thread with `write_audio=False` and writes with `dub_audio_write`
        elsewhere).

        Raises:
            `KeydubError`: the clip cannot be rendered (the reason as the planner gives it).
        """
        session = self.session(clip_id)
        if clip_id not in self._jobs:
            planned = self._plan_clip(clip_id)
            if planned.job is None:
                raise KeydubError(f"clip {planned.name!r} cannot be rendered: {planned.skip_reason}")
            self._jobs[clip_id] = planned.job
        if write_audio:
            self.dub_audio_write((clip_id,)).run()
        # The session's face, prompts and params over the timeline's, exactly as the planner would merge them
        # from the edited clip metadata (see `_edited_timeline`), without planning the audio again.
        base = self._jobs[clip_id]
        return replace(
            base,
            face=session.face,
            occluders=session.occluders,
            options=base.options.with_params(session.params),
            speakers=self._speakers_source(clip_id) if self._speakers_source is not None else (),
        )

    def set_speakers_source(self, source: Callable[[str], tuple[CastSpeaker, ...]] | None) -> None:
        """Where a clip's speakers come from (the cast: a face and its own dub stem per character); `None`: no
        speakers, each clip renders its one face."""
        self._speakers_source = source

    def record_stems(self, stems: Mapping[tuple[str, str], Path | None]) -> None:
        """Keep the clips' dub excerpts from other audio tracks (a character's own dub), by `(clip id, track)`,
        planned off the UI thread (`None`: no dialogue of that track under the clip)."""
        self._stems.update(stems)

    def dub_stem(self, clip_id: str, track: str) -> Path | None:
        """The clip's excerpt of audio track `track` as recorded (`record_stems`), written into the folder by
        `dub_audio_write`; `None` when not recorded yet or when that track has no dialogue under the clip."""
        return self._stems.get((clip_id, track))

    def dub_audio_write(self, clip_ids: Iterable[str]) -> DubAudioWrite:
        """What writing the clips' dub audio excerpts takes, gathered now, to `run` on any thread (it reads no
        state of this controller, so the UI thread may go on editing meanwhile).

        Raises:
            `KeydubError`: a clip cannot be rendered.
        """
        assert self.opened is not None
        clip_ids = tuple(clip_ids)
        jobs = tuple(self.job(clip_id, write_audio=False) for clip_id in clip_ids)
        stem_files = {s.audio_file for job in jobs for s in job.speakers if s.audio_file is not None}
        stems = tuple(
            DubAudioWrite(
                timeline=self.opened.timeline,
                base_dir=self.opened.base_dir,
                audio_cache=self.out_dir / ".keydub" / "audio",
                options=replace(_plan_options(self.opened, (clip_id,)), dub_tracks=(track,)),
                audio_files=(stem,),
            )
            for (clip_id, track), stem in self._stems.items()
            if clip_id in clip_ids and stem in stem_files
        )
        return DubAudioWrite(
            timeline=self.opened.timeline,
            base_dir=self.opened.base_dir,
            audio_cache=self.out_dir / ".keydub" / "audio",
            options=_plan_options(self.opened, clip_ids),
            audio_files=tuple(job.audio_file for job in jobs),
            stems=stems,
        )

    def job_hash(self, clip_id: str) -> str:
        """`job(clip_id).content_hash()`, computed again only after the clip or its plan changed."""
        job = self.job(clip_id, write_audio=False)
        session, base = self._sessions[clip_id], self._jobs[clip_id]
        cached = self._hashes.get(clip_id)
        if cached is None or cached[0] is not session or cached[1] is not base or cached[2] != job.speakers:
            cached = self._hashes[clip_id] = (session, base, job.speakers, job.content_hash())
        return cached[3]

    def status(self, clip_id: str, store: JobStore | None = None) -> ClipStatus:
        """Where the clip's render is (not rendered, queued, rendering, done, failed, stale) and its QC."""
        try:
            job_id, job_hash = self.job(clip_id, write_audio=False).job_id, self.job_hash(clip_id)
        except KeydubError as error:
            return ClipStatus(state="failed", message=str(error))
        if store is not None:
            return clip_status(store.get(job_id), job_hash)
        with JobStore.for_folder(self.out_dir, read_only=True) as own:
            return clip_status(own.get(job_id), job_hash)

    def export_timeline(self, path: Path, overwrite: bool = False) -> Path:
        """Write the OTIO timeline with the finished renders on a new track, as `keydub timeline` does.

        Clips whose render is missing or stale are left as gaps on the new track.

        Raises:
            `TimelineError`: nothing is rendered yet.
            `OutputExistsError`: `path` exists and `overwrite` is false.
        """
        return write_timeline(self.result_timeline(), Path(path), overwrite=overwrite)

    def result_timeline(self) -> otio.schema.Timeline:
        """The timeline with the finished, up-to-date renders on a new track (what Export and Send to Resolve
        write back).

        Raises:
            `TimelineError`: nothing is rendered yet.
        """
        plan = self._plan(tuple(self._sessions), write_audio=False)
        rendered = []
        with JobStore.for_folder(self.out_dir, read_only=True) as store:
            for planned in plan.clips:
                if planned.job is None:
                    continue
                record = store.get(planned.job.job_id)
                job_hash = planned.job.content_hash()
                if record is not None and record.is_done_with(job_hash):
                    rendered.append(
                        RenderedClip(
                            planned=planned, output=record.output, job_hash=job_hash, qc=_scalars(record.result or {})
                        )
                    )
        if not rendered:
            raise TimelineError("no clip has a finished, up-to-date render yet; render the clips first")
        return timeline_with_results(self._edited_timeline(), plan, rendered)

    def _plan_clip(self, clip_id: str) -> PlannedClip:
        """The clip as the timeline plans it, its edits left out."""
        plan = self._plan((clip_id,), write_audio=False, edited=False)
        return next(item for item in plan.clips if item.clip_id == clip_id)

    def _plan(self, clip_ids: tuple[str, ...], write_audio: bool, edited: bool = True) -> TimelinePlan:
        """Plan clips of the timeline with the sessions' edits in their metadata, or as the timeline has them."""
        assert self.opened is not None
        timeline = self._edited_timeline() if edited else self.opened.timeline
        return plan_timeline(
            timeline,
            self.opened.base_dir,
            self.out_dir / ".keydub" / "audio",
            _plan_options(self.opened, clip_ids),
            write_audio=write_audio,
        )

    def _edited_timeline(self) -> otio.schema.Timeline:
        """The opened timeline with every session's face, occluders and params in its clip's Keydub metadata.

        Params the timeline set on a clip stay unless the session sets them too.
        """
        assert self.opened is not None
        timeline = copy.deepcopy(self.opened.timeline)
        for clip_id, (track_index, item_index) in self.opened.positions.items():
            session = self._sessions[clip_id]
            clip = timeline.tracks[track_index][item_index]
            keydub = dict(clip.metadata.get(METADATA_KEY, {}))
            keydub.update(
                id=clip_id,
                face=session.face.to_dict(),
                occluders=list(session.occluders),
                params={**dict(keydub.get("params", {})), **session.params},
            )
            clip.metadata[METADATA_KEY] = keydub
        return timeline

    # Persistence --------------------------------------------------------------------------------------------
    def _store(self) -> SessionStore:
        assert self.opened is not None
        return SessionStore(self.opened.out_dir)

    def _save(self) -> None:
        if self.opened is None:
            return
        self._store().save(
            self.opened.source, {**self.opened.render_options.to_dict(), "handles": self.opened.handles}, self.sessions
        )


def _scalars(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if isinstance(value, (str, int, float, bool))}


__all__ = [
    "DubAudioWrite",
    "JobState",
    "OpenedFolder",
    "PanelController",
    "default_out_dir",
    "load_timeline",
    "load_video",
]

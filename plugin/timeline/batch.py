"""Batch re-render of a dubbing timeline: plan, queue what is not done yet, render it, write the result timeline.

The driver (`run_batch`) plans the timeline, submits every job that is not done yet to the output folder's job
store (which is a queue), lets an executor (`keydub.plugin.timeline.executors`) drain it, and reads each job's
outcome back from the store. Each render is staged under `.keydub/staging/` and renamed into place, so a batch
killed at any moment (power cut, `kill -9`) restarts where it stopped: clips already done are not rendered
again, and no partial file is ever left where a finished one belongs. The folder's layout is described in
`keydub.plugin.output_folder`.
"""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.core.cancel import CancelToken
from keydub.core.errors import InvalidParameterError, JobStoreError, OutputExistsError, RenderInterruptedError
from keydub.core.files import check_outputs, lock_exclusively
from keydub.core.plain_data import to_plain
from keydub.core.progress import Progress, ProgressCallback, Stage, Unit, report
from keydub.core.provenance.usage import require_consent
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobRecord, JobState, JobStore
from keydub.plugin.timeline.executors import BatchExecutor, InProcessExecutor
from keydub.plugin.timeline.formats import OTIO_JSON
from keydub.plugin.timeline.otio_file import check_output_tracks, output_format, read_timeline_file, write_timeline
from keydub.plugin.timeline.output import RenderedClip, output_track_name, timeline_with_results
from keydub.plugin.timeline.plan import PlannedClip, PlanOptions, TimelinePlan, plan_timeline
from keydub.plugin.timeline.timecode import format_timecode
from keydub.plugin.worker.protocol import Done, Event, Failed, ProgressEvent


if TYPE_CHECKING:
    from fractions import Fraction

    import opentimelineio as otio

    from keydub.plugin.cast.timeline_faces import FaceAnalyser

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipOutcome:
    """What the batch did (or, in a dry run, would do) with one picture clip.

    Args:
        clip_id (`str`), name (`str`), track (`str`): the clip.
        record_timecode (`str`): record timecode of its first frame.
        state (`JobState`): `done`, `failed`, `skipped`, `cancelled` (taken out of the queue while the batch
            ran), or `pending` (a dry run's "would render", or not rendered yet when the batch was stopped).
        was_rendered (`bool`): rendered by this run (`False` when it was already done).
        job_id (`str | None`), job_hash (`str | None`): the job, when the clip has one.
        frames (`int`): frames of the render, handles included (0 without a job).
        output (`Path | None`): the render, when done.
        message (`str | None`): skip reason, failure message, or what a dry run would do.
        qc (`dict[str, Any]`): what the render reported.
    """

    clip_id: str
    name: str
    track: str
    record_timecode: str
    state: JobState
    was_rendered: bool = False
    job_id: str | None = None
    job_hash: str | None = None
    frames: int = 0
    output: Path | None = None
    message: str | None = None
    qc: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True)
class TimelineRun:
    """The result of `render_timeline`.

    Args:
        plan (`TimelinePlan`): what was planned.
        outcomes (`tuple[ClipOutcome, ...]`): one per planned clip, in plan order.
        output_timeline (`Path | None`): the timeline file written (`None` for a dry run, or when none was asked).
        track_name (`str`): the new track's name (the one it would get, for a dry run).
        is_dry_run (`bool`): nothing was rendered or written.
        timeline (`otio.schema.Timeline | None`): the new timeline (`None` for a dry run).
    """

    plan: TimelinePlan
    outcomes: tuple[ClipOutcome, ...]
    output_timeline: Path | None
    track_name: str
    is_dry_run: bool = False
    timeline: "otio.schema.Timeline | None" = None

    def count(self, state: JobState) -> int:
        return sum(outcome.state is state for outcome in self.outcomes)

    @property
    def rendered_count(self) -> int:
        """Clips rendered by this run."""
        return sum(outcome.was_rendered for outcome in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeline": self.plan.timeline_name,
            "dub": self.plan.dub_label,
            "track": self.track_name,
            "output_timeline": str(self.output_timeline) if self.output_timeline else None,
            "dry_run": self.is_dry_run,
            "rendered": self.rendered_count,
            "counts": {state.value: self.count(state) for state in JobState},
            "clips": [
                _clip_dict(outcome, planned) for outcome, planned in zip(self.outcomes, self.plan.clips, strict=True)
            ],
        }


def _clip_dict(outcome: ClipOutcome, planned: PlannedClip) -> dict[str, Any]:
    """An outcome with its plan: the frames rendered, the handles granted and the dub audio pieces."""
    data = outcome.to_dict()
    if planned.job is not None:
        data["source_frames"] = [planned.job.start_frame, planned.job.end_frame]
        data["handles"] = [planned.head, planned.tail]
        data["audio"] = to_plain(planned.job.audio_pieces)
    return data


def render_timeline(
    timeline: "Path | otio.schema.Timeline",
    out_dir: Path,
    output_path: Path | None = None,
    options: PlanOptions | None = None,
    *,
    executor: BatchExecutor | None = None,
    force: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    base_dir: Path | None = None,
    cancel: CancelToken | None = None,
    sequence: str | None = None,
    edl_rate: "Fraction | None" = None,
    face_analyser: "FaceAnalyser | None" = None,
) -> TimelineRun:
    """Render every dialogue clip of a dubbing timeline and write a new timeline with the results.

    Args:
        timeline (`Path | otio.schema.Timeline`): the editor's export (`.otio`, FCP 7 XML, FCPXML, EDL, AAF), or
            a timeline object (e.g. a Resolve snapshot); never modified.
        out_dir (`Path`): folder for the renders and the job store (created when missing).
        output_path (`Path | None`): the timeline to write, in the format its extension names; defaults to
            `<timeline>.keydub.<ext>` beside the input, in the input's format where Keydub can write it (an AAF
            gives `.otio`).
        options (`PlanOptions | None`): tracks, handles, clip selection and render options.
        executor (`BatchExecutor | None`): who renders the queued jobs; defaults to an `InProcessExecutor` (one
            engine in this process, models loaded once for the batch).
        force (`bool`, defaults to `False`): render every planned clip, even those already done.
        dry_run (`bool`, defaults to `False`): plan and report, write nothing.
        overwrite (`bool`, defaults to `False`): replace an existing `output_path`.
        progress (`ProgressCallback | None`): receives `Progress("clips", done, total)` and each clip's render
            progress with the stage prefixed by `[k/n] <clip name>: ` (and the job's `job_id`).
        base_dir (`Path | None`): folder that relative media paths are resolved against; defaults to the
            timeline file's folder (a timeline object without it must have absolute paths).
        cancel (`CancelToken | None`): stops the batch: the clip being rendered stops within one denoising step
            and, like every clip not rendered yet, stays pending for the next run.
        sequence (`str | None`): the timeline to take from a file that holds several.
        edl_rate (`Fraction | None`): the frame rate of an EDL's timecodes (default: 24 fps).
        face_analyser (`FaceAnalyser | None`): finds and recognises the faces for `options.cast`; defaults to one
            with the render's landmark backend, the cast's recognition backend and the analysis cache.

    Returns:
        `TimelineRun`: the plan, one outcome per clip, and the written timeline.

    Raises:
        `TimelineError`: the timeline cannot be read or has nothing to render.
        `OutputExistsError`: `output_path` exists and `overwrite` is false (checked before any render).
        `OutputNotWritableError`: `out_dir` cannot be written.
        `InvalidParameterError`: `output_path` is the input timeline, or a bad option.
        `JobStoreError`: another batch is rendering into `out_dir`, or its store is damaged.
        `RenderInterruptedError`: `cancel` was set; nothing is written but the renders that finished.
        `ConsentMissingError`: consent is required (`PlanOptions.require_consent`) and a planned clip's face has no
            consent reference (checked before any render).
    """
    # 1. Read the timeline and check every destination before spending time on renders.
    if isinstance(timeline, (str, os.PathLike)):
        timeline_path = Path(timeline).absolute()
        timeline, fmt = read_timeline_file(timeline_path, sequence, edl_rate)
        base_dir = timeline_path.parent if base_dir is None else base_dir
        default_suffix = fmt.suffix if fmt.can_write else OTIO_JSON.suffix
        output_path = (
            Path(output_path).absolute() if output_path else timeline_path.with_suffix(f".keydub{default_suffix}")
        )
        if output_path.resolve() == timeline_path.resolve():
            raise InvalidParameterError(
                f"the output timeline {output_path} is the input; Keydub never changes the "
                "input timeline: choose another path with -o"
            )
    elif output_path is not None:
        output_path = Path(output_path).absolute()
    if output_path is not None:
        output_format(output_path)  # a format Keydub cannot write is refused before anything else
    if output_path is not None and output_path.exists() and not overwrite and not dry_run:
        raise OutputExistsError(f"{output_path} already exists; choose another path with -o or pass --overwrite")
    folder = OutputFolder(Path(out_dir).absolute())
    if not dry_run:
        folder.check_writable()

    # 2. Plan: which clips, which audio, which jobs (the output folder appears with the first dub audio file).
    plan = plan_timeline(
        timeline,
        base_dir=Path(base_dir or Path.cwd()).absolute(),
        audio_cache=folder.audio_cache,
        options=options,
        write_audio=not dry_run,
    )
    if options is not None and options.cast is not None:
        plan = _cast_plan(plan, timeline, options, folder, base_dir, face_analyser, dry_run, progress, cancel)
    track_name, _ = output_track_name(timeline, plan.dub_label)
    if output_path is not None:
        check_output_tracks(output_path, len({clip.track_index for clip in plan.clips if clip.job is not None}))
    if dry_run:
        return TimelineRun(
            plan=plan,
            outcomes=tuple(preview_batch(plan, folder)),
            output_timeline=None,
            track_name=track_name,
            is_dry_run=True,
        )

    # 3. Render what is not done yet (never into a file the timeline's clips read, --overwrite or not), every face
    # with a consent reference when consent is required.
    check_outputs({"-o": output_path}, inputs=plan.input_files(), overwrite=True)
    if options is not None and options.require_consent:
        require_consent(
            (clip.name, clip.job.render_request(folder.root / clip.job.output_name()).face_speakers())
            for clip in plan.clips
            if clip.job is not None
        )
    folder.prepare()
    outcomes = run_batch(plan, folder, executor=executor, force=force, progress=progress, cancel=cancel)

    # 4. The new timeline: the input plus a track of the finished renders.
    by_id = {clip.clip_id: clip for clip in plan.clips}
    rendered = [
        RenderedClip(planned=by_id[outcome.clip_id], output=outcome.output, job_hash=outcome.job_hash, qc=outcome.qc)
        for outcome in outcomes
        if outcome.state is JobState.DONE
    ]
    result_timeline = timeline_with_results(timeline, plan, rendered)
    if options is not None and options.cast is not None:
        from keydub.plugin.cast.metadata import timeline_with_cast

        result_timeline = timeline_with_cast(result_timeline, options.cast)
    if output_path is not None:
        write_timeline(result_timeline, output_path, overwrite=overwrite)
    return TimelineRun(
        plan=plan,
        outcomes=tuple(outcomes),
        output_timeline=output_path,
        track_name=track_name,
        timeline=result_timeline,
    )


def _cast_plan(
    plan: TimelinePlan,
    timeline: "otio.schema.Timeline",
    options: PlanOptions,
    folder: OutputFolder,
    base_dir: Path | None,
    analyser: "FaceAnalyser | None",
    dry_run: bool,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> TimelinePlan:
    """The plan with each clip's cast (`keydub.plugin.timeline.cast`); the face models load only when asked."""
    from keydub.core.analysis import AnalysisCache
    from keydub.plugin.cast.timeline_faces import FaceAnalyser
    from keydub.plugin.timeline.cast import cast_plan

    cast = options.cast
    assert cast is not None
    if analyser is None:
        analyser = FaceAnalyser(options.render_options.landmark_backend, cast.recognition, cache=AnalysisCache())
    return cast_plan(
        plan,
        timeline,
        cast,
        analyser,
        base_dir=Path(base_dir or Path.cwd()).absolute(),
        audio_cache=folder.audio_cache,
        options=options,
        write_audio=not dry_run,
        progress=progress,
        cancel=cancel,
    )


def run_batch(
    plan: TimelinePlan,
    folder: OutputFolder,
    executor: BatchExecutor | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[ClipOutcome]:
    """Queue the plan's jobs that are not done yet, have `executor` render them, and read back the outcomes.

    Args:
        plan (`TimelinePlan`): the plan (its audio files written).
        folder (`OutputFolder`): the prepared output folder.
        executor (`BatchExecutor | None`): who renders; defaults to an `InProcessExecutor`.
        force (`bool`, defaults to `False`): render every job even when done.
        progress (`ProgressCallback | None`): see `render_timeline`.
        cancel (`CancelToken | None`): see `render_timeline`.

    Returns:
        `list[ClipOutcome]`: one per planned clip, in plan order. A failed render is an outcome, not an error:
        the batch goes on with the next clip.

    Raises:
        `JobStoreError`: another batch holds the folder, or the store is damaged.
        `RenderInterruptedError`: `cancel` was set before every job was rendered (those jobs stay pending).
    """
    executor = executor or InProcessExecutor()
    total = len(plan.clips)
    with _exclusive(folder), JobStore(folder.store_path) as store:
        # 1. What is already done (or skipped), and what goes in the queue.
        outcomes: dict[int, ClipOutcome] = {}
        queued: dict[str, int] = {}
        shared: dict[int, int] = {}  # clip index -> index of the clip whose render it shares
        first_of_hash: dict[str, int] = {}
        for index, planned in enumerate(plan.clips):
            job = planned.job
            if job is None:
                store.mark_skipped(f"{plan.dub_label}/{planned.clip_id}", planned.name, planned.skip_reason or "")
                outcomes[index] = _outcome(planned, plan, JobState.SKIPPED, message=planned.skip_reason)
                continue
            job_hash = job.content_hash()
            if job_hash in first_of_hash:
                # The same media and settings on another track: one render serves both clips.
                shared[index] = first_of_hash[job_hash]
                continue
            first_of_hash[job_hash] = index
            outcome = None if force else _already_done(planned, plan, folder, store)
            if outcome is not None:
                outcomes[index] = outcome
            else:
                store.submit(job.job_id, job.name, job_hash, job.to_dict())
                queued[job.job_id] = index

        # 2. Render the queue.
        relay = _BatchProgress(plan, queued, progress, finished=len(outcomes))
        report(progress, Stage.CLIPS, relay.finished, total, unit=Unit.ITEMS)
        if queued:
            executor.drain(folder, list(queued), relay, cancel)

        # 3. Read each job's outcome back.
        unfinished = []
        for job_id, index in queued.items():
            record = store.get(job_id)
            assert record is not None
            outcomes[index] = _queued_outcome(plan.clips[index], plan, record)
            if record.state in (JobState.PENDING, JobState.RUNNING):
                unfinished.append(plan.clips[index].name)
        for index, source in shared.items():
            outcomes[index] = _shared_outcome(plan.clips[index], plan, store, outcomes[source])
            relay.count_finished()
    if unfinished:
        raise RenderInterruptedError(
            f"the batch was stopped before {len(unfinished)} clip(s) were rendered "
            f"({', '.join(unfinished[:5])}); they are pending: run it again to finish"
        )
    return [outcomes[index] for index in range(total)]


def preview_batch(plan: TimelinePlan, folder: OutputFolder) -> list[ClipOutcome]:
    """What `run_batch` would do, read from the store without changing anything (for `--dry-run`)."""
    outcomes = []
    with JobStore(folder.store_path, read_only=True) as store:
        for planned in plan.clips:
            if planned.job is None:
                outcomes.append(_outcome(planned, plan, JobState.SKIPPED, message=planned.skip_reason))
                continue
            job_hash = planned.job.content_hash()
            record = store.get(planned.job.job_id)
            if record is not None and record.is_done_with(job_hash):
                outcomes.append(
                    _outcome(
                        planned,
                        plan,
                        JobState.DONE,
                        output=record.output,
                        message="up to date",
                        qc=record.result or {},
                    )
                )
            else:
                why = (
                    "changed since the last render"
                    if record is not None and record.job_hash != job_hash
                    else "not rendered yet"
                    if record is None or record.state is not JobState.FAILED
                    else f"failed last time: {record.message}"
                )
                outcomes.append(_outcome(planned, plan, JobState.PENDING, message=f"would render ({why})"))
    return outcomes


def _already_done(
    planned: PlannedClip, plan: TimelinePlan, folder: OutputFolder, store: JobStore
) -> ClipOutcome | None:
    """The outcome of a job that needs no render (done with this hash, or its finished file is there)."""
    job = planned.job
    assert job is not None
    job_hash = job.content_hash()
    record = store.get(job.job_id)
    if record is not None and record.is_done_with(job_hash):
        return _outcome(
            planned, plan, JobState.DONE, output=record.output, message="up to date", qc=record.result or {}
        )
    final = folder.root / job.output_name()
    if final.is_file():
        # Renders are renamed into place only when complete and their name carries the job hash, so a file
        # there is this job's finished render whose `done` the store did not get to record.
        store.mark_done(job.job_id, job.name, job_hash, job.to_dict(), final, {"recovered": True})
        return _outcome(
            planned, plan, JobState.DONE, output=final, message="recovered finished render", qc={"recovered": True}
        )
    return None


def _queued_outcome(planned: PlannedClip, plan: TimelinePlan, record: JobRecord) -> ClipOutcome:
    if record.state is JobState.DONE:
        return _outcome(
            planned,
            plan,
            JobState.DONE,
            was_rendered=True,
            output=record.output,
            message="rendered",
            qc=record.result or {},
        )
    if record.state in (JobState.FAILED, JobState.CANCELLED):
        # Cancelled: taken out of the queue while the batch ran (the panel's queue, `cancel JOB`).
        return _outcome(planned, plan, record.state, message=record.message)
    return _outcome(planned, plan, JobState.PENDING, message=record.message or "not rendered yet")


def _shared_outcome(planned: PlannedClip, plan: TimelinePlan, store: JobStore, source: ClipOutcome) -> ClipOutcome:
    """The outcome of a clip whose job has the same hash as an earlier clip's: that clip's render, or its fate."""
    job = planned.job
    assert job is not None
    if source.state is not JobState.DONE or source.output is None:
        return _outcome(planned, plan, source.state, message=source.message)
    store.mark_done(job.job_id, job.name, job.content_hash(), job.to_dict(), source.output, source.qc)
    return _outcome(
        planned, plan, JobState.DONE, output=source.output, message=f"same render as {source.name}", qc=source.qc
    )


class _BatchProgress:
    """The drain loop's events as the batch's progress: each clip's stages under `[k/n] <name>: `, and a count
    of finished clips."""

    def __init__(
        self, plan: TimelinePlan, queued: dict[str, int], progress: ProgressCallback | None, finished: int
    ) -> None:
        self._total = len(plan.clips)
        self._prefixes = {
            job_id: f"[{index + 1}/{self._total}] {plan.clips[index].name}: " for job_id, index in queued.items()
        }
        self._progress = progress
        self.finished = finished

    def __call__(self, event: Event) -> None:
        if self._progress is None or getattr(event, "job_id", None) not in self._prefixes:
            return
        if isinstance(event, ProgressEvent):
            self._progress(
                Progress(
                    self._prefixes[event.job_id] + event.stage,
                    event.done,
                    event.total,
                    job_id=event.job_id,
                    unit=event.unit,
                )
            )
        elif isinstance(event, (Done, Failed)):
            self.count_finished()

    def count_finished(self) -> None:
        self.finished += 1
        report(self._progress, Stage.CLIPS, self.finished, self._total, unit=Unit.ITEMS)


def _outcome(
    planned: PlannedClip,
    plan: TimelinePlan,
    state: JobState,
    *,
    was_rendered: bool = False,
    output: Path | None = None,
    message: str | None = None,
    qc: dict[str, Any] | None = None,
) -> ClipOutcome:
    job = planned.job
    return ClipOutcome(
        clip_id=planned.clip_id,
        name=planned.name,
        track=planned.track,
        record_timecode=format_timecode(planned.record_start, plan.rate),
        state=state,
        was_rendered=was_rendered,
        job_id=job.job_id if job else None,
        job_hash=job.content_hash() if job else None,
        frames=job.frame_count if job else 0,
        output=output,
        message=message,
        # Who the render syncs is the plan's (the same for every render with this hash), not the render's report.
        qc={**(qc or {}), **planned.cast_qc()},
    )


@contextmanager
def _exclusive(folder: OutputFolder) -> Iterator[None]:
    """Hold the output folder's batch lock; the operating system releases it if the process dies."""
    # Closing the file (below, or by the OS when the process dies) releases the lock.
    handle = open(folder.lock_path, "a+")
    try:
        try:
            lock_exclusively(handle)
        except OSError as error:
            raise JobStoreError(
                f"another Keydub batch is rendering into {folder.root}; wait for it to finish or "
                "choose another --out-dir"
            ) from error
        yield
    finally:
        handle.close()

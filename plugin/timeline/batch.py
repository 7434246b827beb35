"""Batch re-render of a dubbing timeline: plan, render what is not done yet, write the result timeline.

Every step is recorded in the output folder's job store, and each render is written under `.keydub/staging/`
then renamed into place, so a batch killed at any moment (power cut, `kill -9`) restarts where it stopped: clips
already done are not rendered again and no partial file is ever left where a finished one belongs.

Output folder layout:

```
renders/
    <clip>_<hash12>.mov        finished renders (the name changes whenever the job changes)
    .keydub/jobs.sqlite        the job store
    .keydub/audio/<sha>.wav    the dub audio of each job, by content
    .keydub/staging/           renders in progress (emptied at start-up)
    .keydub/lock               held by the running batch
```
"""

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.core.errors import (
    AudioError,
    InvalidParameterError,
    JobStoreError,
    KeydubError,
    OutputExistsError,
    OutputNotWritableError,
)
from keydub.core.progress import Progress, ProgressCallback, report
from keydub.core.render.request import RenderRequest, RenderResult
from keydub.plugin.jobs import ClipJob
from keydub.plugin.store import STORE_PATH, JobState, JobStore
from keydub.plugin.timeline.otio_file import read_timeline, write_timeline
from keydub.plugin.timeline.output import RenderedClip, output_track_name, timeline_with_results
from keydub.plugin.timeline.plan import PlannedClip, PlanOptions, TimelinePlan, plan_timeline
from keydub.plugin.timeline.timecode import format_timecode


if TYPE_CHECKING:
    import opentimelineio as otio

    from keydub.core.faces import LandmarkBackend

logger = logging.getLogger(__name__)

RenderFunction = Callable[[RenderRequest, ProgressCallback | None], RenderResult]


@dataclass(frozen=True)
class OutputFolder:
    """Where a batch writes: renders in `root`, bookkeeping in `root/.keydub`.

    Args:
        root (`Path`): the output folder (absolute).
    """

    root: Path

    @property
    def store_path(self) -> Path:
        return self.root / STORE_PATH

    @property
    def audio_cache(self) -> Path:
        return self.root / ".keydub" / "audio"

    @property
    def staging(self) -> Path:
        return self.root / ".keydub" / "staging"

    @property
    def lock_path(self) -> Path:
        return self.root / ".keydub" / "lock"

    def check_writable(self) -> None:
        """Raise `OutputNotWritableError` unless the folder exists and is writable or can be created; creates
        nothing (so that a batch refused for another reason leaves no trace)."""
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            what = "is not a folder" if not existing.is_dir() else "cannot be written"
            raise OutputNotWritableError(f"cannot write into the output folder {self.root} ({existing} {what}); "
                                         "choose another --out-dir")

    def prepare(self) -> None:
        """Create the folders (the output folder's parents included).

        Raises:
            `OutputNotWritableError`: they cannot be created or written.
        """
        try:
            for folder in (self.root, self.audio_cache, self.staging):
                folder.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(13, "permission denied")
        except OSError as error:
            reason = error.strerror or str(error)
            raise OutputNotWritableError(f"cannot write into the output folder {self.root} ({reason}); choose "
                                         "another --out-dir") from error


@dataclass(frozen=True)
class ClipOutcome:
    """What the batch did (or, in a dry run, would do) with one picture clip.

    Args:
        clip_id (`str`), name (`str`), track (`str`): the clip.
        record_timecode (`str`): record timecode of its first frame.
        state (`JobState`): `done`, `failed`, `skipped`, or `pending` (a dry run's "would render").
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
        return {"clip_id": self.clip_id, "name": self.name, "track": self.track,
                "record_timecode": self.record_timecode, "state": self.state.value,
                "was_rendered": self.was_rendered, "job_id": self.job_id, "job_hash": self.job_hash,
                "frames": self.frames, "output": str(self.output) if self.output else None, "message": self.message,
                "qc": self.qc}


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
        return {"timeline": self.plan.timeline_name, "dub": self.plan.dub_label, "track": self.track_name,
                "output_timeline": str(self.output_timeline) if self.output_timeline else None,
                "dry_run": self.is_dry_run, "rendered": self.rendered_count,
                "counts": {state.value: self.count(state) for state in JobState},
                "clips": [_clip_dict(outcome, planned) for outcome, planned in zip(self.outcomes, self.plan.clips,
                                                                                    strict=True)]}


def _clip_dict(outcome: ClipOutcome, planned: PlannedClip) -> dict[str, Any]:
    """An outcome with its plan: the frames rendered, the handles granted and the dub audio pieces."""
    data = outcome.to_dict()
    if planned.job is not None:
        data["source_frames"] = [planned.job.start_frame, planned.job.end_frame]
        data["handles"] = [planned.head, planned.tail]
        data["audio"] = [piece.to_dict() for piece in planned.job.audio_pieces]
    return data


class EngineRenderer:
    """The batch's default renderer: `render_clip` with the model loaded once for the whole batch.

    Loading KeySync (two U-Nets, a VAE, two speech encoders) can take longer than rendering a short clip, so the
    pipeline is kept while consecutive requests ask for the same weights, device and precision, and each landmark
    backend is loaded once.

    Args:
        landmark_backend (`Callable[[RenderRequest], LandmarkBackend] | None`): gives the landmark backend for a
            request; defaults to the backend the request names, loaded once with `get_landmark_backend`.
    """

    def __init__(self, landmark_backend: "Callable[[RenderRequest], LandmarkBackend] | None" = None) -> None:
        self._landmark_backend = landmark_backend
        self._backends: dict[str, LandmarkBackend] = {}
        self._pipeline: Any = None
        self._pipeline_key: tuple[Any, ...] | None = None

    def __call__(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        # The engine (torch, diffusers, the landmark detectors) loads on the first render, not when a dry run or
        # the command line imports this module.
        from keydub.core import render as core_render
        from keydub.core.faces import get_landmark_backend

        key = (request.weights, request.vae, request.hubert, request.wavlm, request.device, request.dtype)
        if key != self._pipeline_key:
            self._pipeline = None  # let the previous model go before the next one is loaded
            self._pipeline = core_render.load_pipeline(request)
            self._pipeline_key = key
        if self._landmark_backend is not None:
            backend = self._landmark_backend(request)
        else:
            name = request.landmark_backend
            backend = self._backends.get(name) or self._backends.setdefault(name, get_landmark_backend(name))
        return core_render.render_clip(request, progress, pipeline=self._pipeline, landmark_backend=backend)


def render_timeline(timeline: "Path | otio.schema.Timeline", out_dir: Path, output_path: Path | None = None,
                    options: PlanOptions | None = None, *, render: RenderFunction | None = None,
                    force: bool = False, dry_run: bool = False, overwrite: bool = False,
                    progress: ProgressCallback | None = None, base_dir: Path | None = None) -> TimelineRun:
    """Render every dialogue clip of a dubbing timeline and write a new timeline with the results.

    Args:
        timeline (`Path | otio.schema.Timeline`): the `.otio` file, or a timeline object (e.g. a Resolve
            snapshot); never modified.
        out_dir (`Path`): folder for the renders and the job store (created when missing).
        output_path (`Path | None`): the `.otio` to write; defaults to `<timeline>.keydub.otio` beside the input.
        options (`PlanOptions | None`): tracks, handles, clip selection and render options.
        render (`RenderFunction | None`): renders one request; defaults to an `EngineRenderer` (`render_clip`
            with the model loaded once for the batch).
        force (`bool`, defaults to `False`): render every planned clip, even those already done.
        dry_run (`bool`, defaults to `False`): plan and report, write nothing.
        overwrite (`bool`, defaults to `False`): replace an existing `output_path`.
        progress (`ProgressCallback | None`): receives `Progress("clips", done, total)` and each clip's render
            progress with the stage prefixed by `[k/n] <clip name>: `.
        base_dir (`Path | None`): folder that relative media paths are resolved against; defaults to the
            timeline file's folder (a timeline object without it must have absolute paths).

    Returns:
        `TimelineRun`: the plan, one outcome per clip, and the written timeline.

    Raises:
        `TimelineError`: the timeline cannot be read or has nothing to render.
        `OutputExistsError`: `output_path` exists and `overwrite` is false (checked before any render).
        `OutputNotWritableError`: `out_dir` cannot be written.
        `InvalidParameterError`: `output_path` is the input timeline, or a bad option.
        `JobStoreError`: another batch is rendering into `out_dir`, or its store is damaged.
    """
    # 1. Read the timeline and check every destination before spending time on renders.
    if isinstance(timeline, (str, os.PathLike)):
        timeline_path = Path(timeline).absolute()
        timeline = read_timeline(timeline_path)
        base_dir = timeline_path.parent if base_dir is None else base_dir
        output_path = Path(output_path).absolute() if output_path else timeline_path.with_suffix(".keydub.otio")
        if output_path.resolve() == timeline_path.resolve():
            raise InvalidParameterError(f"the output timeline {output_path} is the input; Keydub never changes the "
                                        "input timeline: choose another path with -o")
    elif output_path is not None:
        output_path = Path(output_path).absolute()
    if output_path is not None and output_path.exists() and not overwrite and not dry_run:
        raise OutputExistsError(f"{output_path} already exists; choose another path with -o or pass --overwrite")
    folder = OutputFolder(Path(out_dir).absolute())
    if not dry_run:
        folder.check_writable()

    # 2. Plan: which clips, which audio, which jobs (the output folder appears with the first dub audio file).
    plan = plan_timeline(timeline, base_dir=Path(base_dir or Path.cwd()).absolute(), audio_cache=folder.audio_cache, options=options,
                         write_audio=not dry_run)
    track_name, _ = output_track_name(timeline, plan.dub_label)
    if dry_run:
        return TimelineRun(plan=plan, outcomes=tuple(preview_batch(plan, folder)), output_timeline=None,
                           track_name=track_name, is_dry_run=True)

    # 3. Render what is not done yet.
    folder.prepare()
    outcomes = run_batch(plan, folder, render=render, force=force, progress=progress)

    # 4. The new timeline: the input plus a track of the finished renders.
    by_id = {clip.clip_id: clip for clip in plan.clips}
    rendered = [RenderedClip(planned=by_id[outcome.clip_id], output=outcome.output, job_hash=outcome.job_hash,
                             qc=outcome.qc)
                for outcome in outcomes if outcome.state is JobState.DONE]
    result_timeline = timeline_with_results(timeline, plan, rendered)
    if output_path is not None:
        write_timeline(result_timeline, output_path, overwrite=overwrite)
    return TimelineRun(plan=plan, outcomes=tuple(outcomes), output_timeline=output_path, track_name=track_name,
                       timeline=result_timeline)


def run_batch(plan: TimelinePlan, folder: OutputFolder, render: RenderFunction | None = None, force: bool = False,
              progress: ProgressCallback | None = None) -> list[ClipOutcome]:
    """Render the plan's jobs that are not done yet, recording each step in the folder's job store.

    Args:
        plan (`TimelinePlan`): the plan (its audio files written).
        folder (`OutputFolder`): the prepared output folder.
        render (`RenderFunction | None`): renders one request; defaults to an `EngineRenderer`.
        force (`bool`, defaults to `False`): render every job even when done.
        progress (`ProgressCallback | None`): see `render_timeline`.

    Returns:
        `list[ClipOutcome]`: one per planned clip, in plan order. A failed render is an outcome, not an error:
        the batch goes on with the next clip.

    Raises:
        `JobStoreError`: another batch holds the folder, or the store is damaged.
    """
    total = len(plan.clips)
    render = render or EngineRenderer()
    outcomes = []
    with _exclusive(folder), JobStore(folder.store_path) as store:
        # Holding the lock, nothing else renders here: "running" rows and staged files are from a killed batch.
        for job_id in store.reset_interrupted():
            logger.warning("job %s was interrupted by a previous run; it will be rendered again", job_id)
        for leftover in folder.staging.iterdir():
            leftover.unlink()
        report(progress, "clips", 0, total)
        for number, planned in enumerate(plan.clips, start=1):
            if planned.job is None:
                store.mark_skipped(f"{plan.dub_label}/{planned.clip_id}", planned.name, planned.skip_reason or "")
                outcome = _outcome(planned, plan, JobState.SKIPPED, message=planned.skip_reason)
            else:
                prefix = f"[{number}/{total}] {planned.name}: "
                clip_progress = None if progress is None else _prefixed(progress, prefix)
                outcome = _run_job(planned, plan, folder, store, render, force, clip_progress)
            outcomes.append(outcome)
            report(progress, "clips", number, total)
    return outcomes


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
                outcomes.append(_outcome(planned, plan, JobState.DONE, output=record.output,
                                         message="up to date", qc=record.result or {}))
            else:
                why = "changed since the last render" if record is not None and record.job_hash != job_hash \
                    else "not rendered yet" if record is None or record.state is not JobState.FAILED \
                    else f"failed last time: {record.message}"
                outcomes.append(_outcome(planned, plan, JobState.PENDING, message=f"would render ({why})"))
    return outcomes


def _run_job(planned: PlannedClip, plan: TimelinePlan, folder: OutputFolder, store: JobStore,
             render: RenderFunction, force: bool, progress: ProgressCallback | None) -> ClipOutcome:
    job = planned.job
    assert job is not None
    job_hash = job.content_hash()
    final = folder.root / job.output_name()
    record = store.get(job.job_id)
    if not force:
        if record is not None and record.is_done_with(job_hash):
            return _outcome(planned, plan, JobState.DONE, output=record.output, message="up to date",
                            qc=record.result or {})
        if final.is_file():
            # Renders are renamed into place only when complete and their name carries the job hash, so a file
            # there is this job's finished render whose `done` the store did not get to record.
            store.mark_done(job.job_id, job.name, job_hash, job.to_dict(), final, {"recovered": True})
            return _outcome(planned, plan, JobState.DONE, output=final, message="recovered finished render",
                            qc={"recovered": True})
    store.mark_running(job.job_id, job.name, job_hash, job.to_dict())
    staged = folder.staging / final.name
    try:
        result = _render(job, staged, render, progress)
    except KeydubError as error:
        return _failed(planned, plan, store, job, job_hash, staged, str(error))
    except KeyboardInterrupt:
        staged.unlink(missing_ok=True)
        raise
    except Exception as error:  # an engine bug must cost one clip, not the night's batch
        logger.exception("rendering %s failed", job.name)
        return _failed(planned, plan, store, job, job_hash, staged,
                       f"internal error {type(error).__name__}: {error} (please report it with the log above)")
    os.replace(staged, final)
    qc = _qc(result)
    store.mark_done(job.job_id, job.name, job_hash, job.to_dict(), final, qc)
    return _outcome(planned, plan, JobState.DONE, was_rendered=True, output=final, message="rendered", qc=qc)


def _render(job: ClipJob, staged: Path, render: RenderFunction, progress: ProgressCallback | None) -> RenderResult:
    if not job.audio_file.is_file():
        raise AudioError(f"the dub audio {job.audio_file} of {job.name!r} is missing from the output folder's "
                         "cache; plan the batch again without --dry-run")
    result = render(job.render_request(staged), progress)
    if not staged.is_file():
        raise KeydubError(f"the renderer reported success for {job.name!r} but wrote no file at {staged}")
    if result.frame_count != job.frame_count:
        raise KeydubError(f"the render of {job.name!r} has {result.frame_count} frames, expected "
                          f"{job.frame_count}; the clip was not placed")
    return result


def _failed(planned: PlannedClip, plan: TimelinePlan, store: JobStore, job: ClipJob, job_hash: str, staged: Path,
            message: str) -> ClipOutcome:
    staged.unlink(missing_ok=True)
    store.mark_failed(job.job_id, job.name, job_hash, job.to_dict(), message)
    return _outcome(planned, plan, JobState.FAILED, message=message)


def _qc(result: RenderResult) -> dict[str, Any]:
    """The figures of a render worth keeping with the clip: counts and the report's scalar values."""
    scalars = {key: value for key, value in result.report.items() if isinstance(value, (str, int, float, bool))}
    return {"frames": result.frame_count, "passed_through": len(result.passed_through), **scalars}


def _outcome(planned: PlannedClip, plan: TimelinePlan, state: JobState, *, was_rendered: bool = False,
             output: Path | None = None, message: str | None = None, qc: dict[str, Any] | None = None) -> ClipOutcome:
    job = planned.job
    return ClipOutcome(clip_id=planned.clip_id, name=planned.name, track=planned.track,
                       record_timecode=format_timecode(planned.record_start, plan.rate), state=state,
                       was_rendered=was_rendered, job_id=job.job_id if job else None,
                       job_hash=job.content_hash() if job else None, frames=job.frame_count if job else 0,
                       output=output, message=message, qc=qc or {})


def _prefixed(progress: ProgressCallback, prefix: str) -> ProgressCallback:
    return lambda update: progress(Progress(prefix + update.stage, update.done, update.total))


@contextmanager
def _exclusive(folder: OutputFolder) -> Iterator[None]:
    """Hold the output folder's batch lock; the operating system releases it if the process dies."""
    # Closing the file (below, or by the OS when the process dies) releases the lock.
    handle = open(folder.lock_path, "a+")
    try:
        try:
            _lock(handle)
        except OSError as error:
            raise JobStoreError(f"another Keydub batch is rendering into {folder.root}; wait for it to finish or "
                                "choose another --out-dir") from error
        yield
    finally:
        handle.close()


if os.name == "nt":
    import msvcrt

    def _lock(handle: Any) -> None:
        handle.seek(0)  # msvcrt locks bytes from the current position; every batch must lock the same byte
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(handle: Any) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

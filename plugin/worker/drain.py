"""The drain loop: claim a job from an output folder's queue, render it, place it, record it; repeat.

Every executor runs this same loop, so a job goes through the same states whoever renders it: the in-process
batch (`keydub timeline`), `keydub worker` (one per GPU, or driven by the panel), and a batch's remote actors.

For each claimed job:

1. validate the row (`validation.validated_job`) and stage the render in the process's own staging folder;
2. `engine.render(request, progress, cancel)` while a heartbeat thread renews the lease, writes the progress
   columns and watches for a cancel;
3. rename the staged file into place and mark the job `done` in one transaction that first checks the lease is
   still held, so a render whose job went to another owner is never placed;
4. on an error: `failed` with one line; on a cancel or an interrupt (`RenderInterruptedError`, Ctrl-C): the
   staged file is removed and the job goes back to `pending` (or `cancelled` when the user cancelled that job).
"""

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from keydub.core.cancel import CancelToken
from keydub.core.errors import KeydubError, RenderInterruptedError
from keydub.core.progress import EtaEstimator, Progress, ProgressCallback
from keydub.core.provenance.container import credential_files
from keydub.core.render.request import RenderRequest, RenderResult
from keydub.plugin.jobs import ClipJob
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobProgress, JobRecord, JobState, JobStore, current_owner
from keydub.plugin.worker.protocol import (
    Cancelled,
    Claimed,
    Done,
    Event,
    Failed,
    Idle,
    Lost,
    ProgressEvent,
)
from keydub.plugin.worker.validation import validated_job


logger = logging.getLogger(__name__)

EventSink = Callable[[Event], None]

# A claim holds this long without a heartbeat: long enough for a busy disk, short enough that a job of a
# crashed box on a shared folder is taken over soon. A process of this host that dies is noticed at once.
DEFAULT_LEASE_SECONDS = 60.0

# How often the heartbeat renews the lease and writes the progress columns (at most; shorter for short leases).
_HEARTBEAT_SECONDS = 1.0
# How often the heartbeat thread looks at the stop token between beats.
_STOP_POLL_SECONDS = 0.05


class RenderEngine(Protocol):
    """What the drain loop renders with: `keydub.core.engine.Engine`, or anything with its `render`."""

    def render(
        self, request: RenderRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> RenderResult:
        """Render `request`; raise `RenderInterruptedError` (and leave no file) once `cancel` is set."""
        ...


@dataclass(frozen=True)
class DrainSummary:
    """What one `Drainer.run` did: the ids of the jobs it finished, failed and handed back."""

    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    released: tuple[str, ...] = ()


class Drainer:
    """Renders the queued jobs of one output folder with one engine, until the queue is empty or it is stopped.

    `cancel_job` and `stop` may be called from any thread (a stdin reader, a signal handler, a UI).

    Args:
        folder (`OutputFolder`): the output folder (its store is the queue).
        engine (`RenderEngine`): renders each job's request; keeps its models loaded across jobs.
        events (`EventSink | None`): receives every event, on the thread that called `run`.
        owner (`str | None`): the name this process claims under; defaults to `current_owner()` (`host:pid`).
        lease_seconds (`float`, defaults to 60): how long a claim holds without a heartbeat.
        device (`str | None`): render every job on this device instead of the job's own `device` option.
        job_ids (`Iterable[str] | None`): claim only these jobs (a batch draining its own plan); `None`: any.
        stop (`CancelToken | None`): stops the loop when set (a job being rendered goes back to pending).
    """

    def __init__(
        self,
        folder: OutputFolder,
        engine: RenderEngine,
        events: EventSink | None = None,
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        device: str | None = None,
        job_ids: Iterable[str] | None = None,
        stop: CancelToken | None = None,
    ) -> None:
        self.folder = folder
        self.engine = engine
        self.owner = owner or current_owner()
        self.lease_seconds = lease_seconds
        self.device = device
        self._events = events or (lambda event: None)
        self._job_ids = None if job_ids is None else frozenset(job_ids)
        self._stop = stop or CancelToken("the render queue was stopped")
        self._lock = threading.Lock()
        self._current: tuple[str, CancelToken] | None = None
        self._cancelled_ids: set[str] = set()

    # Control, from any thread -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the loop; a job being rendered stops within one denoising step and goes back to pending."""
        self._stop.cancel()
        with self._lock:
            if self._current is not None:
                self._current[1].cancel()

    def cancel_job(self, job_id: str) -> JobRecord:
        """Take `job_id` out of the queue (`JobStore.cancel`); when it is the job being rendered, stop it now.

        Raises:
            `InvalidParameterError`: the store has no such job.
        """
        with JobStore(self.folder.store_path) as store:
            record = store.cancel(job_id)
        with self._lock:
            if self._current is not None and self._current[0] == job_id:
                self._cancelled_ids.add(job_id)
                self._current[1].cancel()
        return record

    @property
    def is_stopped(self) -> bool:
        return self._stop.is_cancelled

    # The loop ----------------------------------------------------------------------------------------------
    def run(self, wait_for_jobs: bool = False, poll_seconds: float = 0.5) -> DrainSummary:
        """Claim and render jobs until none is left (or, with `wait_for_jobs`, until `stop`).

        "None is left" means no job (of `job_ids`, when given) is pending or running: a job running elsewhere is
        waited for, since its owner may die and leave it to be reclaimed here.

        Returns:
            `DrainSummary`.

        Raises:
            `KeyboardInterrupt`: after handing the job being rendered back to pending.
        """
        done: list[str] = []
        failed: list[str] = []
        released: list[str] = []
        outcomes = {
            JobState.DONE: done,
            JobState.FAILED: failed,
            JobState.PENDING: released,
            JobState.CANCELLED: released,
        }
        announced_idle = False
        with JobStore(self.folder.store_path) as store, self._own_staging():
            while not self._stop.is_cancelled:
                record = store.claim_next(self.owner, self.lease_seconds, self._job_ids, self.device)
                if record is None:
                    if not wait_for_jobs and not self._is_waiting_for_others(store):
                        if not announced_idle:
                            self._events(Idle())
                        break
                    if not announced_idle:
                        self._events(Idle())
                        announced_idle = True
                    self._stop.wait(poll_seconds)
                    continue
                announced_idle = False
                state = self._render_claimed(store, record)
                if state is not None:
                    outcomes[state].append(record.job_id)
        return DrainSummary(done=tuple(done), failed=tuple(failed), released=tuple(released))

    @contextmanager
    def _own_staging(self) -> Iterator[None]:
        """Leave no empty staging folder of this process behind."""
        try:
            yield
        finally:
            try:
                self.folder.staging_for(self.owner).rmdir()
            except OSError:  # absent, or holds a render another drainer of this process is writing
                pass

    def _is_waiting_for_others(self, store: JobStore) -> bool:
        # A job running elsewhere may come back to the queue (its owner dies): wait for it to end.
        return any(
            record.state is JobState.RUNNING and record.owner != self.owner
            for record in store.records()
            if self._job_ids is None or record.job_id in self._job_ids
        )

    def _render_claimed(self, store: JobStore, record: JobRecord) -> JobState | None:
        """Render one claimed job; returns the state it ended in (`None` when its lease was lost)."""
        job_id = record.job_id
        self._events(
            Claimed(job_id=job_id, name=record.name, attempt=record.attempts, owner=self.owner, device=self.device)
        )
        try:
            job = validated_job(record, self.folder)
        except KeydubError as error:
            return self._fail(store, job_id, str(error))
        # The sweep runs after the claim: the staging folders of owners that are gone (a killed worker's partial
        # file) are removed, this process's own is created afresh.
        self.folder.sweep_staging(store)
        staging = self.folder.staging_for(self.owner)
        staging.mkdir(parents=True, exist_ok=True)
        final = self.folder.root / job.output_name()
        staged = staging / final.name
        token = CancelToken("the render was stopped")
        with self._lock:
            self._current = (job_id, token)
            if self._stop.is_cancelled:
                token.cancel()
        heartbeat = _HeartbeatThread(self.folder.store_path, job_id, self.owner, self.lease_seconds, token, self._stop)
        heartbeat.start()
        try:
            try:
                result = self._render(job, staged, token, heartbeat)
            finally:
                # The lease is renewed only while rendering: what follows decides the job's state itself.
                heartbeat.finish()
                with self._lock:
                    self._current = None
        except RenderInterruptedError:
            return self._release(store, job_id, staged, heartbeat)
        except KeyboardInterrupt:
            _remove_staged(staged)
            store.release(job_id, self.owner, JobState.PENDING, "interrupted")
            self._events(Cancelled(job_id=job_id, state=JobState.PENDING.value))
            raise
        except KeydubError as error:
            _remove_staged(staged)
            return self._fail(store, job_id, str(error))
        except Exception as error:  # an engine bug must cost one clip, not the night's batch
            logger.exception("rendering %s failed", job.name)
            _remove_staged(staged)
            return self._fail(
                store, job_id, f"internal error {type(error).__name__}: {error} (please report it with the log above)"
            )
        qc = render_qc(result)
        if not store.finish(job_id, self.owner, final, qc, place=lambda: _place(staged, final)):
            _remove_staged(staged)
            self._events(Lost(job_id=job_id))
            return None
        self._events(Done(job_id=job_id, output=str(final), qc=qc))
        return JobState.DONE

    def _render(self, job: ClipJob, staged: Path, token: CancelToken, heartbeat: "_HeartbeatThread") -> RenderResult:
        _remove_staged(staged)
        request = replace(job.render_request(staged), placed_as=self.folder.root / job.output_name())
        if self.device is not None:
            request = request.with_options(device=self.device)
        eta = EtaEstimator()

        def progress(update: Progress) -> None:
            eta.update(update)
            remaining = eta.remaining_seconds()
            heartbeat.progress = JobProgress(
                stage=update.stage,
                done=update.done,
                total=update.total,
                unit=update.unit,
                eta_seconds=None if remaining is None else round(remaining, 1),
            )
            self._events(
                ProgressEvent(
                    job_id=job.job_id,
                    stage=update.stage,
                    done=update.done,
                    total=update.total,
                    unit=update.unit,
                    eta_seconds=heartbeat.progress.eta_seconds,
                )
            )

        token.raise_if_cancelled()
        result = self.engine.render(request, progress, token)
        if not staged.is_file():
            raise KeydubError(f"the renderer reported success for {job.name!r} but wrote no file at {staged}")
        if result.frame_count != job.frame_count:
            raise KeydubError(
                f"the render of {job.name!r} has {result.frame_count} frames, expected "
                f"{job.frame_count}; the clip was not placed"
            )
        return result

    def _release(self, store: JobStore, job_id: str, staged: Path, heartbeat: "_HeartbeatThread") -> JobState | None:
        _remove_staged(staged)
        with self._lock:
            by_user = job_id in self._cancelled_ids or heartbeat.is_cancel_requested
            self._cancelled_ids.discard(job_id)
        state = JobState.CANCELLED if by_user else JobState.PENDING
        message = "cancelled" if by_user else "interrupted: it is rendered again by the next run"
        if heartbeat.is_lost or not store.release(job_id, self.owner, state, message):
            self._events(Lost(job_id=job_id))
            return None
        self._events(Cancelled(job_id=job_id, state=state.value))
        return state

    def _fail(self, store: JobStore, job_id: str, message: str) -> JobState | None:
        message = " ".join(message.split())
        if not store.fail(job_id, self.owner, message):
            self._events(Lost(job_id=job_id))
            return None
        self._events(Failed(job_id=job_id, error=message))
        return JobState.FAILED


def render_qc(result: RenderResult) -> dict[str, Any]:
    """The figures of a render worth keeping with the clip: counts, the report's scalar values, the QC marker's
    face coverage and open-mouth share (`keydub.plugin.qc_marker`), its Content Credentials' manifest id (`None` when
    it was rendered with provenance off), and, with the active speaker, the stretches of speech left untouched
    because no face was sure to speak them."""
    # The report's `output` is where the render was staged: a temporary name that differs from one renderer to the
    # next (its staging folder), gone once the render is placed; the finished file is recorded with the job.
    scalars = {
        key: value
        for key, value in result.report.items()
        if isinstance(value, (str, int, float, bool)) and key != "output"
    }
    face, mouth = result.report.get("face") or {}, result.report.get("mouth") or {}
    provenance = result.report.get("provenance") or {}
    qc = {
        "frames": result.frame_count,
        "passed_through": len(result.passed_through),
        **scalars,
        "face_coverage": face.get("coverage"),
        "open_mouth_share": mouth.get("open_share"),
        "manifest_id": provenance.get("manifest_id"),
    }
    turns = (result.report.get("active_speaker") or {}).get("turns", [])
    if turns:  # the stretches of the original dialogue no face was sure to speak were left untouched
        qc["unsure_turns"] = [
            {"range": turn["range"], "confidence": turn["confidence"]} for turn in turns if not turn["sure"]
        ]
    return qc


def _place(staged: Path, final: Path) -> None:
    """Move a finished render from its staging folder into place, its Content Credentials sidecar first (a render
    in place always has its credentials beside it)."""
    for staged_file, final_file in zip(credential_files(staged), credential_files(final), strict=True):
        if staged_file.is_file():
            os.replace(staged_file, final_file)
        else:  # rendered with provenance off: an earlier render's sidecar there would claim to describe this one
            final_file.unlink(missing_ok=True)
    os.replace(staged, final)


def _remove_staged(staged: Path) -> None:
    """Remove a staged render, its sidecar, and the writers' partial files of them (`.<name>.*`)."""
    for path in (staged, *credential_files(staged)):
        path.unlink(missing_ok=True)
        for partial in path.parent.glob(f".{path.name}*"):
            partial.unlink(missing_ok=True)


class _HeartbeatThread(threading.Thread):
    """Renews the lease of one claimed job, writes its progress, and cancels its render when asked.

    Its own store connection: SQLite connections belong to one thread.
    """

    def __init__(
        self, store_path: Path, job_id: str, owner: str, lease_seconds: float, token: CancelToken, stop: CancelToken
    ) -> None:
        super().__init__(name=f"keydub-heartbeat-{job_id[:40]}", daemon=True)
        self._store_path = store_path
        self._job_id = job_id
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._interval = min(_HEARTBEAT_SECONDS, lease_seconds / 4)
        self._token = token
        self._batch_stop = stop
        self._is_finished = threading.Event()
        self.progress: JobProgress | None = None
        self.is_lost = False
        self.is_cancel_requested = False

    def run(self) -> None:
        with JobStore(self._store_path) as store:
            next_beat = time.monotonic() + self._interval
            while not self._is_finished.wait(_STOP_POLL_SECONDS):
                if self._batch_stop.is_cancelled:
                    self._token.cancel()
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + self._interval
                try:
                    beat = store.heartbeat(self._job_id, self._owner, self._lease_seconds, self.progress)
                except (KeydubError, sqlite3.Error) as error:  # a busy disk: the next beat tries again
                    logger.warning("could not renew the lease of %s: %s", self._job_id, error)
                    continue
                if not beat.is_held:
                    logger.warning("the lease of %s went to another owner; its render is discarded", self._job_id)
                    self.is_lost = True
                    self._token.cancel()
                elif beat.is_cancel_requested:
                    self.is_cancel_requested = True
                    self._token.cancel()

    def finish(self) -> None:
        self._is_finished.set()
        self.join()

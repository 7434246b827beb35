"""The panel's render queue, Qt-free: jobs go to the output folder's job store, a `keydub worker` renders them.

`QueueController` submits `ClipJob`s to the store's queue, cancels and retries them there, and reads the
worker's JSON-lines events (`keydub.plugin.worker.protocol`) into live per-job rows: the share of the job done
(`keydub.plugin.panel.job_progress`, one fraction that only goes forward), the running stage with its count, the
ETA and the worker's device. The process itself is started by a front end (the panel's `QProcess` adapter, or
`keydub.plugin.worker.client.WorkerProcess`): it hands each stdout line to `handle_line`, says when the process
started and ended, and gives the controller a way to write commands (`attach`).

A worker that crashes or is killed leaves its job `running` under a dead owner; `worker_ended` puts it back to
`pending` at once (the store's `reclaim`), says so in one line, and the next worker resumes it.

A window writes the store (an fsync each time) off its UI thread: `begin_submit(jobs)` shows the rows as
*submitting* at once, `write_submission(jobs, force)`, `write_cancel(job_ids)` and `write_retry(job_ids)` write from
any thread, and `finish_write(job_ids, records)` takes the rows read after the write (`stop_rendering` first stops
a cancelled render at once). `submit`, `cancel` and `retry` do it all on one thread.

Events (`keydub.plugin.panel.events`):

- `QueueChanged(job_ids, is_stale)`: rows changed (submitting, submitted, cancelled, retried, or an event about
  them); `is_stale` is true when the store's rows changed and have not been read again yet (call `reload`);
- `WorkerChanged`: the worker started, said hello (with what it removed at its start, see
  `WorkerStatus.removed_text`), went idle, ended or crashed (see `worker`).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keydub.core.errors import KeydubError
from keydub.plugin.jobs import ClipJob
from keydub.plugin.panel.events import EventSource, QueueChanged, WorkerChanged
from keydub.plugin.panel.job_progress import JobProgressTracker, JobProgressView
from keydub.plugin.store import JobProgress, JobRecord, JobState, JobStore
from keydub.plugin.worker.client import worker_command
from keydub.plugin.worker.protocol import (
    Bye,
    CancelCommand,
    Cancelled,
    Claimed,
    Done,
    Error,
    Event,
    Failed,
    Hello,
    Idle,
    Lost,
    ProgressEvent,
    ProtocolError,
    ShutdownCommand,
    command_line,
    parse_event,
)


logger = logging.getLogger(__name__)

CommandSink = Callable[[str], bool]
# The status line names this many of the files a worker removed at its start; the tooltip has every path.
_REMOVED_NAMES_SHOWN = 3


@dataclass(frozen=True)
class WorkerStatus:
    """Where the panel's worker process is.

    Args:
        state (`str`): `"stopped"` (never started or shut down), `"starting"`, `"running"`, `"idle"` (running,
            nothing queued) or `"crashed"` (ended without saying `bye`).
        pid (`int | None`): its process id while it runs.
        device (`str | None`): the device it renders on, from its `hello` (`None`: each job's own option).
        message (`str`): one line for the status bar (why it crashed, what it said last).
        removed_stale (`tuple[str, ...]`): the paths its `hello` says it removed at its start, left by killed
            runs (partial files, crop caches); `removed_text` words them.
    """

    state: str = "stopped"
    pid: int | None = None
    device: str | None = None
    message: str = ""
    removed_stale: tuple[str, ...] = ()

    def removed_text(self) -> str:
        """`"removed 2 files a killed render left: .sh010….partial.mkv, …"` (three names at most), or `""`."""
        if not self.removed_stale:
            return ""
        names = [Path(path).name for path in self.removed_stale]
        shown = ", ".join(names[:_REMOVED_NAMES_SHOWN]) + (", …" if len(names) > _REMOVED_NAMES_SHOWN else "")
        files = "1 file" if len(names) == 1 else f"{len(names)} files"
        return f"removed {files} a killed render left: {shown}"

    @property
    def is_alive(self) -> bool:
        return self.state in ("starting", "running", "idle")


@dataclass(frozen=True)
class LiveJob:
    """What the worker last said about the job it renders: its device and attempt (its progress is tracked apart)."""

    device: str | None = None
    attempt: int = 0


@dataclass(frozen=True)
class QueueRow:
    """One job of the queue as the panel shows it: the store's row, refreshed by the worker's live events.

    Args:
        job_id (`str`), name (`str`): the job and its clip's name.
        state (`JobState`): where the job is in the store (`pending` while it is being submitted).
        progress (`JobProgressView | None`): the share of the job done, its stage with its count, and the ETA.
        device (`str | None`): where it renders.
        attempts (`int`): how many times it was claimed.
        message (`str | None`): the one-line failure, or why it went back to the queue.
        output (`Path | None`): the finished file.
        is_submitting (`bool`): the job is being written to the store (it shows at once, before the write ends).
    """

    job_id: str
    name: str
    state: JobState
    progress: JobProgressView | None = None
    device: str | None = None
    attempts: int = 0
    message: str | None = None
    output: Path | None = None
    is_submitting: bool = False

    @property
    def fraction(self) -> float | None:
        """Share of the whole job done while rendering (it only goes forward), `None` before the first event."""
        if self.state is not JobState.RUNNING or self.is_submitting or self.progress is None:
            return None
        return self.progress.fraction

    @property
    def is_resumable(self) -> bool:
        """Queued again after its renderer stopped (a crash, a kill, a shutdown): it resumes on the next worker."""
        return self.state is JobState.PENDING and self.attempts > 0

    @property
    def can_cancel(self) -> bool:
        return not self.is_submitting and self.state in (JobState.PENDING, JobState.RUNNING)

    @property
    def can_retry(self) -> bool:
        return not self.is_submitting and self.state in (JobState.FAILED, JobState.CANCELLED)

    def progress_text(self) -> str:
        """`"interpolation · step 33/66"`, or the empty string outside a render."""
        return self.progress.stage_text() if self.fraction is not None else ""

    def eta_text(self) -> str:
        """`"1:05"` (minutes:seconds) or `"1:02:10"` past an hour; empty when unknown."""
        return self.progress.eta_text() if self.fraction is not None else ""

    def state_text(self) -> str:
        """The state in words, with the reason for failed and requeued jobs."""
        if self.is_submitting:
            return "submitting"
        if self.is_resumable and self.message:
            return f"queued (resumes: {self.message})"
        if self.state is JobState.FAILED and self.message:
            return f"failed: {self.message}"
        return self.state.value


class QueueController(EventSource):
    """The jobs of one output folder's queue and the panel's worker process on it.

    Args:
        folder (`Path`): the output folder (its store is `folder/.keydub/jobs.sqlite`).
        device (`str | None`): `--device` for the worker (`None`: each job's own device option).
        engine (`str | None`): `--engine MODULE:FACTORY` for the worker (tests use a stand-in engine).
    """

    def __init__(self, folder: Path, device: str | None = None, engine: str | None = None) -> None:
        super().__init__()
        self.folder = Path(folder).absolute()
        self.device = device
        self.engine = engine
        self.worker = WorkerStatus()
        self._live: dict[str, LiveJob] = {}
        # One tracker per running job and its attempt, fed by the worker's events or, for jobs other processes
        # render, by the store's snapshots: what keeps each job's bar going forward.
        self._progress: dict[str, tuple[int, JobProgressTracker]] = {}
        self._submitting: dict[str, str] = {}
        # The store's rows as last read: worker events update the live part only, so a render's stream of events
        # costs no database read on the caller's thread; `reload` (or `read_records` + `set_records`) reads again.
        self._records: list[JobRecord] = []
        self._auto_device: str | None = None
        self._rendering: str | None = None
        self._send: CommandSink | None = None
        self._has_said_bye = False

    # The queue ----------------------------------------------------------------------------------------------
    def _store(self, read_only: bool = False) -> JobStore:
        return JobStore.for_folder(self.folder, read_only=read_only)

    def submit(self, jobs: Iterable[ClipJob], force: bool = False) -> list[str]:
        """Queue jobs for the worker; a job already rendered (same content, file still there) or already queued
        or rendering is left alone unless `force` (re-render). Everything on the caller's thread.

        Returns:
            `list[str]`: the ids of the jobs queued now.
        """
        queued = self.write_submission(jobs, force=force)
        if queued:
            self.reload()
            self._emit(QueueChanged(queued, is_stale=False))
        return queued

    def begin_submit(self, jobs: Iterable[ClipJob]) -> None:
        """Show `jobs` as *submitting* until `finish_write` (the write runs elsewhere)."""
        jobs = list(jobs)
        self._submitting.update((job.job_id, job.name) for job in jobs)
        self._emit(QueueChanged([job.job_id for job in jobs], is_stale=False))

    def finish_write(self, job_ids: list[str], records: list[JobRecord] | None = None) -> None:
        """A write of `job_ids` made elsewhere ended: their *submitting* marks go. `records` are the store's rows read
        after the write (`read_records`); `None` (the write failed) asks for a `reload`."""
        for job_id in job_ids:
            self._submitting.pop(job_id, None)
        if records is not None:
            self.set_records(records)
        self._emit(QueueChanged(list(job_ids), is_stale=records is None))

    def write_submission(self, jobs: Iterable[ClipJob], force: bool = False) -> list[str]:
        """The store's part of `submit`: safe on any thread (it opens its own connection and changes nothing else).

        Returns:
            `list[str]`: the ids of the jobs queued now.
        """
        queued = []
        with self._store() as store:
            for job in jobs:
                job_hash = job.content_hash()
                record = store.get(job.job_id)
                is_current = record is not None and record.job_hash == job_hash
                if (
                    not force
                    and is_current
                    and (record.is_done_with(job_hash) or record.state in (JobState.PENDING, JobState.RUNNING))
                ):
                    continue
                store.submit(job.job_id, job.name, job_hash, job.to_dict())
                queued.append(job.job_id)
        return queued

    def cancel(self, job_ids: Iterable[str]) -> None:
        """Take jobs out of the queue; the one being rendered stops within one denoising step."""
        job_ids = list(job_ids)
        self.stop_rendering(job_ids)
        self.write_cancel(job_ids)
        self.reload()
        self._emit(QueueChanged(job_ids, is_stale=False))

    def stop_rendering(self, job_ids: Iterable[str]) -> None:
        """If this panel's worker renders one of `job_ids`, tell it to stop now (it would read the store's cancel
        flag only at its next heartbeat)."""
        if self._rendering in set(job_ids):
            self.send(command_line(CancelCommand(self._rendering)))

    def write_cancel(self, job_ids: Iterable[str]) -> None:
        """The store's part of `cancel`: safe on any thread."""
        with self._store() as store:
            for job_id in job_ids:
                store.cancel(job_id)

    def retry(self, job_ids: Iterable[str]) -> None:
        """Queue failed or cancelled jobs again."""
        job_ids = list(job_ids)
        self.write_retry(job_ids)
        self.reload()
        self._emit(QueueChanged(job_ids, is_stale=False))

    def write_retry(self, job_ids: Iterable[str]) -> None:
        """The store's part of `retry`: safe on any thread."""
        with self._store() as store:
            for job_id in job_ids:
                store.retry(job_id)

    def reload(self) -> None:
        """Read the store again (jobs submitted, rendered or changed by any process on the folder)."""
        self.set_records(self.read_records())

    def read_records(self) -> list[JobRecord]:
        """The store's rows, skipped clips left out, oldest submission first. Safe on any thread (it opens its own
        connection), so a window can read off its UI thread and hand the rows to `set_records`."""
        with self._store(read_only=True) as store:
            records = [record for record in store.records() if record.state is not JobState.SKIPPED]
        return sorted(records, key=lambda record: (record.submitted_at or record.updated_at, record.job_id))

    def set_records(self, records: list[JobRecord]) -> None:
        """Take rows read by `read_records` as the store's state."""
        self._records = list(records)
        running = {record.job_id for record in self._records if record.state is JobState.RUNNING}
        for job_id in set(self._progress) - running - set(self._live):
            del self._progress[job_id]
        for record in self._records:
            if record.job_id in running and record.job_id not in self._live and record.progress is not None:
                # Another process renders it: its heartbeat's snapshot is all there is.
                self._track(record.job_id, record.attempts, record.progress)

    def rows(self) -> list[QueueRow]:
        """Every job of the store as last read (skipped clips left out), oldest submission first, with the
        worker's live progress; jobs being submitted are marked, the new ones last."""
        rows = [self._row(record) for record in self._records]
        rows = [replace(row, is_submitting=True) if row.job_id in self._submitting else row for row in rows]
        shown = {row.job_id for row in rows}
        return rows + [
            QueueRow(job_id, name, JobState.PENDING, is_submitting=True)
            for job_id, name in self._submitting.items()
            if job_id not in shown
        ]

    def _track(self, job_id: str, attempt: int, progress: JobProgress) -> None:
        tracked = self._progress.get(job_id)
        if tracked is None or tracked[0] != attempt:
            tracked = self._progress[job_id] = (attempt, JobProgressTracker())  # an attempt starts from zero
        tracked[1].update(progress)

    def has_pending(self) -> bool:
        return any(record.state is JobState.PENDING for record in self._records)

    def _row(self, record: JobRecord) -> QueueRow:
        tracked = self._progress.get(record.job_id)
        row = QueueRow(
            record.job_id,
            record.name,
            record.state,
            tracked[1].view if tracked is not None and record.state is JobState.RUNNING else None,
            device=record.device or self._job_device(record),
            attempts=record.attempts,
            message=record.message,
            output=record.output,
        )
        live = self._live.get(record.job_id)
        if live is not None and record.state is JobState.RUNNING:
            row = replace(row, device=live.device or row.device, attempts=max(live.attempt, row.attempts))
        return row

    def _job_device(self, record: JobRecord) -> str | None:
        """Where a job renders when its worker names no device: its own option, `"auto"` as this machine has it
        (the panel's worker runs on this machine)."""
        if record.job is None:
            return None
        device = str((record.job.get("options") or {}).get("device", "auto"))
        if device != "auto":
            return device
        if self._auto_device is None:
            from keydub.core.devices import resolve_device

            self._auto_device = str(resolve_device("auto"))
        return self._auto_device

    # The worker ---------------------------------------------------------------------------------------------
    def worker_argv(self) -> list[str]:
        """The command that starts this folder's worker."""
        return worker_command(self.folder, device=self.device, engine=self.engine)

    def attach(self, send: CommandSink | None) -> None:
        """Where commands to the worker go: a function writing one line to its stdin (`None`: no worker)."""
        self._send = send

    def send(self, line: str) -> bool:
        """Write a command line to the worker; `False` when there is none."""
        return self._send is not None and self._send(line)

    def shutdown(self) -> bool:
        """Ask the worker to stop (its job goes back to pending)."""
        return self.send(command_line(ShutdownCommand()))

    def worker_started(self, pid: int | None) -> None:
        self._has_said_bye = False
        self.worker = WorkerStatus("starting", pid=pid, message="starting the worker…")
        self._emit(WorkerChanged())

    def handle_line(self, line: str) -> Event | None:
        """Read one line of the worker's stdout; a line that is not the protocol is logged and skipped."""
        if not line.strip():
            return None
        try:
            event = parse_event(line)
        except ProtocolError as error:
            logger.warning("ignoring a line from the worker: %s", error)
            return None
        self.handle_event(event)
        return event

    def handle_event(self, event: Event) -> None:
        """Apply one worker event to the live rows and the worker's status."""
        if isinstance(event, Hello):
            self._set_worker(
                state="running",
                pid=event.pid,
                device=event.device,
                message=f"worker {event.owner} on {event.device or 'each job’s device'}",
                removed_stale=tuple(event.removed_stale_files),
            )
        elif isinstance(event, Claimed):
            self._rendering = event.job_id
            self._live[event.job_id] = LiveJob(device=event.device or self.worker.device, attempt=event.attempt)
            self._set_worker(state="running", message=f"rendering {event.name}")
        elif isinstance(event, ProgressEvent):
            live = self._live.setdefault(event.job_id, LiveJob(device=self.worker.device))
            progress = JobProgress(event.stage, event.done, event.total, event.unit, event.eta_seconds)
            self._track(event.job_id, live.attempt, progress)
        elif isinstance(event, (Done, Failed, Cancelled, Lost)):
            self._live.pop(event.job_id, None)
            self._progress.pop(event.job_id, None)
            if self._rendering == event.job_id:
                self._rendering = None
            if isinstance(event, Failed):
                self._set_worker(message=f"failed: {event.error}")
        elif isinstance(event, Idle):
            self._set_worker(state="idle", message="the queue is empty")
        elif isinstance(event, Error):
            self._set_worker(message=f"worker: {event.message}")
        elif isinstance(event, Bye):
            self._has_said_bye = True
            self._set_worker(message=f"worker stopped ({event.reason}{': ' + event.message if event.message else ''})")
        if isinstance(event, (Claimed, ProgressEvent, Done, Failed, Cancelled, Lost)):
            # A claim or an end changed the job's row in the store: `is_stale` asks the client to `reload`.
            self._emit(QueueChanged([event.job_id], is_stale=not isinstance(event, ProgressEvent)))

    def worker_ended(self, exit_code: int | None, crashed: bool = False, detail: str = "") -> None:
        """The worker process is gone. If it did not say `bye`, it crashed: its job is put back in the queue.

        Args:
            exit_code (`int | None`): its exit code (`None` when killed by a signal).
            crashed (`bool`): the process died (killed, segfault) rather than exiting.
            detail (`str`): the last line it wrote on stderr, for the message.
        """
        rendering, self._rendering = self._rendering, None
        self._live.clear()
        self._progress.clear()
        self._send = None
        if self._has_said_bye and not crashed and exit_code == 0:
            self.worker = replace(self.worker, state="stopped", pid=None)
            self._emit(WorkerChanged())
            return
        how = "was killed" if crashed or exit_code is None else f"exited with code {exit_code}"
        reason = f" ({detail.strip()})" if detail.strip() else ""
        message = f"The worker {how}{reason}"
        requeued = self._reclaim()
        if rendering is not None or requeued:
            name = self._name(rendering or requeued[0])
            message += f" while rendering {name}; the job is kept and resumes when the worker starts again."
        else:
            message += "."
        self.worker = WorkerStatus("crashed", message=message)
        self.reload()
        self._emit(WorkerChanged())
        self._emit(QueueChanged(requeued or ([rendering] if rendering else []), is_stale=False))

    def worker_failed_to_start(self, message: str) -> None:
        self._send = None
        self.worker = WorkerStatus("crashed", message=f"The worker could not start: {message}")
        self._emit(WorkerChanged())

    def _reclaim(self) -> list[str]:
        try:
            with self._store() as store:
                return store.reclaim()
        except KeydubError as error:  # the store is busy or gone: the next claim reclaims it anyway
            logger.warning("could not put the crashed worker's job back: %s", error)
            return []

    def _name(self, job_id: str) -> str:
        with self._store(read_only=True) as store:
            record = store.get(job_id)
        return repr(record.name) if record is not None else repr(job_id)

    def _set_worker(self, **changes: Any) -> None:
        self.worker = replace(self.worker, **changes)
        self._emit(WorkerChanged())

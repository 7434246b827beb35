"""The job store of an output folder, and its queue: what each clip's job is, who renders it, how far it got.

One SQLite database per output folder (write-ahead log, every change its own committed transaction), shared by
every process that renders into the folder: an in-process batch, `keydub worker` processes (one per GPU), the
panel reading progress. A render box that crashes, is killed or loses power knows on restart which clips are
finished.

The queue:

- `submit` puts a job in the queue (`pending`);
- `claim_next(owner, lease_seconds)` hands the oldest pending job to exactly one owner (`host:pid`) under a
  lease, in one `BEGIN IMMEDIATE` transaction, so two processes never claim the same job;
- the owner renews the lease with `heartbeat` (which also writes its progress and reads whether someone asked
  for the job to be cancelled) and ends it with `finish`, `fail` or `release`;
- a `running` job whose owner is gone (its lease ran out, or it was on this host and its process no longer
  exists) is put back to `pending` by the next `claim_next` and rendered by someone else;
- `cancel` takes a job out of the queue (`cancelled`), `retry` puts a failed or cancelled job back.

An interrupted render (Ctrl-C, a cancelled batch, a worker shut down mid-job) goes back to `pending`: it is not
a failure and the next run finishes it. A job the user cancels by id goes to `cancelled`, so that the worker
rendering the queue does not pick it up again at once; re-submitting it (a batch re-run) or `retry` makes it
pending again.
"""

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from keydub.core.errors import InvalidParameterError, JobStoreError, OutputNotWritableError
from keydub.core.plain_data import from_plain


# Schema version in `PRAGMA user_version`; a store written by a newer Keydub is refused rather than misread.
# 1: job rows with outcomes. 2: the queue (owner, lease, progress, cancel request, the `cancelled` state).
_SCHEMA_VERSION = 2

_COLUMNS_V1 = ("job_id", "name", "job_hash", "state", "output", "message", "job", "result", "updated_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    job_id           TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    job_hash         TEXT,
    state            TEXT NOT NULL
                     CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped', 'cancelled')),
    output           TEXT,
    message          TEXT,
    job              TEXT,
    result           TEXT,
    updated_at       REAL NOT NULL,
    submitted_at     REAL,
    owner            TEXT,
    lease_until      REAL,
    started_at       REAL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    device           TEXT,
    stage            TEXT,
    done             INTEGER,
    total            INTEGER,
    unit             TEXT,
    eta_seconds      REAL
)
"""

# A second process (the panel reading progress while a batch renders) may hold the lock briefly.
_BUSY_TIMEOUT_S = 30.0

# Where an output folder keeps its store.
STORE_PATH = Path(".keydub", "jobs.sqlite")

# What a claim, a re-submission and a hand-back clear: the previous owner's lease and progress.
_CLEAR_RUN = (
    "owner = NULL, lease_until = NULL, started_at = NULL, cancel_requested = 0, device = NULL, "
    "stage = NULL, done = NULL, total = NULL, unit = NULL, eta_seconds = NULL"
)


class JobState(str, Enum):
    """Where a job is.

    `pending`: queued, to be claimed. `running`: claimed by `owner` under a lease. `done`: its output file was
    completely written and renamed into place. `failed`: stopped with an error (`message`). `skipped`: a clip
    the batch does not render (`message` says why). `cancelled`: taken out of the queue by the user.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobProgress:
    """How far a running job is, as its owner last wrote it.

    Args:
        stage (`str`): the stage running (a `keydub.core.progress.Stage` name).
        done (`int`), total (`int`): units finished and in all, in this stage.
        unit (`str`, defaults to `"frames"`): what `done` and `total` count.
        eta_seconds (`float | None`): wall-clock seconds left, when there is a rate to estimate it from.
    """

    stage: str
    done: int
    total: int
    unit: str = "frames"
    eta_seconds: float | None = None


@dataclass(frozen=True)
class Heartbeat:
    """What a lease renewal found.

    Args:
        is_held (`bool`): the caller still owns the job (else its lease ran out and the job went to another
            owner, or the job was re-submitted: the render must be discarded).
        is_cancel_requested (`bool`): someone called `cancel(job_id)`: stop the render and `release` it as
            `cancelled`.
    """

    is_held: bool
    is_cancel_requested: bool


@dataclass(frozen=True)
class JobRecord:
    """One row of the store.

    Args:
        job_id (`str`): the job's key (see `ClipJob.job_id`).
        name (`str`): the clip's name.
        job_hash (`str | None`): `ClipJob.content_hash()` of the job this row describes (`None` for skipped clips).
        state (`JobState`): where the job is.
        output (`Path | None`): the finished file, for `done` jobs.
        message (`str | None`): the one-line failure message, the skip reason or why a job went back.
        job (`dict | None`): the job as `ClipJob.to_dict()`.
        result (`dict | None`): what the render reported (frame counts, passed-through frames, QC figures).
        updated_at (`float`): POSIX time of the last change.
        submitted_at (`float | None`): when the job was (last) queued.
        owner (`str | None`): `host:pid` of the process rendering it, while `running`.
        lease_until (`float | None`): POSIX time the owner's lease runs out, while `running`.
        started_at (`float | None`): when the current owner claimed it.
        attempts (`int`): how many times the job was claimed.
        is_cancel_requested (`bool`): a cancel was asked while it was running.
        device (`str | None`): where the owner renders it (e.g. `"cuda:1"`).
        progress (`JobProgress | None`): the owner's last progress.
    """

    job_id: str
    name: str
    job_hash: str | None
    state: JobState
    output: Path | None
    message: str | None
    job: dict[str, Any] | None
    result: dict[str, Any] | None
    updated_at: float
    submitted_at: float | None = None
    owner: str | None = None
    lease_until: float | None = None
    started_at: float | None = None
    attempts: int = 0
    is_cancel_requested: bool = False
    device: str | None = None
    progress: JobProgress | None = None

    def is_done_with(self, job_hash: str) -> bool:
        """Whether this row is a finished render of exactly `job_hash` whose file is still there."""
        return (
            self.state is JobState.DONE
            and self.job_hash == job_hash
            and self.output is not None
            and self.output.is_file()
        )


def current_owner() -> str:
    """The owner name of this process in the queue: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_owner_alive(owner: str | None, now: float, lease_until: float | None) -> bool:
    """Whether a `running` job's owner may still be rendering it.

    It is not when the lease ran out, or when the owner is a process of this host that no longer exists (a
    killed worker is noticed at once, not only when its lease runs out). An owner may name one of several drain
    loops of a process as `host:pid+name` (a farm driver's loop per actor): the process decides.
    """
    if owner is None or lease_until is None or lease_until < now:
        return False
    host, _, pid = owner.partition("+")[0].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or os.name == "nt":
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    return True


class JobStore:
    """SQLite store (and queue) of the jobs of one output folder.

    Use as a context manager, or call `close()`. Every method commits before returning. A store is used by
    one thread; open one per thread (connections are cheap).

    Args:
        path (`Path`): the database file; created (with its folder) when missing.
        read_only (`bool`, defaults to `False`): open an existing store without creating or changing anything
            (for `--dry-run`); a missing store then reads as empty.
    """

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._connection: sqlite3.Connection | None = None
        if read_only:
            if self.path.is_file():
                self._connection = self._connect(f"{self.path.resolve().as_uri()}?mode=ro")
                # A store that another process is creating right now has no table yet: it reads as empty.
                if not self._connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone():
                    self.close()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputNotWritableError(
                f"cannot create {self.path.parent} for the job store ({error.strerror}); "
                "choose an output folder you can write to"
            ) from error
        self._connection = self._connect(str(self.path))
        self._create_schema()

    def _connect(self, database: str) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                database, timeout=_BUSY_TIMEOUT_S, uri=database.startswith("file:"), isolation_level=None
            )
            connection.row_factory = sqlite3.Row
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise JobStoreError(
                f"the job store {self.path} cannot be read ({error}); delete it to start the "
                "batch over (finished renders in the folder are kept and reused)"
            ) from error
        if version > _SCHEMA_VERSION:
            connection.close()
            raise JobStoreError(
                f"the job store {self.path} was written by a newer Keydub (schema {version}); "
                "update Keydub or use another output folder"
            )
        return connection

    def _create_schema(self) -> None:
        connection = self._writable()
        try:
            # WAL: readers (a panel showing progress) never block the batch, and a killed writer loses at most
            # the transaction it was in. FULL: a committed `done` survives a power cut, not only a process kill.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            with _transaction(connection):
                # Read again under the write lock: another process may have created or migrated it meanwhile.
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                has_table = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone()
                if has_table and version < _SCHEMA_VERSION:
                    _migrate_from_v1(connection)
                connection.execute(_SCHEMA.format(table="jobs"))
                connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except sqlite3.OperationalError as error:
            raise OutputNotWritableError(
                f"cannot write the job store {self.path} ({error}); choose an output folder you can write to"
            ) from error

    @classmethod
    def for_folder(cls, folder: Path, read_only: bool = False) -> "JobStore":
        """The store of an output folder (`<folder>/.keydub/jobs.sqlite`)."""
        return cls(Path(folder) / STORE_PATH, read_only=read_only)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Reading ------------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        """The row of `job_id`, or `None` when the store has never seen it."""
        if self._connection is None:
            return None
        row = self._connection.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _record(row) if row is not None else None

    def records(self) -> list[JobRecord]:
        """Every row, oldest change first."""
        if self._connection is None:
            return []
        rows = self._connection.execute("SELECT * FROM jobs ORDER BY updated_at, job_id").fetchall()
        return [_record(row) for row in rows]

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the store's write lock: no other process claims, submits or finishes a job meanwhile."""
        with _transaction(self._writable()):
            yield

    # Outcomes recorded without a render ---------------------------------------------------------------------
    def mark_done(
        self, job_id: str, name: str, job_hash: str, job: dict[str, Any], output: Path, result: dict[str, Any]
    ) -> None:
        """Record a job whose finished file is already at `output` (a recovered render, or a clip that shares
        another clip's render)."""
        self._upsert(
            job_id,
            name=name,
            job_hash=job_hash,
            state=JobState.DONE,
            output=str(output),
            message=None,
            job=job,
            result=result,
        )

    def mark_skipped(self, job_id: str, name: str, reason: str) -> None:
        """Record a clip that is not rendered, and why."""
        self._upsert(
            job_id,
            name=name,
            job_hash=None,
            state=JobState.SKIPPED,
            output=None,
            message=reason,
            job=None,
            result=None,
        )

    def _upsert(
        self,
        job_id: str,
        *,
        name: str,
        job_hash: str | None,
        state: JobState,
        output: str | None,
        message: str | None,
        job: dict[str, Any] | None,
        result: dict[str, Any] | None,
    ) -> None:
        connection = self._writable()
        with _transaction(connection):
            connection.execute(
                "INSERT INTO jobs (job_id, name, job_hash, state, output, message, job, result, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET name = excluded.name, job_hash = excluded.job_hash, "
                "state = excluded.state, output = excluded.output, message = excluded.message, job = excluded.job, "
                f"result = excluded.result, updated_at = excluded.updated_at, {_CLEAR_RUN}",
                (job_id, name, job_hash, state.value, output, message, _dumps(job), _dumps(result), time.time()),
            )

    # The queue ----------------------------------------------------------------------------------------------
    def submit(self, job_id: str, name: str, job_hash: str, job: dict[str, Any]) -> JobRecord:
        """Queue `job` (as `ClipJob.to_dict()`) for rendering: its row becomes `pending`.

        A row already `running` the same `job_hash` is left to its owner; any other row (done, failed,
        cancelled, or running an older version of the job) is replaced, and an owner still rendering the old
        version loses its lease and discards its render.

        Returns:
            `JobRecord`: the row as it is now.
        """
        connection = self._writable()
        now = time.time()
        with _transaction(connection):
            connection.execute(
                "INSERT INTO jobs (job_id, name, job_hash, state, job, updated_at, submitted_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET name = excluded.name, job_hash = excluded.job_hash, "
                "state = 'pending', output = NULL, message = NULL, job = excluded.job, result = NULL, "
                f"updated_at = excluded.updated_at, submitted_at = excluded.submitted_at, {_CLEAR_RUN} "
                "WHERE NOT (jobs.state = 'running' AND jobs.job_hash IS excluded.job_hash)",
                (job_id, name, job_hash, _dumps(job), now, now),
            )
        record = self.get(job_id)
        assert record is not None
        return record

    def claim_next(
        self, owner: str, lease_seconds: float, job_ids: Iterable[str] | None = None, device: str | None = None
    ) -> JobRecord | None:
        """Hand the oldest pending job to `owner`, atomically: two processes never get the same job.

        Jobs of owners that are gone are put back to `pending` first (see `is_owner_alive`).

        Args:
            owner (`str`): who claims (`current_owner()`: `host:pid`).
            lease_seconds (`float`): how long the claim holds without a `heartbeat`.
            job_ids (`Iterable[str] | None`): claim only among these jobs (a batch rendering its own plan);
                `None`: any pending job.
            device (`str | None`): where the owner renders, shown to the panel.

        Returns:
            `JobRecord | None`: the claimed row (`running`), or `None` when nothing is pending.
        """
        connection = self._writable()
        wanted = None if job_ids is None else set(job_ids)
        now = time.time()
        with _transaction(connection):
            self._reclaim(connection, now)
            rows = connection.execute(
                "SELECT job_id FROM jobs WHERE state = 'pending' ORDER BY submitted_at, job_id"
            ).fetchall()
            job_id = next((row[0] for row in rows if wanted is None or row[0] in wanted), None)
            if job_id is None:
                return None
            connection.execute(
                f"UPDATE jobs SET {_CLEAR_RUN}, state = 'running', owner = ?, lease_until = ?, started_at = ?, "
                "device = ?, attempts = attempts + 1, message = NULL, updated_at = ? WHERE job_id = ?",
                (owner, now + lease_seconds, now, device, now, job_id),
            )
        return self.get(job_id)

    def reclaim(self) -> list[str]:
        """Put every `running` job whose owner is gone back to `pending`; return their ids."""
        connection = self._writable()
        with _transaction(connection):
            return self._reclaim(connection, time.time())

    def _reclaim(self, connection: sqlite3.Connection, now: float) -> list[str]:
        rows = connection.execute("SELECT job_id, owner, lease_until FROM jobs WHERE state = 'running'").fetchall()
        dead = [row["job_id"] for row in rows if not is_owner_alive(row["owner"], now, row["lease_until"])]
        for job_id in dead:
            connection.execute(
                f"UPDATE jobs SET state = 'pending', message = 'interrupted: its renderer stopped', {_CLEAR_RUN}, "
                "updated_at = ? WHERE job_id = ?",
                (now, job_id),
            )
        return dead

    def heartbeat(
        self, job_id: str, owner: str, lease_seconds: float, progress: JobProgress | None = None
    ) -> Heartbeat:
        """Renew `owner`'s lease on `job_id` and record its progress, in one statement.

        Returns:
            `Heartbeat`: whether the lease is still held, and whether a cancel was asked.
        """
        connection = self._writable()
        now = time.time()
        fields = "lease_until = ?, updated_at = ?"
        values: list[Any] = [now + lease_seconds, now]
        if progress is not None:
            fields += ", stage = ?, done = ?, total = ?, unit = ?, eta_seconds = ?"
            values += [progress.stage, progress.done, progress.total, progress.unit, progress.eta_seconds]
        with _transaction(connection):
            cursor = connection.execute(
                f"UPDATE jobs SET {fields} WHERE job_id = ? AND owner = ? AND state = 'running'",
                (*values, job_id, owner),
            )
            if cursor.rowcount == 0:
                return Heartbeat(is_held=False, is_cancel_requested=False)
            row = connection.execute("SELECT cancel_requested FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return Heartbeat(is_held=True, is_cancel_requested=bool(row[0]))

    def finish(
        self, job_id: str, owner: str, output: Path, result: dict[str, Any], place: Callable[[], None] | None = None
    ) -> bool:
        """Record `owner`'s finished render of `job_id` at `output`.

        Args:
            place (`Callable[[], None] | None`): renames the staged render into `output`; called inside the
                transaction, after the lease was checked, so a render whose lease went to another owner is never
                placed.

        Returns:
            `bool`: `False` when `owner` no longer holds the job (nothing was placed or recorded).
        """
        connection = self._writable()
        now = time.time()
        with _transaction(connection):
            if not self._holds(connection, job_id, owner):
                return False
            if place is not None:
                place()
            connection.execute(
                f"UPDATE jobs SET state = 'done', output = ?, result = ?, message = NULL, {_CLEAR_RUN}, "
                "updated_at = ? WHERE job_id = ?",
                (str(output), _dumps(result), now, job_id),
            )
        return True

    def fail(self, job_id: str, owner: str, message: str) -> bool:
        """Record that `owner`'s render of `job_id` stopped with an error; `message` is kept on one line."""
        return self._end(job_id, owner, JobState.FAILED, " ".join(message.split()))

    def release(self, job_id: str, owner: str, state: JobState = JobState.PENDING, message: str | None = None) -> bool:
        """Hand a claimed job back without a result: `pending` (interrupted, to be rendered again) or
        `cancelled` (the user asked)."""
        if state not in (JobState.PENDING, JobState.CANCELLED):
            raise InvalidParameterError(f"a released job goes back to pending or cancelled, not {state.value}")
        return self._end(job_id, owner, state, message)

    def _end(self, job_id: str, owner: str, state: JobState, message: str | None) -> bool:
        connection = self._writable()
        with _transaction(connection):
            if not self._holds(connection, job_id, owner):
                return False
            connection.execute(
                f"UPDATE jobs SET state = ?, message = ?, {_CLEAR_RUN}, updated_at = ? WHERE job_id = ?",
                (state.value, message, time.time(), job_id),
            )
        return True

    @staticmethod
    def _holds(connection: sqlite3.Connection, job_id: str, owner: str) -> bool:
        row = connection.execute("SELECT owner, state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row is not None and row["state"] == JobState.RUNNING.value and row["owner"] == owner

    def cancel(self, job_id: str) -> JobRecord:
        """Take `job_id` out of the queue.

        A pending job becomes `cancelled` at once. A running job is flagged: its owner stops the render within
        one denoising step (it reads the flag at its next heartbeat) and releases it as `cancelled`. A done,
        failed, skipped or cancelled job is left as it is.

        Returns:
            `JobRecord`: the row after the change.

        Raises:
            `InvalidParameterError`: the store has no job `job_id`.
        """
        connection = self._writable()
        with _transaction(connection):
            now = time.time()
            connection.execute(
                "UPDATE jobs SET state = 'cancelled', message = 'cancelled', updated_at = ? "
                "WHERE job_id = ? AND state = 'pending'",
                (now, job_id),
            )
            connection.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE job_id = ? AND state = 'running'",
                (now, job_id),
            )
        return self._existing(job_id)

    def retry(self, job_id: str) -> JobRecord:
        """Put a failed or cancelled job back in the queue (`pending`); other states are left as they are.

        Raises:
            `InvalidParameterError`: the store has no job `job_id`, or it has no job data to render (skipped).
        """
        record = self._existing(job_id)
        if record.job is None:
            raise InvalidParameterError(f"job {job_id!r} is {record.state.value} and has nothing to render")
        connection = self._writable()
        with _transaction(connection):
            now = time.time()
            connection.execute(
                f"UPDATE jobs SET state = 'pending', message = NULL, {_CLEAR_RUN}, updated_at = ?, "
                "submitted_at = ? WHERE job_id = ? AND state IN ('failed', 'cancelled')",
                (now, now, job_id),
            )
        return self._existing(job_id)

    def _existing(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        if record is None:
            raise InvalidParameterError(f"the job store {self.path} has no job {job_id!r}")
        return record

    def _writable(self) -> sqlite3.Connection:
        if self.read_only or self._connection is None:
            raise JobStoreError(f"the job store {self.path} was opened read-only or is closed")
        return self._connection


def _migrate_from_v1(connection: sqlite3.Connection) -> None:
    # SQLite cannot change a CHECK constraint in place: copy the rows into a table of the new shape. A v1 row
    # left `running` has no owner, so the first claim puts it back to pending.
    connection.execute(_SCHEMA.format(table="jobs_v2"))
    columns = ", ".join(_COLUMNS_V1)
    connection.execute(f"INSERT INTO jobs_v2 ({columns}, submitted_at) SELECT {columns}, updated_at FROM jobs")
    connection.execute("DROP TABLE jobs")
    connection.execute("ALTER TABLE jobs_v2 RENAME TO jobs")


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so two writers wait for each other instead of failing mid-way.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _dumps(value: dict[str, Any] | None) -> str | None:
    return json.dumps(value, sort_keys=True, default=str) if value is not None else None


def _record(row: sqlite3.Row) -> JobRecord:
    # A read-only connection to a store not migrated yet has only the v1 columns.
    values = {key: row[key] for key in row.keys()}
    progress = {name: values.pop(name, None) for name in ("stage", "done", "total", "unit", "eta_seconds")}
    values.update(
        output=values["output"] or None,
        job=json.loads(values["job"]) if values["job"] else None,
        result=json.loads(values["result"]) if values["result"] else None,
        attempts=values.get("attempts") or 0,
        is_cancel_requested=bool(values.pop("cancel_requested", 0)),
        progress={**progress, "unit": progress["unit"] or "frames"} if progress["stage"] is not None else None,
    )
    return from_plain(JobRecord, values)

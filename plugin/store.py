"""The durable job store of an output folder: what each clip's job is, how far it got and what it produced.

One SQLite database (write-ahead log, every state change its own committed transaction) per output folder, so
a render box that crashes, is killed or loses power mid-batch knows on restart which clips are finished. A job
left `running` by a process that no longer exists is put back to `pending` by `reset_interrupted()`.
"""

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from keydub.core.errors import JobStoreError, OutputNotWritableError


# Schema version in `PRAGMA user_version`; a store written by a newer Keydub is refused rather than misread.
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    job_hash   TEXT,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    output     TEXT,
    message    TEXT,
    job        TEXT,
    result     TEXT,
    updated_at REAL NOT NULL
)
"""

# A second process (the panel reading progress while a batch renders) may hold the lock briefly.
_BUSY_TIMEOUT_S = 30.0

# Where an output folder keeps its store.
STORE_PATH = Path(".keydub", "jobs.sqlite")


class JobState(str, Enum):
    """Where a job is. `done` means its output file was completely written and renamed into place."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class JobRecord:
    """One row of the store.

    Args:
        job_id (`str`): the job's key (see `ClipJob.job_id`).
        name (`str`): the clip's name.
        job_hash (`str | None`): `ClipJob.content_hash()` of the job this row describes (`None` for skipped clips).
        state (`JobState`): where the job is.
        output (`Path | None`): the finished file, for `done` jobs.
        message (`str | None`): the failure message or the skip reason.
        job (`dict | None`): the job as `ClipJob.to_dict()`.
        result (`dict | None`): what the render reported (frame counts, passed-through frames, QC figures).
        updated_at (`float`): POSIX time of the last change.
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

    def is_done_with(self, job_hash: str) -> bool:
        """Whether this row is a finished render of exactly `job_hash` whose file is still there."""
        return (self.state is JobState.DONE and self.job_hash == job_hash and self.output is not None
                and self.output.is_file())


class JobStore:
    """SQLite store of the jobs of one output folder.

    Use as a context manager, or call `close()`. Every method commits before returning.

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
            raise OutputNotWritableError(f"cannot create {self.path.parent} for the job store ({error.strerror}); "
                                         "choose an output folder you can write to") from error
        self._connection = self._connect(str(self.path))
        self._create_schema()

    def _connect(self, database: str) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(database, timeout=_BUSY_TIMEOUT_S, uri=database.startswith("file:"),
                                         isolation_level=None)
            connection.row_factory = sqlite3.Row
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise JobStoreError(f"the job store {self.path} cannot be read ({error}); delete it to start the "
                                "batch over (finished renders in the folder are kept and reused)") from error
        if version > _SCHEMA_VERSION:
            connection.close()
            raise JobStoreError(f"the job store {self.path} was written by a newer Keydub (schema {version}); "
                                "update Keydub or use another output folder")
        return connection

    def _create_schema(self) -> None:
        assert self._connection is not None
        try:
            # WAL: readers (a panel showing progress) never block the batch, and a killed writer loses at most
            # the transaction it was in. FULL: a committed `done` survives a power cut, not only a process kill.
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute(_SCHEMA)
            self._connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except sqlite3.OperationalError as error:
            raise OutputNotWritableError(f"cannot write the job store {self.path} ({error}); choose an output "
                                         "folder you can write to") from error

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

    # Writing ------------------------------------------------------------------------------------------------
    def mark_running(self, job_id: str, name: str, job_hash: str, job: dict[str, Any]) -> None:
        """Record that `job` is being rendered now (its previous output and result are forgotten)."""
        self._upsert(job_id, name=name, job_hash=job_hash, state=JobState.RUNNING, output=None, message=None,
                     job=job, result=None)

    def mark_done(self, job_id: str, name: str, job_hash: str, job: dict[str, Any], output: Path,
                  result: dict[str, Any]) -> None:
        """Record a finished render whose file is complete at `output`."""
        self._upsert(job_id, name=name, job_hash=job_hash, state=JobState.DONE, output=str(output), message=None,
                     job=job, result=result)

    def mark_failed(self, job_id: str, name: str, job_hash: str, job: dict[str, Any], message: str) -> None:
        """Record a render that stopped with an error (`message` says why and what to do)."""
        self._upsert(job_id, name=name, job_hash=job_hash, state=JobState.FAILED, output=None, message=message,
                     job=job, result=None)

    def mark_skipped(self, job_id: str, name: str, reason: str) -> None:
        """Record a clip that is not rendered, and why."""
        self._upsert(job_id, name=name, job_hash=None, state=JobState.SKIPPED, output=None, message=reason,
                     job=None, result=None)

    def reset_interrupted(self) -> list[str]:
        """Put every `running` job back to `pending` and return their ids.

        Call this only while holding the output folder's batch lock: then no live process is rendering, and a
        `running` row can only come from a process that was killed.
        """
        connection = self._writable()
        with _transaction(connection):
            ids = [row[0] for row in connection.execute("SELECT job_id FROM jobs WHERE state = 'running'")]
            connection.execute("UPDATE jobs SET state = 'pending', updated_at = ? WHERE state = 'running'",
                               (time.time(),))
        return ids

    def _upsert(self, job_id: str, *, name: str, job_hash: str | None, state: JobState, output: str | None,
                message: str | None, job: dict[str, Any] | None, result: dict[str, Any] | None) -> None:
        connection = self._writable()
        with _transaction(connection):
            connection.execute(
                "INSERT INTO jobs (job_id, name, job_hash, state, output, message, job, result, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET name = excluded.name, job_hash = excluded.job_hash, "
                "state = excluded.state, output = excluded.output, message = excluded.message, job = excluded.job, "
                "result = excluded.result, updated_at = excluded.updated_at",
                (job_id, name, job_hash, state.value, output, message, _dumps(job), _dumps(result), time.time()),
            )

    def _writable(self) -> sqlite3.Connection:
        if self.read_only or self._connection is None:
            raise JobStoreError(f"the job store {self.path} was opened read-only or is closed")
        return self._connection


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
    return JobRecord(
        job_id=row["job_id"],
        name=row["name"],
        job_hash=row["job_hash"],
        state=JobState(row["state"]),
        output=Path(row["output"]) if row["output"] else None,
        message=row["message"],
        job=json.loads(row["job"]) if row["job"] else None,
        result=json.loads(row["result"]) if row["result"] else None,
        updated_at=row["updated_at"],
    )

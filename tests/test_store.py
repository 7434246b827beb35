"""The SQLite job store: states survive reopening, WAL mode, schema migration, clear errors."""

import sqlite3
from pathlib import Path

import pytest

from keydub.core.errors import JobStoreError, OutputNotWritableError
from keydub.plugin.store import JobState, JobStore


JOB = {"job_id": "DX/Video 1@01:00:00:00", "name": "sh010"}
OWNER = "render-box:4242"


def test_states_are_recorded_and_survive_reopening(tmp_path: Path):
    output = tmp_path / "sh010_abc.mkv"
    output.write_bytes(b"render")
    with JobStore.for_folder(tmp_path) as store:
        store.submit("a", "sh010", "h1", JOB)
        store.submit("b", "sh020", "h2", JOB)
        assert store.get("a").state is JobState.PENDING
        assert store.claim_next(OWNER, 60.0).job_id == "a"
        assert store.get("a").state is JobState.RUNNING
        assert store.finish("a", OWNER, output, {"frames": 54})
        assert store.claim_next(OWNER, 60.0).job_id == "b"
        assert store.fail("b", OWNER, "no face found;\n  pick one with --face-point")
        store.mark_skipped("c", "sh030", "disabled in the timeline")
    with JobStore.for_folder(tmp_path) as store:
        done, failed, skipped = store.get("a"), store.get("b"), store.get("c")
        assert (done.state, done.job_hash, done.output, done.result, done.job, done.owner) == (
            JobState.DONE,
            "h1",
            output,
            {"frames": 54},
            JOB,
            None,
        )
        # A failure keeps its message, on one line.
        assert (failed.state, failed.message, failed.output) == (
            JobState.FAILED,
            "no face found; pick one with --face-point",
            None,
        )
        assert (skipped.state, skipped.message, skipped.job_hash) == (
            JobState.SKIPPED,
            "disabled in the timeline",
            None,
        )
        assert [record.job_id for record in store.records()] == ["a", "b", "c"]
        assert store.get("missing") is None


def test_the_store_uses_a_write_ahead_log(tmp_path: Path):
    JobStore.for_folder(tmp_path).close()
    connection = sqlite3.connect(tmp_path / ".keydub" / "jobs.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
    connection.close()


def test_done_counts_only_for_the_same_hash_and_an_existing_file(tmp_path: Path):
    output = tmp_path / "render.mkv"
    output.write_bytes(b"x")
    with JobStore.for_folder(tmp_path) as store:
        store.mark_done("a", "sh010", "h1", JOB, output, {})
        record = store.get("a")
        assert record.is_done_with("h1")
        assert not record.is_done_with("h2")
        output.unlink()
        assert not record.is_done_with("h1")


_V1_SCHEMA = """
CREATE TABLE jobs (
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


def test_a_version_1_store_is_migrated_and_its_running_job_reclaimed(tmp_path: Path):
    path = tmp_path / ".keydub" / "jobs.sqlite"
    path.parent.mkdir()
    connection = sqlite3.connect(path)
    connection.execute(_V1_SCHEMA)
    connection.executemany(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("a", "sh010", "h1", "done", str(tmp_path / "a.mkv"), None, '{"job_id": "a"}', '{"frames": 5}', 1.0),
            ("b", "sh020", "h2", "running", None, None, '{"job_id": "b"}', None, 2.0),
            ("c", "sh030", None, "skipped", None, "disabled", None, None, 3.0),
        ],
    )
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()

    # A read-only look before the migration (a dry run of a newer Keydub) reads the old columns.
    with JobStore(path, read_only=True) as store:
        assert [(record.job_id, record.state) for record in store.records()] == [
            ("a", JobState.DONE),
            ("b", JobState.RUNNING),
            ("c", JobState.SKIPPED),
        ]
    with JobStore(path) as store:
        done = store.get("a")
        assert (done.state, done.result, done.job, done.attempts) == (JobState.DONE, {"frames": 5}, {"job_id": "a"}, 0)
        # The running row of a batch that died has no owner: the first claim takes it back and hands it out.
        claimed = store.claim_next(OWNER, 60.0)
        assert (claimed.job_id, claimed.state, claimed.owner, claimed.attempts) == ("b", JobState.RUNNING, OWNER, 1)
        store.submit("d", "sh040", "h4", JOB)
        assert store.cancel("d").state is JobState.CANCELLED  # a state version 1 could not hold
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
    connection.close()


def test_a_second_connection_sees_committed_changes(tmp_path: Path):
    with JobStore.for_folder(tmp_path) as writer, JobStore.for_folder(tmp_path, read_only=True) as reader:
        writer.submit("a", "sh010", "h1", JOB)
        writer.claim_next(OWNER, 60.0)
        assert reader.get("a").state is JobState.RUNNING and reader.get("a").owner == OWNER
        with pytest.raises(JobStoreError, match="opened read-only"):
            reader.mark_skipped("a", "sh010", "no")


def test_read_only_on_a_folder_without_a_store_reads_empty_and_creates_nothing(tmp_path: Path):
    with JobStore.for_folder(tmp_path / "new", read_only=True) as store:
        assert store.records() == [] and store.get("a") is None
    assert not (tmp_path / "new").exists()


def test_a_damaged_store_says_how_to_recover(tmp_path: Path):
    path = tmp_path / ".keydub" / "jobs.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JobStoreError, match=r"cannot be read .*delete it to start the batch over"):
        JobStore(path)


def test_a_store_from_a_newer_keydub_is_refused(tmp_path: Path):
    JobStore.for_folder(tmp_path).close()
    connection = sqlite3.connect(tmp_path / ".keydub" / "jobs.sqlite")
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(JobStoreError, match=r"written by a newer Keydub \(schema 99\)"):
        JobStore.for_folder(tmp_path)


def test_a_store_under_a_file_is_not_writable(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match=r"cannot create .*file/\.keydub for the job store"):
        JobStore.for_folder(blocker)

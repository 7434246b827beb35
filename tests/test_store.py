"""The SQLite job store: states survive reopening, WAL mode, interrupted jobs reset, clear errors."""

import sqlite3
from pathlib import Path

import pytest

from keydub.core.errors import JobStoreError, OutputNotWritableError
from keydub.plugin.store import JobState, JobStore


JOB = {"job_id": "DX/Video 1@01:00:00:00", "name": "sh010"}


def test_states_are_recorded_and_survive_reopening(tmp_path: Path):
    output = tmp_path / "sh010_abc.mkv"
    output.write_bytes(b"render")
    with JobStore.for_folder(tmp_path) as store:
        store.mark_running("a", "sh010", "h1", JOB)
        assert store.get("a").state is JobState.RUNNING
        store.mark_done("a", "sh010", "h1", JOB, output, {"frames": 54})
        store.mark_failed("b", "sh020", "h2", JOB, "no face found; pick one with --face-point")
        store.mark_skipped("c", "sh030", "disabled in the timeline")
    with JobStore.for_folder(tmp_path) as store:
        done, failed, skipped = store.get("a"), store.get("b"), store.get("c")
        assert (done.state, done.job_hash, done.output, done.result, done.job) == (
            JobState.DONE, "h1", output, {"frames": 54}, JOB)
        assert (failed.state, failed.message, failed.output) == (
            JobState.FAILED, "no face found; pick one with --face-point", None)
        assert (skipped.state, skipped.message, skipped.job_hash) == (JobState.SKIPPED, "disabled in the timeline",
                                                                      None)
        assert [record.job_id for record in store.records()] == ["a", "b", "c"]
        assert store.get("missing") is None


def test_the_store_uses_a_write_ahead_log(tmp_path: Path):
    JobStore.for_folder(tmp_path).close()
    connection = sqlite3.connect(tmp_path / ".keydub" / "jobs.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
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


def test_running_jobs_of_a_dead_batch_go_back_to_pending(tmp_path: Path):
    with JobStore.for_folder(tmp_path) as store:
        store.mark_running("a", "sh010", "h1", JOB)
        store.mark_running("b", "sh020", "h2", JOB)
        store.mark_skipped("c", "sh030", "disabled")
    with JobStore.for_folder(tmp_path) as store:
        assert sorted(store.reset_interrupted()) == ["a", "b"]
        states = {record.job_id: record.state for record in store.records()}
        assert states == {"a": JobState.PENDING, "b": JobState.PENDING, "c": JobState.SKIPPED}
        assert store.reset_interrupted() == []


def test_a_second_connection_sees_committed_changes(tmp_path: Path):
    with JobStore.for_folder(tmp_path) as writer, JobStore.for_folder(tmp_path, read_only=True) as reader:
        writer.mark_running("a", "sh010", "h1", JOB)
        assert reader.get("a").state is JobState.RUNNING
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

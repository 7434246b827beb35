"""The job store as a queue: atomic claims across processes, leases, dead owners, cancel, retry, progress; and two
`keydub worker` processes on one folder, one of them killed mid-job."""

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from otio_fixtures import SLOW_RENDER_ENV
from queue_fixtures import queued_jobs, subprocess_environment

from keydub.core.errors import InvalidParameterError
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobProgress, JobState, JobStore, current_owner
from keydub.plugin.worker.client import WorkerProcess, worker_command
from keydub.plugin.worker.protocol import Bye, Claimed, Done, ProgressEvent


JOB = {"job_id": "x", "name": "sh010"}
REMOTE = "other-box:99"  # a process of another host: only its lease tells whether it is alive


def _submit(store: JobStore, *ids: str) -> None:
    for job_id in ids:
        store.submit(job_id, job_id, f"hash-{job_id}", JOB)


def _claim_all(path: str, owner: str, results) -> None:
    with JobStore(Path(path)) as store:
        while (record := store.claim_next(owner, 60.0)) is not None:
            results.put((owner, record.job_id))


def test_claims_from_four_processes_hand_each_job_to_exactly_one(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, *(f"job{index:02d}" for index in range(24)))
    # fork: the children start at once, without importing the test's modules again (spawn where there is no fork).
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    results = context.Queue()
    processes = [
        context.Process(target=_claim_all, args=(str(tmp_path / ".keydub" / "jobs.sqlite"), f"h:{n}", results))
        for n in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    claims = [results.get(timeout=5) for _ in range(24)]
    assert sorted(job_id for _, job_id in claims) == [f"job{index:02d}" for index in range(24)]
    with JobStore.for_folder(tmp_path) as store:
        assert {(record.state, record.attempts) for record in store.records()} == {(JobState.RUNNING, 1)}
        owners = {record.job_id: record.owner for record in store.records()}
    assert owners == dict((job_id, owner) for owner, job_id in claims)


def test_jobs_are_claimed_oldest_first_and_only_among_the_asked_ones(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "b", "a", "c")
        assert store.claim_next(REMOTE, 60.0, job_ids=["c", "a"]).job_id == "a"
        assert store.claim_next(REMOTE, 60.0).job_id == "b"
        assert store.claim_next(REMOTE, 60.0, job_ids=["a", "b"]) is None
        assert store.claim_next(REMOTE, 60.0, device="cuda:1").device == "cuda:1"
        assert store.claim_next(REMOTE, 60.0) is None


def test_a_job_whose_lease_ran_out_is_reclaimed_and_its_owner_cannot_finish_it(tmp_path):
    output = tmp_path / "out.mkv"
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a")
        store.claim_next(REMOTE, 0.4)
        assert store.claim_next("h:2", 60.0) is None  # the lease still holds
        time.sleep(0.5)
        reclaimed = store.claim_next("h:2", 60.0)
        assert (reclaimed.job_id, reclaimed.owner, reclaimed.attempts) == ("a", "h:2", 2)
        placed = []
        assert not store.finish("a", REMOTE, output, {}, place=lambda: placed.append(True))
        assert not store.heartbeat("a", REMOTE, 60.0).is_held
        assert placed == [] and store.get("a").state is JobState.RUNNING
        assert store.finish("a", "h:2", output, {"frames": 3}, place=lambda: placed.append(True))
        assert placed == [True] and store.get("a").state is JobState.DONE


def test_a_heartbeat_keeps_the_lease_and_writes_progress(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a")
        store.claim_next(REMOTE, 0.5)
        for done in range(1, 4):
            time.sleep(0.25)
            beat = store.heartbeat("a", REMOTE, 0.5, JobProgress("interpolation", done, 20, "steps", 12.5))
            assert beat.is_held and not beat.is_cancel_requested
        assert store.claim_next("h:2", 60.0) is None, "a renewed lease is not reclaimed"
        record = store.get("a")
        assert (record.state, record.owner, record.progress) == (
            JobState.RUNNING,
            REMOTE,
            JobProgress("interpolation", 3, 20, "steps", 12.5),
        )


@pytest.mark.parametrize("loop", ["", "+ray1"])
def test_a_job_of_a_dead_process_on_this_host_is_reclaimed_at_once(tmp_path, loop):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{socket.gethostname()}:{dead.pid}{loop}"
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a", "b")
        store.claim_next(owner, 3600.0, job_ids=["a"])
        store.claim_next(current_owner() + loop, 3600.0, job_ids=["b"])  # a live owner: this process
        assert store.get("a").state is JobState.PENDING, "the second claim reclaimed it"
        assert store.get("a").message == "interrupted: its renderer stopped"
        assert store.reclaim() == [] and store.get("b").owner == current_owner() + loop


def test_cancel_takes_a_pending_job_out_and_asks_a_running_one_to_stop(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a", "b")
        assert store.cancel("b").state is JobState.CANCELLED
        assert store.claim_next(REMOTE, 60.0).job_id == "a"
        assert store.claim_next(REMOTE, 60.0) is None, "a cancelled job is not claimed"
        running = store.cancel("a")
        assert (running.state, running.is_cancel_requested) == (JobState.RUNNING, True)
        assert store.heartbeat("a", REMOTE, 60.0).is_cancel_requested
        assert store.release("a", REMOTE, JobState.CANCELLED, "cancelled")
        assert store.get("a").state is JobState.CANCELLED
        with pytest.raises(InvalidParameterError, match="has no job 'zz'"):
            store.cancel("zz")


def test_retry_puts_failed_and_cancelled_jobs_back_and_leaves_done_ones(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a", "b")
        store.claim_next(REMOTE, 60.0)
        store.fail("a", REMOTE, "no face found")
        store.cancel("b")
        assert store.retry("a").state is JobState.PENDING and store.get("a").message is None
        assert store.retry("b").state is JobState.PENDING
        store.mark_done("c", "sh030", "h", JOB, tmp_path / "c.mkv", {})
        assert store.retry("c").state is JobState.DONE
        store.mark_skipped("d", "sh040", "disabled")
        with pytest.raises(InvalidParameterError, match="'d' is skipped and has nothing to render"):
            store.retry("d")


def test_resubmitting_a_running_job_keeps_it_unless_the_job_changed(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a")
        store.claim_next(REMOTE, 60.0)
        store.submit("a", "a", "hash-a", JOB)  # the same job again: its render goes on
        assert store.get("a").state is JobState.RUNNING
        store.submit("a", "a", "hash-a2", JOB)  # changed: queued again, the old render is refused
        assert store.get("a").state is JobState.PENDING and store.get("a").job_hash == "hash-a2"
        assert not store.finish("a", REMOTE, tmp_path / "a.mkv", {})


def test_a_released_job_goes_only_back_to_pending_or_cancelled(tmp_path):
    with JobStore.for_folder(tmp_path) as store:
        _submit(store, "a")
        store.claim_next(REMOTE, 60.0)
        with pytest.raises(InvalidParameterError, match="pending or cancelled, not done"):
            store.release("a", REMOTE, JobState.DONE)


def _wait_until(condition, timeout: float = 60.0, what: str = "the workers") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_two_workers_render_four_jobs_once_and_a_killed_ones_job_is_finished_by_the_other(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    jobs = queued_jobs(tmp_path, folder, count=4)
    lease = 2.0
    argv = worker_command(folder.root, once=True, lease_seconds=lease, engine="queue_fixtures:copy_engine")
    environment = subprocess_environment(**{SLOW_RENDER_ENV: "0.02"})
    doomed, survivor = WorkerProcess(argv, env=environment), WorkerProcess(argv, env=environment)
    events = {doomed.pid: [], survivor.pid: []}

    # Kill the first worker in the middle of its first job (after a few frames were written).
    killed_job = None
    while killed_job is None:
        event = doomed.next_event(timeout=30)
        assert event is not None, "the first worker said nothing"
        events[doomed.pid].append(event)
        if isinstance(event, ProgressEvent) and event.done >= 5:
            killed_job = event.job_id
    os.kill(doomed.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # Not reaped yet: on this host a zombie still looks alive, so only the lease can free its job.
    claimed_again_at = None
    while not survivor.has_ended:
        event = survivor.next_event(timeout=30)
        if event is None:
            continue
        events[survivor.pid].append(event)
        if isinstance(event, Claimed) and event.job_id == killed_job:
            claimed_again_at = time.monotonic()
            assert event.attempt == 2
    assert survivor.close() == 0
    assert doomed.close() == -signal.SIGKILL

    # The killed job waited for the lease (renewed every lease/4 s), then went to the survivor.
    assert claimed_again_at is not None and claimed_again_at - killed_at >= lease * 0.7
    done = [(pid, event.job_id) for pid, stream in events.items() for event in stream if isinstance(event, Done)]
    assert sorted(job_id for _, job_id in done) == sorted(job.job_id for job in jobs), "each job done exactly once"
    assert (survivor.pid, killed_job) in done
    assert isinstance(events[survivor.pid][-1], Bye) and events[survivor.pid][-1].reason == "idle"

    with JobStore(folder.store_path, read_only=True) as store:
        records = {record.job_id: record for record in store.records()}
    assert {record.state for record in records.values()} == {JobState.DONE}
    assert all(record.owner is None and record.lease_until is None for record in records.values())
    assert records[killed_job].attempts == 2
    assert sum(record.attempts for record in records.values()) == 5
    for job in jobs:
        assert records[job.job_id].output == folder.root / job.output_name()
        assert records[job.job_id].output.is_file()
    leftovers = [path for path in folder.root.rglob("*") if "partial" in path.name]
    assert leftovers == [] and list(folder.staging.iterdir()) == []

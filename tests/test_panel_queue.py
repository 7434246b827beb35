"""The panel's Qt-free queue controller against a real `keydub worker` subprocess (the copy stand-in engine).

Jobs come from the panel's own controller (a video with its dub), go through the folder's store queue, and the
worker's stdout lines are handed to the controller exactly as the panel's process adapter does.
"""

import json
import os
import signal
import subprocess
from dataclasses import replace
from fractions import Fraction

import pytest
from media_fixtures import make_test_clip
from queue_fixtures import subprocess_environment
from test_render import write_wav

from keydub.core.devices import resolve_device
from keydub.plugin.jobs import ClipJob
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import QueueChanged
from keydub.plugin.panel.queue import QueueController, QueueRow
from keydub.plugin.store import JobState


ENGINE = "queue_fixtures:copy_engine"
FRAMES = 12


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "renders"


@pytest.fixture
def job(tmp_path, folder) -> ClipJob:
    clip = make_test_clip(tmp_path / "shot.mkv", frame_count=FRAMES, frame_rate=Fraction(25))
    controller = PanelController(render_options={"codec": "ffv1"}, handles=0)
    controller.open_video(clip, write_wav(tmp_path / "dub.wav", FRAMES / 25), folder)
    return controller.job(controller.current_id)


def other(job: ClipJob, name: str) -> ClipJob:
    """Another job of the same clip with other settings (so another output)."""
    return replace(job, job_id=f"{job.job_id}-{name}", name=name, options=replace(job.options, seed=1))


def start_worker(queue: QueueController, delay: float = 0.0, once: bool = True) -> subprocess.Popen:
    argv = queue.worker_argv() + (["--once"] if once else [])
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_environment(KEYDUB_TEST_FRAME_DELAY=str(delay)),
    )
    queue.worker_started(process.pid)
    queue.attach(lambda line: process.stdin.write(line + "\n") > 0 and process.stdin.flush() is None)
    return process


def rows_by_id(queue: QueueController) -> dict[str, QueueRow]:
    queue.reload()
    return {row.job_id: row for row in queue.rows()}


def test_submitted_jobs_are_queued_once_unless_forced(job, folder):
    queue = QueueController(folder)
    events = []
    queue.register_event_callback(QueueChanged, events.append)
    assert queue.submit([job, other(job, "B")]) == [job.job_id, f"{job.job_id}-B"]
    assert queue.submit([job]) == []  # already queued with the same content
    assert queue.submit([job], force=True) == [job.job_id]
    rows = queue.rows()
    assert [(row.name, row.state) for row in rows] == [("B", JobState.PENDING), ("shot", JobState.PENDING)]
    assert rows[0].state_text() == "pending" and not rows[0].is_resumable
    # Before a worker claims them, a job shows the device its own option names ("auto" as this machine has it).
    assert {row.device for row in rows} == {str(resolve_device("auto"))}
    assert [event.job_ids for event in events] == [[job.job_id, f"{job.job_id}-B"], [job.job_id]]


def test_a_worker_renders_the_queue_and_its_events_fill_the_rows(job, folder):
    queue = QueueController(folder, device="cpu", engine=ENGINE)
    queue.submit([job])
    process = start_worker(queue, delay=0.02)
    seen: list[QueueRow] = []
    kinds = []
    for line in process.stdout:
        event = queue.handle_line(line)
        kinds.append(event.EVENT)
        if event.EVENT == "progress":
            seen.append(rows_by_id(queue)[job.job_id])
    queue.worker_ended(process.wait(), crashed=False)
    assert kinds[:2] == ["hello", "claimed"] and kinds[-3:] == ["done", "idle", "bye"]
    assert queue.worker.state == "stopped" and queue.worker.device == "cpu"
    running = [row for row in seen if row.state is JobState.RUNNING]
    assert running and {row.device for row in running} == {"cpu"}
    assert {(row.progress.stage, row.progress.total) for row in running} == {("copy", FRAMES)}
    assert [row.progress.done for row in running] == sorted(row.progress.done for row in running)
    assert running[-1].progress_text() == f"copy · frame {running[-1].progress.done}/{FRAMES}"
    # The copy engine reports one stage of its own: the job's bar follows it, and only goes forward.
    assert [row.fraction for row in running] == [row.progress.done / FRAMES for row in running]
    assert any(row.progress.eta_seconds is not None for row in running)
    done = rows_by_id(queue)[job.job_id]
    assert done.state is JobState.DONE and done.output.is_file() and done.progress_text() == ""


def test_a_killed_worker_leaves_its_job_resumable_with_one_line_saying_so(job, folder):
    queue = QueueController(folder, device="cpu", engine=ENGINE)
    queue.submit([job])
    process = start_worker(queue, delay=0.5, once=False)
    for line in process.stdout:
        if queue.handle_line(line).EVENT == "progress":
            break
    assert rows_by_id(queue)[job.job_id].state is JobState.RUNNING
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    queue.worker_ended(None, crashed=True, detail="")

    message = queue.worker.message
    assert queue.worker.state == "crashed" and "\n" not in message
    assert message == (
        "The worker was killed while rendering 'shot'; the job is kept and resumes when the worker starts again."
    )
    row = rows_by_id(queue)[job.job_id]
    assert row.state is JobState.PENDING and row.is_resumable and row.attempts == 1
    assert row.state_text() == "queued (resumes: interrupted: its renderer stopped)"

    process = start_worker(queue)
    for line in process.stdout:
        queue.handle_line(line)
    queue.worker_ended(process.wait())
    row = rows_by_id(queue)[job.job_id]
    assert row.state is JobState.DONE and row.attempts == 2 and row.output.is_file()


def test_cancel_stops_the_render_and_retry_queues_it_again(job, folder):
    queue = QueueController(folder, device="cpu", engine=ENGINE)
    waiting = other(job, "B")
    queue.submit([job, waiting])
    queue.cancel([waiting.job_id])  # pending: cancelled at once
    assert rows_by_id(queue)[waiting.job_id].state is JobState.CANCELLED
    process = start_worker(queue, delay=0.3, once=False)
    cancelled = None
    for line in process.stdout:
        event = queue.handle_line(line)
        if event.EVENT == "progress" and cancelled is None:
            queue.cancel([job.job_id])  # running: the worker gets `cancel JOB_ID` on stdin
            cancelled = False
        elif event.EVENT == "cancelled":
            cancelled = True
            assert queue.shutdown()
    queue.worker_ended(process.wait())
    assert cancelled and queue.worker.state == "stopped"
    rows = rows_by_id(queue)
    assert rows[job.job_id].state is JobState.CANCELLED and rows[job.job_id].can_retry
    assert not any(folder.glob("*.mkv"))

    queue.retry([job.job_id, waiting.job_id])
    assert {row.state for row in queue.rows()} == {JobState.PENDING}  # read again by retry
    process = start_worker(queue)
    for line in process.stdout:
        queue.handle_line(line)
    queue.worker_ended(process.wait())
    assert {row.state for row in rows_by_id(queue).values()} == {JobState.DONE}


def test_lines_that_are_not_the_protocol_are_skipped(folder, caplog):
    queue = QueueController(folder)
    assert queue.handle_line("loading weights…") is None
    assert queue.handle_line(json.dumps({"protocol": 2, "event": "hello"})) is None
    assert queue.handle_line("") is None
    assert "ignoring a line from the worker" in caplog.text
    assert queue.rows() == []


def test_a_worker_that_cannot_start_says_so(folder):
    queue = QueueController(folder)
    queue.worker_failed_to_start("/no/python: No such file or directory")
    assert queue.worker.state == "crashed"
    assert queue.worker.message == "The worker could not start: /no/python: No such file or directory"


def hello_line(removed: list[str], **drop: None) -> str:
    hello = {
        "protocol": 1,
        "event": "hello",
        "pid": 4242,
        "host": "vm",
        "owner": "vm:4242",
        "device": "cpu",
        "store": "/renders",
        "lease_seconds": 5.0,
        "removed_stale_files": removed,
    }
    return json.dumps({key: value for key, value in hello.items() if key not in drop})


@pytest.mark.parametrize(
    ("removed", "text"),
    [
        ([], ""),
        (["/renders/.sh010~ab.cd.partial.mkv"], "removed 1 file a killed render left: .sh010~ab.cd.partial.mkv"),
        (
            [f"/renders/.sh0{index}0.partial.mkv" for index in range(1, 6)],
            "removed 5 files a killed render left: .sh010.partial.mkv, .sh020.partial.mkv, .sh030.partial.mkv, …",
        ),
    ],
)
def test_what_the_worker_removed_at_its_start_is_one_line_until_the_next_worker(folder, removed, text):
    queue = QueueController(folder)
    queue.worker_started(4242)
    queue.handle_line(hello_line(removed))
    assert queue.worker.removed_stale == tuple(removed) and queue.worker.removed_text() == text
    queue.handle_line(json.dumps({"protocol": 1, "event": "idle"}))  # the status line moves on, the note stays
    assert queue.worker.message == "the queue is empty" and queue.worker.removed_text() == text
    queue.worker_started(4243)
    assert queue.worker.removed_text() == ""


def test_a_hello_from_an_older_worker_removed_nothing(folder):
    queue = QueueController(folder)
    queue.handle_line(hello_line([], removed_stale_files=None))
    assert queue.worker.state == "running" and queue.worker.removed_text() == ""

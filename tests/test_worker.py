"""`keydub worker` as a subprocess speaking JSON lines: every event read, a pending and a running job cancelled,
bad commands answered, shutdown mid-job; the protocol's parsers; job rows a worker refuses."""

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from otio_fixtures import SLOW_RENDER_ENV
from queue_fixtures import FunctionEngine, queued_jobs, subprocess_environment

from keydub.core.compositing.crop_cache import SCRATCH_PREFIX
from keydub.core.files import PartialFile
from keydub.plugin.jobs import CastSpeaker
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobState, JobStore
from keydub.plugin.worker.client import worker_command
from keydub.plugin.worker.drain import Drainer
from keydub.plugin.worker.protocol import (
    PROTOCOL_VERSION,
    CancelCommand,
    Done,
    Failed,
    ProtocolError,
    ShutdownCommand,
    encode_event,
    parse_command,
    parse_event,
)


# Where the test run's worker transcript is written (README.md "Worker protocol" quotes it).
TRANSCRIPT_ENV = "KEYDUB_WORKER_TRANSCRIPT"


class RawWorker:
    """A worker subprocess read line by line, every line kept exactly as it came."""

    def __init__(self, folder: OutputFolder, *extra: str, delay: str = "0.03") -> None:
        argv = worker_command(folder.root, lease_seconds=5.0, engine="queue_fixtures:copy_engine") + list(extra)
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=subprocess_environment(**{SLOW_RENDER_ENV: delay}),
        )
        self.lines: list[str] = []
        self.sent: list[str] = []

    def send(self, line: str) -> None:
        self.sent.append(line)
        self.lines.append(f"> {line}")
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def read_until(self, predicate) -> dict:
        """Read events until one satisfies `predicate`; return it."""
        while True:
            line = self.process.stdout.readline()
            assert line, f"the worker ended early; stderr: {self.process.stderr.read()[-2000:]}"
            self.lines.append(line.rstrip("\n"))
            event = json.loads(line)
            assert event["protocol"] == PROTOCOL_VERSION
            if predicate(event):
                return event

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.lines if not line.startswith("> ")]


def _kind(name: str, **fields):
    return lambda event: event["event"] == name and all(event.get(key) == value for key, value in fields.items())


def test_a_client_submits_reads_every_event_cancels_and_shuts_the_worker_down(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    first, second, third = queued_jobs(tmp_path, folder, count=3)
    worker = RawWorker(folder)
    hello = worker.read_until(_kind("hello"))
    assert (hello["pid"], hello["store"], hello["lease_seconds"]) == (worker.process.pid, str(folder.root), 5.0)
    assert hello["device"] == "cpu"  # what "auto" picks on a machine without a GPU

    worker.read_until(_kind("claimed", job_id=first.job_id))
    worker.read_until(_kind("progress", job_id=first.job_id))
    worker.send(f"cancel {second.job_id}")  # pending: out of the queue at once
    worker.read_until(_kind("cancelled", job_id=second.job_id))
    worker.send("render everything")
    error = worker.read_until(_kind("error"))
    assert error["message"].startswith("unknown command 'render everything'; commands: 'cancel JOB_ID', 'shutdown'")
    worker.send('{"command": "cancel", "job_id": "no/such@job"}')
    assert "has no job 'no/such@job'" in worker.read_until(_kind("error"))["message"]
    done = worker.read_until(_kind("done", job_id=first.job_id))
    assert done["output"] == str(folder.root / first.output_name()) and done["qc"]["frames"] == first.frame_count

    worker.read_until(_kind("claimed", job_id=third.job_id))
    worker.read_until(
        lambda event: event["event"] == "progress" and event["job_id"] == third.job_id and event["done"] >= 3
    )
    worker.send(json.dumps({"command": "cancel", "job_id": third.job_id}))  # running: stops within a frame
    worker.read_until(_kind("cancelled", job_id=third.job_id))
    worker.read_until(_kind("idle"))
    worker.send(f"cancel {first.job_id}")
    assert worker.read_until(_kind("error"))["message"] == f"job {first.job_id!r} is done; there is nothing to cancel"
    worker.send("shutdown")
    worker.read_until(_kind("bye"))
    assert worker.process.wait(30) == 0
    assert worker.process.stdout.read() == "", "nothing after bye"

    events = worker.events()
    kinds = [
        (event["event"], event.get("job_id"), event.get("state")) for event in events if event["event"] != "progress"
    ]
    assert kinds == [
        ("hello", None, None),
        ("claimed", first.job_id, None),
        ("cancelled", second.job_id, "cancelled"),
        ("error", None, None),
        ("error", None, None),
        ("done", first.job_id, None),
        ("claimed", third.job_id, None),
        ("cancelled", third.job_id, "cancelled"),
        ("idle", None, None),
        ("error", None, None),
        ("bye", None, None),
    ]
    progress = [event for event in events if event["event"] == "progress" and event["job_id"] == first.job_id]
    assert progress[-1]["done"] == progress[-1]["total"] == first.frame_count
    assert {event["stage"] for event in progress} == {"copy"} and progress[-1]["unit"] == "frames"
    assert events[-1]["reason"] == "shutdown"

    with JobStore(folder.store_path, read_only=True) as store:
        states = {record.job_id: record.state for record in store.records()}
        assert store.get(third.job_id).is_cancel_requested is False
    assert states == {first.job_id: JobState.DONE, second.job_id: JobState.CANCELLED, third.job_id: JobState.CANCELLED}
    assert [path.name for path in folder.root.glob("*.mkv")] == [first.output_name()]
    assert not [path for path in folder.root.rglob("*") if "partial" in path.name]
    assert list(folder.staging.iterdir()) == []
    _keep_transcript(worker.lines, tmp_path)


def _keep_transcript(lines: list[str], tmp_path: Path) -> None:
    """Write the session (commands prefixed by "> ") where `KEYDUB_WORKER_TRANSCRIPT` says, for the README."""
    import os

    target = os.environ.get(TRANSCRIPT_ENV)
    if target:
        Path(target).write_text("\n".join(line.replace(str(tmp_path), "/work") for line in lines) + "\n")


def test_shutdown_mid_job_puts_the_job_back_to_pending_and_a_new_worker_finishes_it(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    (job,) = queued_jobs(tmp_path, folder, count=1)
    worker = RawWorker(folder, delay="0.05")
    worker.read_until(lambda event: event["event"] == "progress" and event["done"] >= 2)
    worker.send("shutdown")
    assert worker.read_until(_kind("cancelled"))["state"] == "pending"
    assert worker.read_until(_kind("bye"))["reason"] == "shutdown"
    assert worker.process.wait(30) == 0
    with JobStore(folder.store_path, read_only=True) as store:
        record = store.get(job.job_id)
    assert (record.state, record.owner, record.attempts) == (JobState.PENDING, None, 1)
    assert not list(folder.root.glob("*.mkv")) and list(folder.staging.iterdir()) == []

    again = RawWorker(folder, "--once", delay="0")
    assert again.read_until(_kind("done"))["job_id"] == job.job_id
    assert again.read_until(_kind("bye"))["reason"] == "idle"
    assert again.process.wait(30) == 0


def test_stdout_carries_only_events_and_logs_go_to_stderr(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    queued_jobs(tmp_path, folder, count=1)
    code = "import sys; print('stray print'); sys.stdout.flush()"
    # A stand-in engine factory that prints on stdout while the worker runs.
    (tmp_path / "noisy_engine.py").write_text(
        f"from queue_fixtures import copy_engine\n\ndef build():\n    {code}\n    return copy_engine()\n"
    )
    argv = worker_command(folder.root, once=True, engine="noisy_engine:build")
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        input="",
        env=subprocess_environment(PYTHONPATH=f"{tmp_path}:{Path(__file__).parent}"),
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [event["event"] for event in events if event["event"] != "progress"] == [
        "hello",
        "claimed",
        "done",
        "idle",
        "bye",
    ]
    assert "stray print" in result.stderr


# A writer killed mid-write: a partial render in the store's folder and a crop cache, both left locked by nobody.
KILLED_WRITER = """
import os, signal, sys
from keydub.core.files import ScratchFolder, claim_partial
partial = claim_partial(sys.argv[1])
partial.stream.write(b"half a render")
partial.stream.flush()
print(partial.path, ScratchFolder(sys.argv[2]).path, sep="\\n", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_worker_first_removes_what_a_killed_run_left_and_says_so(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    folder.prepare()
    scratch = tmp_path / "tmp"  # the worker's temporary folder, so only this test's crop cache is there
    scratch.mkdir()
    environment = subprocess_environment(TMPDIR=str(scratch))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(folder.root / "sh010_0ea703f707eb.mkv"), SCRATCH_PREFIX],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    partial, cache = map(Path, killed.stdout.split())
    assert partial.read_bytes() == b"half a render" and (cache / ".lock").exists()
    # A live writer's partial file (this process holds its lock) is not the worker's to remove.
    with PartialFile(folder.root / "sh020_5b1c0d3e9f2a.mkv") as live:
        live.stream.write(b"being written")
        live.stream.flush()
        argv = worker_command(folder.root, once=True)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, input="", env=environment)
        assert result.returncode == 0, result.stderr
        hello = parse_event(result.stdout.splitlines()[0])
        assert hello.removed_stale_files == [str(partial), str(cache)]
        assert not partial.exists() and not cache.exists() and live.path.read_bytes() == b"being written"
    for path in (partial, cache):
        assert f"note: removed {path}, left behind by a run that was killed or crashed" in result.stderr
    # A hello from a worker that predates the key parses as one that removed nothing.
    older = json.loads(result.stdout.splitlines()[0])
    del older["removed_stale_files"]
    assert parse_event(json.dumps(older)).removed_stale_files == []


def test_a_worker_on_a_missing_folder_or_with_a_bad_engine_says_one_error_line(tmp_path):
    missing = subprocess.run(worker_command(tmp_path / "nowhere"), capture_output=True, text=True, timeout=60)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == (
        f"Error: --store {tmp_path / 'nowhere'}: no such folder; give the output folder of "
        "a batch (keydub timeline --out-dir)\n"
    )
    (tmp_path / "renders").mkdir()
    bad = subprocess.run(
        worker_command(tmp_path / "renders", engine="no_such_module"), capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: --engine must be MODULE:FACTORY (e.g. keydub.core.engine:Engine), not ")
    for device in ("cuda:7", "tpu"):
        absent = subprocess.run(
            worker_command(tmp_path / "renders", device=device), capture_output=True, text=True, timeout=60
        )
        assert (absent.returncode, absent.stdout) == (1, "")
        assert absent.stderr.startswith("Error: ") and absent.stderr.count("\n") == 1
        assert device.split(":")[0] in absent.stderr and "cpu" in absent.stderr  # the devices that exist


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda job: {**job, "extra": 1}, "ClipJob has no field(s) extra; known: job_id, name,"),
        (
            lambda job: {key: value for key, value in job.items() if key != "audio_file"},
            "ClipJob is missing field(s) audio_file; submit it again",
        ),
        (
            lambda job: {**job, "options": {**job["options"], "codec": "gif"}},
            "codec must be prores, h264 or ffv1, not 'gif'",
        ),
        (lambda job: {**job, "start_frame": "x"}, "wrong kind (TypeError: start_frame must be int, not 'x')"),
        (lambda job: {**job, "audio_file": "/etc/passwd"}, "is not a file of the folder's audio cache"),
    ],
)
def test_a_job_row_changed_by_hand_fails_with_one_line_and_is_never_rendered(tmp_path, change, message):
    folder = OutputFolder(tmp_path / "renders")
    (job,) = queued_jobs(tmp_path, folder, count=1)
    data = change(job.to_dict())
    with JobStore(folder.store_path) as store:
        store.submit(job.job_id, job.name, job.content_hash(), data)
    engine, events = FunctionEngine(), []
    Drainer(folder, engine, events.append).run()
    failed = [event for event in events if isinstance(event, Failed)]
    assert len(failed) == 1 and message in failed[0].error and "\n" not in failed[0].error
    assert engine.requests == []
    with JobStore(folder.store_path, read_only=True) as store:
        assert store.get(job.job_id).state is JobState.FAILED and store.get(job.job_id).message == failed[0].error


def test_a_speakers_stem_outside_the_audio_cache_is_refused(tmp_path):
    # A stem counts in the hash by its samples' digest, not its path: the path is checked on its own.
    folder = OutputFolder(tmp_path / "renders")
    (job,) = queued_jobs(tmp_path, folder, count=1)
    stem = CastSpeaker("Anna", 0, "d" * 64, audio_file=Path("/etc/passwd"), audio_sha256="a" * 64)
    cast_job = dataclasses.replace(job, speakers=(stem,))
    with JobStore(folder.store_path) as store:
        store.submit(job.job_id, job.name, cast_job.content_hash(), cast_job.to_dict())
    engine, events = FunctionEngine(), []
    Drainer(folder, engine, events.append).run()
    (failed,) = [event for event in events if isinstance(event, Failed)]
    assert "the dub audio /etc/passwd is not a file of the folder's audio cache" in failed.error
    assert engine.requests == []


def test_a_job_whose_data_does_not_match_its_hash_is_refused(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    (job,) = queued_jobs(tmp_path, folder, count=1)
    moved = dataclasses.replace(job, start_frame=job.start_frame + 1)
    with JobStore(folder.store_path) as store:
        store.submit(job.job_id, job.name, job.content_hash(), moved.to_dict())
    events = []
    Drainer(folder, FunctionEngine(), events.append).run()
    assert [event.error for event in events if isinstance(event, Failed)] == [
        f"job {job.job_id!r} in {folder.store_path}: its data does not match its hash (changed by hand?); submit "
        "it again"
    ]


def test_a_cancel_from_another_process_stops_the_render_at_the_next_heartbeat(tmp_path):
    folder = OutputFolder(tmp_path / "renders")
    (job,) = queued_jobs(tmp_path, folder, count=1)
    started = threading.Event()

    def slow(request, progress=None):
        from otio_fixtures import copy_renderer

        def tick(update):
            started.set()
            time.sleep(0.05)
            progress(update)

        return copy_renderer(request, tick)

    events = []
    drainer = Drainer(folder, FunctionEngine(slow), events.append, lease_seconds=1.0)
    runner = threading.Thread(target=drainer.run)
    runner.start()
    assert started.wait(30)
    with JobStore(folder.store_path) as store:  # as the panel would, without talking to the worker
        store.cancel(job.job_id)
    runner.join(30)
    assert [type(event).__name__ for event in events if type(event).__name__ != "ProgressEvent"] == [
        "Claimed",
        "Cancelled",
        "Idle",
    ]
    with JobStore(folder.store_path, read_only=True) as store:
        assert store.get(job.job_id).state is JobState.CANCELLED
    assert not list(folder.root.glob("*.mkv"))


def test_commands_and_events_parse_and_refuse_what_is_not_the_protocol():
    assert parse_command("cancel DX es-419/Video 1@01:00:00:00\n") == CancelCommand("DX es-419/Video 1@01:00:00:00")
    assert parse_command('{"command": "shutdown"}') == ShutdownCommand()
    for line, message in [
        ("cancel", "a job id is 1 to 512 printable characters"),
        ("shutdown now", "unknown command 'shutdown now'"),
        ('{"command": "cancel", "job_id": 7}', "not '7'"),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "is not JSON"),
    ]:
        with pytest.raises(ProtocolError, match=message):
            parse_command(line)
    line = encode_event(Done(job_id="a", output="/r/a.mkv", qc={"frames": 3}))
    assert json.loads(line) == {
        "protocol": 1,
        "event": "done",
        "job_id": "a",
        "output": "/r/a.mkv",
        "qc": {"frames": 3},
    }
    assert parse_event(line) == Done(job_id="a", output="/r/a.mkv", qc={"frames": 3})
    # Keys a client does not know are ignored; another protocol version is refused.
    assert parse_event('{"protocol": 1, "event": "idle", "later": true}').EVENT == "idle"
    with pytest.raises(ProtocolError, match="the worker speaks protocol 2"):
        parse_event('{"protocol": 2, "event": "idle"}')
    with pytest.raises(ProtocolError, match="unknown worker event 'dance'"):
        parse_event('{"protocol": 1, "event": "dance"}')
    with pytest.raises(ProtocolError, match="'failed' event is incomplete"):
        parse_event('{"protocol": 1, "event": "failed"}')

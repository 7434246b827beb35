"""`keydub worker`: a long-running process that holds one engine and renders the queued jobs of an output folder.

It speaks the JSON-lines protocol of `keydub.plugin.worker.protocol` (events on stdout, commands on stdin) and
logs to stderr only. See README.md, "Worker protocol".
"""

import argparse
import importlib
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO

from keydub.core.devices import resolve_device
from keydub.core.errors import InvalidParameterError, KeydubError
from keydub.plugin.cli._numbers import finite_number
from keydub.plugin.cli._output import report_stale_files_removed
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobState
from keydub.plugin.worker.drain import DEFAULT_LEASE_SECONDS, Drainer, RenderEngine
from keydub.plugin.worker.protocol import (
    Bye,
    CancelCommand,
    Cancelled,
    Error,
    Event,
    Hello,
    ProgressEvent,
    ProtocolError,
    encode_event,
    parse_command,
)


logger = logging.getLogger(__name__)

EXAMPLES = """examples:
  keydub worker --store renders/                      render the folder's queue, wait for new jobs
  keydub worker --store renders/ --once               render what is queued, then exit
  keydub worker --store renders/ --device cuda:1      one worker per GPU on the same folder

Events go to stdout as JSON lines ({"protocol": 1, "event": "hello", ...}); commands come on stdin, one per line:
  cancel JOB_ID       take the job out of the queue (stop it if it is rendering)
  shutdown            stop; a job being rendered goes back to pending
"""

DEFAULT_ENGINE = "keydub.core.engine:Engine"
# Progress events of one stage are sent at most this often (the first, the last and any change of stage always).
_PROGRESS_INTERVAL_SECONDS = 0.1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="render the queued jobs of an output folder, speaking JSON lines",
        description="Hold one engine and render the jobs queued in an output folder's job store (by keydub\n"
        "timeline, the panel or another client), one after another. Several workers may render one\n"
        "folder (one per GPU): each job is rendered once, and the job of a worker that crashes or is\n"
        "killed is taken over by another. Events are JSON lines on stdout, commands lines on stdin.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store",
        type=Path,
        required=True,
        metavar="DIR",
        help="the output folder whose queue to render (its .keydub/jobs.sqlite)",
    )
    parser.add_argument("--device", help="render every job on this device (e.g. cuda:1) instead of the job's own")
    parser.add_argument(
        "--once", action="store_true", help="exit when no job is pending or running (default: wait for new jobs)"
    )
    parser.add_argument(
        "--lease",
        type=finite_number(1.0, 3600.0),
        default=DEFAULT_LEASE_SECONDS,
        metavar="S",
        help="seconds a claimed job stays this worker's without a heartbeat; a crashed worker's job "
        f"is taken over after it (default: {DEFAULT_LEASE_SECONDS:g})",
    )
    parser.add_argument(
        "--poll",
        type=finite_number(0.05, 60.0),
        default=0.5,
        metavar="S",
        help="seconds between looks at an empty queue (default: 0.5)",
    )
    parser.add_argument(
        "--engine",
        default=DEFAULT_ENGINE,
        metavar="MODULE:FACTORY",
        help=f"build the engine with this factory, called without arguments (default: {DEFAULT_ENGINE})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = OutputFolder(args.store.absolute())
    if not folder.root.is_dir():
        raise InvalidParameterError(
            f"--store {args.store}: no such folder; give the output folder of a batch (keydub timeline --out-dir)"
        )
    # A device this machine lacks is refused before the engine loads; the hello names the device jobs run on.
    shown_device = str(resolve_device(args.device or "auto"))
    folder.prepare()
    # What a killed run left here (a worker's or a batch's partial files) and crop caches go before the first
    # claim, as at the start of every other command that renders; the hello lists them.
    removed = report_stale_files_removed(folders=[folder.root, folder.staging])
    events = EventWriter(_take_stdout())
    drainer = Drainer(folder, load_engine(args.engine), events, lease_seconds=args.lease, device=args.device)
    events(
        Hello(
            pid=os.getpid(),
            host=socket.gethostname(),
            owner=drainer.owner,
            device=shown_device,
            store=str(folder.root),
            lease_seconds=args.lease,
            removed_stale_files=[str(path) for path in removed],
        )
    )
    threading.Thread(
        target=_read_commands, args=(sys.stdin, drainer, events), name="keydub-worker-commands", daemon=True
    ).start()
    try:
        drainer.run(wait_for_jobs=not args.once, poll_seconds=args.poll)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the job was handed back to pending
        events(Bye(reason="interrupted"))
        raise
    except KeydubError as error:
        events(Bye(reason="error", message=" ".join(str(error).split())))
        raise
    events(Bye(reason="shutdown" if drainer.is_stopped else "idle"))
    return 0


def load_engine(spec: str) -> RenderEngine:
    """The engine built by the `module:factory` named by `spec`.

    Raises:
        `InvalidParameterError`: `spec` is not `module:factory`, or names nothing importable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InvalidParameterError(f"--engine must be MODULE:FACTORY (e.g. {DEFAULT_ENGINE}), not {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise InvalidParameterError(
            f"--engine {spec}: cannot load it ({error}); check the module is installed and names that factory"
        ) from error
    return factory()


class EventWriter:
    """Writes events as JSON lines, one whole line at a time from any thread; progress is thinned out.

    Args:
        stream (`IO[str]`): where the lines go (the process's real stdout).
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last_progress: dict[tuple[str, str], float] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, ProgressEvent) and not self._is_due(event):
            return
        line = encode_event(event) + "\n"
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # the client went away; the queue is still rendered
                pass

    def _is_due(self, event: ProgressEvent) -> bool:
        key = (event.job_id, event.stage)
        now = time.monotonic()
        last = self._last_progress.get(key)
        if (
            last is not None
            and event.done < event.total
            and event.done > 0
            and now - last < _PROGRESS_INTERVAL_SECONDS
        ):
            return False
        self._last_progress[key] = now
        return True


def _take_stdout() -> IO[str]:
    """The real stdout, for events only; whatever else writes to stdout (a library's print, native code) goes
    to stderr from now on, so it cannot break a client's parser."""
    sys.stdout.flush()
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return events


def _read_commands(stdin: IO[str], drainer: Drainer, events: EventWriter) -> None:
    """Carry out the commands on stdin until it closes (a closed stdin stops nothing: the worker goes on)."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            command = parse_command(line)
        except ProtocolError as error:
            events(Error(message=str(error)))
            continue
        if not isinstance(command, CancelCommand):
            drainer.stop()
            continue
        try:
            record = drainer.cancel_job(command.job_id)
        except KeydubError as error:
            events(Error(message=str(error)))
            continue
        if record.state is JobState.CANCELLED and not record.is_cancel_requested:
            events(Cancelled(job_id=record.job_id, state=JobState.CANCELLED.value))
        elif record.state is not JobState.RUNNING:
            events(Error(message=f"job {record.job_id!r} is {record.state.value}; there is nothing to cancel"))
        # A running job answers with `cancelled` from its owner once its render has stopped.

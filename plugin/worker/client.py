"""Running `keydub worker` as a subprocess and reading its events, for clients without Qt (a batch, tests).

The panel drives the same process through `QProcess`; both read stdout line by line with `parse_event` and write
commands with `command_line`. A client survives its worker: a crash or kill ends the event stream, the job it
was rendering stays in the store (reclaimed by the next renderer), and `WorkerProcess` reports how it ended.
"""

import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from keydub.core.errors import KeydubError
from keydub.plugin.worker.protocol import Command, Event, ProtocolError, ShutdownCommand, command_line, parse_event


logger = logging.getLogger(__name__)

# How long `close` waits for a worker asked to shut down (it stops within one denoising step) before killing it.
_SHUTDOWN_GRACE_SECONDS = 30.0


class WorkerCrashedError(KeydubError):
    """The worker process ended without saying `bye`; the job it was rendering is resumable."""


def worker_command(
    store: Path,
    *,
    once: bool = False,
    device: str | None = None,
    lease_seconds: float | None = None,
    engine: str | None = None,
) -> list[str]:
    """The argv that starts `keydub worker` on `store` with the running Python."""
    argv = [sys.executable, "-m", "keydub.plugin.cli.main", "worker", "--store", str(store)]
    if once:
        argv.append("--once")
    if device is not None:
        argv += ["--device", device]
    if lease_seconds is not None:
        argv += ["--lease", str(lease_seconds)]
    if engine is not None:
        argv += ["--engine", engine]
    return argv


class WorkerProcess:
    """One `keydub worker` subprocess: its events as they come, commands to it, how it ended.

    Use as a context manager: leaving it shuts the worker down (its job goes back to pending) and waits.

    Args:
        argv (`list[str]`): the command (see `worker_command`).
        env (`dict[str, str] | None`): its environment; defaults to this process's.
    """

    _END = object()

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=env if env is not None else os.environ,
        )
        self._events: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="keydub-worker-reader", daemon=True)
        self._reader.start()
        self.has_ended = False

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if not line.strip():
                continue
            try:
                self._events.put(parse_event(line))
            except ProtocolError as error:  # a client survives a confused worker: log and read on
                logger.warning("ignoring a line from the worker: %s", error)
        self._events.put(self._END)

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event; `None` when none came within `timeout` seconds or the stream has ended
        (`has_ended` then says so)."""
        if self.has_ended:
            return None
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is self._END:
            self.has_ended = True
            self._process.wait()
            return None
        return event

    def send(self, command: Command) -> bool:
        """Write a command line to the worker; `False` when it is gone (its stdin is closed)."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(command_line(command) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def close(self, grace_seconds: float = _SHUTDOWN_GRACE_SECONDS) -> int:
        """Shut the worker down if it still runs (kill it after `grace_seconds`); return its exit code."""
        if self._process.poll() is None:
            self.send(ShutdownCommand())
            try:
                self._process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                logger.warning("the worker %d did not stop within %.0f s; killing it", self.pid, grace_seconds)
                self._process.kill()
                self._process.wait()
        if self._process.stdin is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        self._reader.join(timeout=5)
        return self._process.returncode

    def __enter__(self) -> "WorkerProcess":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

"""`keydub worker` as a `QProcess`: its stdout lines as Qt signals, commands to its stdin, how it ended.

The panel never renders on the UI thread, nor in its own process: a worker process renders the folder's queue
(CUDA memory, crashes and the torch import stay out of the window). This adapter reads the worker's stdout line
by line as it arrives (no thread needed: `readyReadStandardOutput` is an event), keeps the last lines of its
stderr to explain a crash, and ends it gracefully (`shutdown` command, then `terminate`, then `kill`).
"""

import os
import shutil
from collections import deque

from PySide6 import QtCore

from keydub.plugin.worker.protocol import CancelCommand, ShutdownCommand, command_line


# Lines of the worker's stderr kept to explain how it ended.
_STDERR_LINES = 20
# The worker runs at a lower CPU priority than the window (POSIX `nice`), so decoding and encoding on all cores
# never make the UI thread wait; a GPU render is not slowed by it.
_WORKER_NICENESS = 10
# How long `stop` waits after `shutdown` (one denoising step) before terminating, then before killing.
_SHUTDOWN_GRACE_MS = 30000
_TERMINATE_GRACE_MS = 5000


class WorkerProcess(QtCore.QObject):
    """One worker process.

    Signals:
        started_process (`int`): the process is up (its pid).
        line_received (`str`): one line of its stdout (a JSON event, without the newline).
        ended (`object`, `bool`, `str`): it is gone: exit code (`None` when a signal killed it), whether it
            crashed, and the last line it wrote on stderr.
        failed_to_start (`str`): it could not be started (the message says why).
    """

    started_process = QtCore.Signal(int)
    line_received = QtCore.Signal(str)
    ended = QtCore.Signal(object, bool, str)
    failed_to_start = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._process = QtCore.QProcess(self)
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._process.readyReadStandardOutput.connect(self._on_process_stdout)
        self._process.readyReadStandardError.connect(self._on_process_stderr)
        self._process.started.connect(self._on_process_started)
        self._process.finished.connect(self._on_process_finished)
        self._process.errorOccurred.connect(self._on_process_error)

    @property
    def is_running(self) -> bool:
        return self._process.state() != QtCore.QProcess.ProcessState.NotRunning

    @property
    def pid(self) -> int | None:
        pid = self._process.processId()
        return pid or None

    def start(self, argv: list[str], environment: dict[str, str] | None = None) -> None:
        """Start `argv` (see `QueueController.worker_argv`), optionally with its own environment, at a lower CPU
        priority where the system has `nice`."""
        if self.is_running:
            return
        if shutil.which(argv[0]) is None:
            # Checked here: started through `nice`, a missing program would only show as nice's exit code.
            self.failed_to_start.emit(f"{argv[0]} is not an executable program; check the Keydub installation")
            return
        self._buffer = b""
        self._stderr.clear()
        if environment is not None:
            env = QtCore.QProcessEnvironment()
            for key, value in environment.items():
                env.insert(key, value)
            self._process.setProcessEnvironment(env)
        nice = shutil.which("nice") if os.name == "posix" else None
        if nice is not None:
            argv = [nice, "-n", str(_WORKER_NICENESS), *argv]
        self._process.start(argv[0], argv[1:])

    def send(self, line: str) -> bool:
        """Write one command line to the worker's stdin; `False` when it is not running."""
        if not self.is_running:
            return False
        return self._process.write((line.rstrip("\n") + "\n").encode("utf-8")) > 0

    def cancel(self, job_id: str) -> bool:
        return self.send(command_line(CancelCommand(job_id)))

    def shutdown(self) -> bool:
        """Ask the worker to stop; its job goes back to pending. It says `bye` and exits."""
        return self.send(command_line(ShutdownCommand()))

    def stop(self, grace_ms: int = _SHUTDOWN_GRACE_MS) -> None:
        """Shut down and wait (the window is closing); terminate, then kill, a worker that does not stop."""
        if not self.is_running:
            return
        self.shutdown()
        if not self._process.waitForFinished(grace_ms):
            self._process.terminate()
            if not self._process.waitForFinished(_TERMINATE_GRACE_MS):
                self._process.kill()
                self._process.waitForFinished(_TERMINATE_GRACE_MS)

    def kill(self) -> None:
        """Kill the process at once (as a crash would)."""
        self._process.kill()

    def _on_process_started(self) -> None:
        self.started_process.emit(self._process.processId())

    def _on_process_stdout(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", errors="replace").strip()
            if text:
                self.line_received.emit(text)

    def _on_process_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError()).decode("utf-8", errors="replace")
        self._stderr.extend(line for line in text.splitlines() if line.strip())

    def _on_process_finished(self, exit_code: int, status: QtCore.QProcess.ExitStatus) -> None:
        self._on_process_stdout()
        if self._buffer.strip():
            self.line_received.emit(self._buffer.decode("utf-8", errors="replace").strip())
            self._buffer = b""
        crashed = status == QtCore.QProcess.ExitStatus.CrashExit
        self.ended.emit(None if crashed else exit_code, crashed, self._stderr[-1] if self._stderr else "")

    def _on_process_error(self, error: QtCore.QProcess.ProcessError) -> None:
        if error == QtCore.QProcess.ProcessError.FailedToStart:
            self.failed_to_start.emit(f"{self._process.program()}: {self._process.errorString()}")

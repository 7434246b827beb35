"""A heartbeat on the UI thread, to assert that long work elsewhere (SAM2 on a thread, a worker process) never
makes the window wait.

The wait between two beats counts what the process did (its own code, a blocking call), not the time the
operating system kept the UI thread off a busy CPU: on Linux the thread's run-queue delay
(`/proc/thread-self/schedstat`) is subtracted, so a loaded test machine does not read as a frozen window.
"""

import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore


_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _run_queue_delay() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (0 where the system does not say)."""
    try:
        return int(_SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Heartbeat:
    """Beats every `interval_ms` on the thread that starts it (the UI thread).

    Args:
        interval_ms (`int`, defaults to 10): the timer's interval.
    """

    def __init__(self, interval_ms: int = 10) -> None:
        self._timer = QtCore.QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._beats: list[tuple[float, float]] = []

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def count(self) -> int:
        return len(self._beats)

    def longest_wait(self) -> float:
        """The longest time between two beats, in seconds, less the time the thread waited for a CPU."""
        beats = np.array(self._beats)
        return float((np.diff(beats[:, 0]) - np.diff(beats[:, 1])).max())

    def longest_gap(self) -> float:
        """The longest wall-clock time between two beats, in seconds."""
        return float(np.diff(np.array(self._beats)[:, 0]).max())

    def _on_timer_timeout(self) -> None:
        self._beats.append((time.perf_counter(), _run_queue_delay()))

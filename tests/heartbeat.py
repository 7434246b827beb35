"""A heartbeat on the UI thread, to assert that long work elsewhere (SAM2 on a thread, a worker process) never
makes the window wait.

The wait between two beats counts what the process did (its code on the UI thread, a blocking call, the UI thread
waiting for the GIL while another thread runs Python), not the time the operating system kept the process's
threads off a busy CPU: on Linux the run-queue delay of the process's threads (`/proc/self/task/*/schedstat`)
during the gap is subtracted, so a test machine loaded by other processes does not read as a frozen window. The
UI thread's own CPU time between beats is kept too: work done on the UI thread counts whatever the load.
"""

import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore


_TASKS = Path("/proc/self/task")


def _run_queue_delay() -> float:
    """Seconds the threads of this process have spent runnable but waiting for a CPU (0 where unknown)."""
    total = 0
    try:
        tasks = list(_TASKS.iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that just ended
            continue
    return total / 1e9


class Heartbeat:
    """Beats every `interval_ms` on the thread that starts it (the UI thread).

    Args:
        interval_ms (`int`, defaults to 10): the timer's interval.
    """

    def __init__(self, interval_ms: int = 10) -> None:
        self._timer = QtCore.QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._beats: list[tuple[float, float, float]] = []

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def count(self) -> int:
        return len(self._beats)

    def longest_wait(self) -> float:
        """The longest time between two beats, in seconds, less the time the process waited for a CPU meanwhile
        (never less than the UI thread's own CPU time in that gap)."""
        beats = np.array(self._beats)
        wall, delay, busy = (np.diff(beats[:, column]) for column in range(3))
        return float(np.maximum(wall - delay, busy).max())

    def longest_gap(self) -> float:
        """The longest wall-clock time between two beats, in seconds."""
        return float(np.diff(np.array(self._beats)[:, 0]).max())

    def longest_busy(self) -> float:
        """The most CPU time the UI thread spent between two beats, in seconds."""
        return float(np.diff(np.array(self._beats)[:, 2]).max())

    def _on_timer_timeout(self) -> None:
        self._beats.append((time.perf_counter(), _run_queue_delay(), time.thread_time()))

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


def _run_queue_delays() -> dict[str, float]:
    """Seconds each thread of this process has spent runnable but waiting for a CPU (empty where unknown)."""
    delays = {}
    try:
        tasks = list(_TASKS.iterdir())
    except OSError:
        return delays
    for task in tasks:
        try:
            delays[task.name] = int((task / "schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):  # a thread that just ended
            continue
    return delays


class Heartbeat:
    """Beats every `interval_ms` on the thread that starts it (the UI thread).

    Args:
        interval_ms (`int`, defaults to 10): the timer's interval.
    """

    def __init__(self, interval_ms: int = 10) -> None:
        self._timer = QtCore.QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        # (wall clock, run-queue delay of the process's threads since the last beat, UI thread CPU time)
        self._beats: list[tuple[float, float, float]] = []
        self._delays: dict[str, float] = {}

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
        wall, busy = np.diff(beats[:, 0]), np.diff(beats[:, 2])
        return float(np.maximum(wall - beats[1:, 1], busy).max())

    def longest_gap(self) -> float:
        """The longest wall-clock time between two beats, in seconds."""
        return float(np.diff(np.array(self._beats)[:, 0]).max())

    def longest_busy(self) -> float:
        """The most CPU time the UI thread spent between two beats, in seconds."""
        return float(np.diff(np.array(self._beats)[:, 2]).max())

    def _on_timer_timeout(self) -> None:
        delays = _run_queue_delays()
        # Per thread, so a thread that ends (its total leaves the sum) cannot make the delay negative; a thread
        # that started since the last beat waited all its delay within this gap.
        waited = sum(delay - self._delays.get(thread, 0.0) for thread, delay in delays.items())
        self._delays = delays
        self._beats.append((time.perf_counter(), waited, time.thread_time()))

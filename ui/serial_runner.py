"""One worker thread that runs calls in order, off the UI thread, their answers coming back on it.

SAM2 answers a click in tens of milliseconds on a GPU but seconds on a CPU, and tracks a window frame by frame;
either would freeze the window on the UI thread. Every call of the occluder dock that touches the masker or its
session goes through `SerialRunner.submit`, so they run one at a time in the order given (the session is one
caller's at a time). The queue dock reads the job store the same way: a database another process writes may
keep a reader waiting. Unlike a thread per task, one thread keeps the calls in order.
"""

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from keydub.core.errors import KeydubError


logger = logging.getLogger(__name__)

# SAM2's Python code holds the GIL between torch calls; a UI thread waiting for it is handed it after at most
# this long (Python's default is 5 ms, which a busy model thread turns into visible stutter).
_GIL_SWITCH_INTERVAL_S = 0.001


@dataclass(frozen=True)
class Task:
    """A call to run on the worker thread, and what to do with its answer on the UI thread.

    Args:
        run (`Callable[[], Any]`): runs on the worker thread.
        done (`Callable[[Any], None] | None`): gets the result on the UI thread.
        failed (`Callable[[str], None] | None`): gets a one-line error on the UI thread.
    """

    run: Callable[[], Any]
    done: Callable[[Any], None] | None = None
    failed: Callable[[str], None] | None = None


class _Worker(QObject):
    finished = Signal(object, object)  # task, result
    errored = Signal(object, str)  # task, one-line message

    @Slot(object)
    def run(self, task: Task) -> None:
        try:
            result = task.run()
        except KeydubError as error:
            self.errored.emit(task, str(error))
        except Exception as error:  # a bug or a model failure must not kill the thread or the window
            logger.exception("a task of the panel failed")
            self.errored.emit(task, f"{type(error).__name__}: {error}")
        else:
            self.finished.emit(task, result)


class SerialRunner(QObject):
    """Runs `Task`s one after another on its own `QThread`.

    Signals:
        busy_changed (`bool`): a task started when none was running, or the last one ended.
    """

    busy_changed = Signal(bool)
    _requested = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending = 0
        sys.setswitchinterval(min(sys.getswitchinterval(), _GIL_SWITCH_INTERVAL_S))
        self._thread = QThread(self)
        self._thread.setObjectName("keydub-serial")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._requested.connect(self._worker.run)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.errored.connect(self._on_worker_errored)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()

    @property
    def is_busy(self) -> bool:
        return self._pending > 0

    def submit(self, task: Task) -> None:
        """Queue `task`; its `done` or `failed` is called on this object's thread when it has run."""
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        self._requested.emit(task)

    def stop(self, timeout_ms: int = 30000) -> None:
        """Finish the queued tasks and end the thread."""
        self._thread.quit()
        self._thread.wait(timeout_ms)

    def _on_worker_finished(self, task: Task, result: Any) -> None:
        self._settle()
        if task.done is not None:
            task.done(result)

    def _on_worker_errored(self, task: Task, message: str) -> None:
        self._settle()
        if task.failed is not None:
            task.failed(message)

    def _settle(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.busy_changed.emit(False)

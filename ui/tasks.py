"""Short jobs off the UI thread (opening a clip, analysing faces): result or error back, stale answers dropped.

A `TaskThread` runs one function and reports through signals, which Qt delivers on the UI thread. A `TaskRunner`
gives each task a request id and applies an answer only while its id is the current one for that kind of task,
so a slow analysis of a clip the editor has already left is simply ignored.
"""

import itertools
import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from keydub.core.errors import KeydubError
from keydub.core.progress import Progress


logger = logging.getLogger(__name__)


class TaskThread(QtCore.QThread):
    """Runs `function(progress)` once.

    Signals:
        succeeded(int, object): `(request id, result)`.
        failed(int, str): `(request id, one-line message)`; unexpected errors are logged with their traceback.
        progressed(int, int, int): `(request id, done, total)`.

    Args:
        request_id (`int`): the caller's id for this request.
        function (`Callable[[Callable[[Progress], None]], Any]`): the work; it receives a progress callback.
    """

    succeeded = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, str)
    progressed = QtCore.Signal(int, int, int)

    def __init__(
        self,
        request_id: int,
        function: Callable[[Callable[[Progress], None]], Any],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.request_id = request_id
        self._function = function

    def run(self) -> None:
        try:
            result = self._function(self._report)
        except KeydubError as error:
            self.failed.emit(self.request_id, str(error))
        except Exception as error:  # the window must show a message, never die with the thread
            logger.error("task failed:\n%s", traceback.format_exc())
            self.failed.emit(self.request_id, f"{type(error).__name__}: {error}")
        else:
            self.succeeded.emit(self.request_id, result)

    def _report(self, progress: Progress) -> None:
        self.progressed.emit(self.request_id, progress.done, progress.total or 0)


class TaskRunner(QtCore.QObject):
    """Runs short tasks on `TaskThread`s and keeps one request current per kind of task.

    A new task of a kind (`"open"`, `"analysis"`) makes the earlier one of that kind stale: its thread runs to the
    end, but its answer, failure and progress are dropped. Only the current request's answer is applied.

    Signals:
        started (`str`): a task started; the message naming it.
        progressed (`int`, `int`): `(done, total)` of a current task, when it knows its total.
        finished: a current task answered (its result is being applied, or it failed).
        failed (`str`): a current task, or the applying of its result, failed with this one-line message.
    """

    started = QtCore.Signal(str)
    progressed = QtCore.Signal(int, int)
    finished = QtCore.Signal()
    failed = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._request_ids = itertools.count(1)
        self._current: dict[str, int] = {}
        self._pending: dict[int, tuple[str, Callable[[Any], None]]] = {}
        self._threads: set[TaskThread] = set()

    @property
    def is_busy(self) -> bool:
        """Whether a task's thread, current or stale, is still running."""
        return bool(self._threads)

    def run(
        self,
        kind: str,
        function: Callable[[Callable[[Progress], None]], Any],
        on_success: Callable[[Any], None],
        message: str,
    ) -> int:
        """Run `function(progress)` on a thread; `on_success(result)` runs on this object's thread if the request
        is still the current one of `kind` then. A `KeydubError` it raises becomes `failed`.

        Returns:
            `int`: the request id.
        """
        request_id = next(self._request_ids)
        self._current[kind] = request_id
        self._pending[request_id] = (kind, on_success)
        # The thread's signals go to bound slots of this object (never to lambdas): Qt then delivers them on this
        # object's thread, as queued calls.
        thread = TaskThread(request_id, function, self)
        thread.succeeded.connect(self._on_thread_succeeded)
        thread.failed.connect(self._on_thread_failed)
        thread.progressed.connect(self._on_thread_progressed)
        thread.finished.connect(self._on_thread_finished)
        self._threads.add(thread)
        self.started.emit(message)
        thread.start()
        return request_id

    def wait(self) -> None:
        """Wait for every task's thread to end (when the window closes)."""
        for thread in list(self._threads):
            thread.wait()

    def _is_current(self, request_id: int) -> bool:
        kind, _ = self._pending.get(request_id, (None, None))
        return kind is not None and self._current.get(kind) == request_id

    def _on_thread_succeeded(self, request_id: int, result: Any) -> None:
        if not self._is_current(request_id):
            return
        self.finished.emit()
        try:
            self._pending[request_id][1](result)
        except KeydubError as error:
            self.failed.emit(str(error))

    def _on_thread_failed(self, request_id: int, message: str) -> None:
        if self._is_current(request_id):
            self.finished.emit()
            self.failed.emit(message)

    def _on_thread_progressed(self, request_id: int, done: int, total: int) -> None:
        if self._is_current(request_id) and total:
            self.progressed.emit(done, total)

    def _on_thread_finished(self) -> None:
        thread = self.sender()
        self._threads.discard(thread)
        self._pending.pop(thread.request_id, None)
        thread.deleteLater()

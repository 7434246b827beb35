"""Short jobs off the UI thread (opening a clip, analysing faces): result or error back, stale answers dropped.

A `TaskThread` runs one function and reports through signals, which Qt delivers on the UI thread. Each task has a
request id; the window applies an answer only while its id is the current one for that kind of task, so a slow
analysis of a clip the editor has already left is simply ignored.
"""

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

"""The render queue dock: every job of the output folder with its state, one progress bar for the whole job, the
running stage with its own count (`interpolation · step 33/66`), the ETA and the device.

Submitting, cancelling and retrying write the store (an fsync each) on the dock's thread, never the window's: the
rows show as *submitting* at once, and a failure is one line under the table.

Renders run in a `keydub worker` process (`keydub.ui.worker_process.WorkerProcess`) that the dock starts when
jobs are queued; its events update the rows as they arrive, and the store is read again every second so that
jobs rendered by other workers or batches on the same folder show too. A worker crash shows one line under the
table and the job goes back to the queue, to resume when the worker starts again.

Selecting one finished render shows its Content Credentials under the table (signer, trusted or not, valid or
not), read on a thread of their own since c2pa hashes the whole file.

For the screenshot script, `show_mid_render(panel, jobs)` queues jobs and returns once the worker renders one.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from keydub.core.errors import KeydubError
from keydub.plugin.jobs import ClipJob
from keydub.plugin.panel.credential import credential_line
from keydub.plugin.panel.events import QueueChanged, WorkerChanged
from keydub.plugin.panel.queue import QueueController, QueueRow
from keydub.plugin.store import JobState
from keydub.ui.events import EventBridge
from keydub.ui.progress_delegate import WIDEST_STAGE_TEXT, ProgressBarDelegate, column_width_for
from keydub.ui.serial_runner import SerialRunner, Task
from keydub.ui.worker_process import WorkerProcess


JOB_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
FRACTION_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Clip", "State", "Stage", "Progress", "ETA", "Device", "Tries")
PROGRESS_COLUMN = COLUMNS.index("Progress")
STAGE_COLUMN = COLUMNS.index("Stage")
# The clip name's column starts this wide and the stage's fits the longest stage text (the editor can drag both);
# the bar takes what is left.
_CLIP_COLUMN_WIDTH = 220
_REFRESH_MS = 1000
_STATE_COLOURS = {
    JobState.DONE: QtGui.QColor(60, 170, 80),
    JobState.FAILED: QtGui.QColor(210, 60, 60),
    JobState.RUNNING: QtGui.QColor(40, 130, 230),
    JobState.CANCELLED: QtGui.QColor(140, 140, 140),
}


class QueueModel(QtCore.QAbstractTableModel):
    """The queue's rows (`QueueRow`) as a table; `set_rows` updates in place when the jobs are the same."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[QueueRow] = []

    @property
    def rows(self) -> list[QueueRow]:
        return list(self._rows)

    def set_rows(self, rows: list[QueueRow]) -> None:
        if [row.job_id for row in rows] == [row.job_id for row in self._rows]:
            changed = [index for index, (old, new) in enumerate(zip(self._rows, rows, strict=True)) if old != new]
            self._rows = rows
            for index in changed:
                self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: QtCore.Qt.Orientation, role: int = QtCore.Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == QtCore.Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = COLUMNS[index.column()]
        if role == JOB_ID_ROLE:
            return row.job_id
        if role == FRACTION_ROLE:
            return 1.0 if row.state is JobState.DONE and not row.is_submitting else row.fraction
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return _cell_text(row, column)
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return _cell_tooltip(row, column)
        if role == QtCore.Qt.ItemDataRole.ForegroundRole and column == "State":
            return _STATE_COLOURS.get(row.state)
        return None


def _cell_tooltip(row: QueueRow, column: str) -> str | None:
    """The full text of a cell that may be elided, and where the job's file is."""
    if column in ("Clip", "State"):
        return row.message or str(row.output or row.job_id)
    if column in ("Stage", "Progress") and row.fraction is not None:
        return f"{row.fraction:.0%} of the job · {row.progress.text()}"
    return None


def _cell_text(row: QueueRow, column: str) -> str:
    if column == "Clip":
        return row.name
    if column == "State":
        return row.state_text()
    if column == "Stage":
        return row.progress_text()
    if column == "Progress":
        return f"{row.fraction:.0%}" if row.fraction is not None else ""
    if column == "ETA":
        return row.eta_text()
    if column == "Device":
        return row.device or ""
    return str(row.attempts)


class QueuePanel(QtWidgets.QDockWidget):
    """The render queue dock.

    Args:
        queue_controller (`QueueController`): the folder's queue.
        environment (`dict[str, str] | None`): the worker's environment (default: the app's).
        auto_start (`bool`, defaults to `True`): start the worker when jobs are queued and none runs.
        parent (`QWidget | None`): the window.

    Signals:
        rows_changed: the table was refreshed.
        worker_changed (`str`): the worker's state changed (`"starting"`, `"running"`, `"idle"`, `"stopped"`,
            `"crashed"`).
        submitted (`list`): a `submit` was written; the ids of the jobs queued (those already queued or rendered
            are left out).
        write_failed (`str`): a submit, cancel or retry could not be written, in one line.
    """

    rows_changed = QtCore.Signal()
    worker_changed = QtCore.Signal(str)
    submitted = QtCore.Signal(list)
    write_failed = QtCore.Signal(str)

    def __init__(
        self,
        queue_controller: QueueController,
        environment: dict[str, str] | None = None,
        auto_start: bool = True,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__("Render queue", parent)
        self.setObjectName("queue")
        self.controller = queue_controller
        self.environment = environment
        self.auto_start = auto_start
        self.worker = WorkerProcess(self)
        self.model = QueueModel(self)
        self.runner = SerialRunner(self)
        self.credential_runner = SerialRunner(self)
        self._credential_path: Path | None = None
        self.events = EventBridge(self)
        self._is_reloading = self._is_reload_wanted = self._is_read_outdated = False
        self._timer = QtCore.QTimer(self, interval=_REFRESH_MS)
        self._build()
        self._connect()
        self.reload()
        self._timer.start()

    def _build(self) -> None:
        body = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(body)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressBarDelegate(FRACTION_ROLE, parent=self.table))
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)  # one line per job; a long stage is elided, its tooltip has it all
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        stage_width = column_width_for(self.table, WIDEST_STAGE_TEXT)
        for column, width in ((0, _CLIP_COLUMN_WIDTH), (STAGE_COLUMN, stage_width)):
            header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        header.setSectionResizeMode(PROGRESS_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        layout.addWidget(self.table, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start worker")
        self.stop_button = QtWidgets.QPushButton("Stop worker")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.retry_button = QtWidgets.QPushButton("Retry")
        self.cancel_button.setToolTip("Take the selected jobs out of the queue (a render stops within one step)")
        self.retry_button.setToolTip("Queue the selected failed or cancelled jobs again")
        for button in (self.start_button, self.stop_button, self.cancel_button, self.retry_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.status = QtWidgets.QLabel("No worker running.")
        self.status.setObjectName("worker_status")
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        # What the worker removed at its start (a killed render's partial files): its own line, kept until another
        # worker starts, since the status line moves on at the next event.
        self.removed_label = QtWidgets.QLabel()
        self.removed_label.setObjectName("worker_removed")
        self.removed_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.removed_label.hide()
        layout.addWidget(self.removed_label)
        # The Content Credentials of the one finished render selected (read on `credential_runner`'s thread: c2pa
        # hashes the whole file).
        self.credential_label = QtWidgets.QLabel()
        self.credential_label.setObjectName("credential")
        self.credential_label.setWordWrap(True)
        self.credential_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.credential_label.hide()
        layout.addWidget(self.credential_label)
        self.setWidget(body)

    def _connect(self) -> None:
        self.start_button.clicked.connect(self.start_worker)
        self.stop_button.clicked.connect(self.stop_worker)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.worker.started_process.connect(self.controller.worker_started)
        self.worker.line_received.connect(self.controller.handle_line)
        self.worker.ended.connect(self.controller.worker_ended)
        self.worker.failed_to_start.connect(self.controller.worker_failed_to_start)
        self.events.subscribe(
            self.controller,
            {QueueChanged: self._on_controller_queue_changed, WorkerChanged: self._on_controller_worker_changed},
        )

    # Worker -------------------------------------------------------------------------------------------------
    def start_worker(self) -> None:
        """Start the folder's worker unless one of this panel's runs."""
        if self.worker.is_running:
            return
        self.controller.attach(self.worker.send)
        self.worker.start(self.controller.worker_argv(), self.environment)

    def stop_worker(self) -> None:
        """Ask the worker to stop; the job it renders goes back to the queue."""
        self.worker.shutdown()

    def submit(self, jobs: list[ClipJob], force: bool = False, prepare: Callable[[], Any] | None = None) -> None:
        """Queue jobs (see `QueueController.submit`) off the window's thread: their rows show as *submitting* at
        once; `submitted` or `write_failed` follows, and the worker starts if needed.

        Args:
            jobs (`list[ClipJob]`): the jobs.
            force (`bool`, defaults to `False`): render again jobs already rendered or queued.
            prepare (`Callable[[], Any] | None`): runs first on the same thread, e.g. the write of the jobs' dub
                audio (`DubAudioWrite.run`); if it raises, nothing is queued and its error is the one line.
        """
        jobs = list(jobs)
        if not jobs:
            return

        def prepare_and_write() -> list[str]:
            if prepare is not None:
                prepare()
            return self.controller.write_submission(jobs, force=force)

        self.controller.begin_submit(jobs)
        self._write("queue", [job.job_id for job in jobs], prepare_and_write, self.submitted.emit)

    def cancel(self, job_ids: list[str]) -> None:
        """Take jobs out of the queue (see `QueueController.cancel`) off the window's thread; the render stops at
        once, the rows follow when the store is written."""
        self.controller.stop_rendering(job_ids)
        self._write("cancel", list(job_ids), lambda: self.controller.write_cancel(job_ids))

    def retry(self, job_ids: list[str]) -> None:
        """Queue failed or cancelled jobs again, off the window's thread."""
        self._write("retry", list(job_ids), lambda: self.controller.write_retry(job_ids))

    def _write(
        self, verb: str, job_ids: list[str], write: Callable[[], Any], done: Callable[[Any], None] | None = None
    ) -> None:
        """Run a store write of `job_ids` on the dock's thread and read the rows after it; `done(its result)` then
        runs here, or one line saying what could not be done ("Could not {verb} 2 job(s): ...")."""

        def write_and_read() -> tuple[Any, list]:
            return write(), self.controller.read_records()

        def written(answer: tuple[Any, list]) -> None:
            self.controller.finish_write(job_ids, answer[1])
            if done is not None:
                done(answer[0])

        def failed(message: str) -> None:
            self.controller.finish_write(job_ids)
            line = f"Could not {verb} {len(job_ids)} job(s): {(message.splitlines() or ['no reason given'])[0]}"
            self.status.setText(line)
            self.write_failed.emit(line)

        self.runner.submit(Task(write_and_read, written, failed))

    def shutdown(self) -> None:
        """Stop the worker and wait for it (the window calls this when it closes)."""
        self._timer.stop()
        self.worker.stop()
        self.runner.stop()
        self.credential_runner.stop()
        self.events.unsubscribe()

    # Table --------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the queue as the controller last read it, with the worker's live events."""
        self.model.set_rows(self.controller.rows())
        self._on_table_selection_changed()
        self.rows_changed.emit()

    def selected_job_ids(self) -> list[str]:
        return [index.data(JOB_ID_ROLE) for index in self.table.selectionModel().selectedRows()]

    def select_jobs(self, job_ids: list[str]) -> None:
        self.table.clearSelection()
        mode = QtCore.QItemSelectionModel.SelectionFlag.Select | QtCore.QItemSelectionModel.SelectionFlag.Rows
        for row, item in enumerate(self.model.rows):
            if item.job_id in job_ids:
                self.table.selectionModel().select(self.model.index(row, 0), mode)

    def reload(self) -> None:
        """Read the store again on the dock's thread (a database another process writes may keep a reader
        waiting); the table follows when the rows arrive."""
        if self._is_reloading:
            self._is_reload_wanted = True
            return
        self._is_reloading = True
        self.runner.submit(
            Task(self.controller.read_records, self._on_runner_records_read, self._on_runner_read_failed)
        )

    def _on_runner_records_read(self, records: list) -> None:
        self._is_reloading = False
        if self._is_read_outdated:
            # A submit, cancel or retry read the store again while this read ran: these rows are older.
            self._is_read_outdated = False
            self._is_reload_wanted = True
        else:
            self.controller.set_records(records)
            self.refresh()
            self._start_if_pending()
        if self._is_reload_wanted:
            self._is_reload_wanted = False
            self.reload()

    def _on_runner_read_failed(self, message: str) -> None:
        self._is_reloading = False
        self.status.setText(f"The job store cannot be read: {message}")

    def _on_timer_timeout(self) -> None:
        # Other processes (a batch, workers of other panels) render into the same folder.
        self.reload()

    def _on_cancel_clicked(self) -> None:
        self.cancel(self.selected_job_ids())

    def _on_retry_clicked(self) -> None:
        self.retry(self.selected_job_ids())

    def _on_table_selection_changed(self, *args: Any) -> None:
        selected = set(self.selected_job_ids())
        rows = [row for row in self.model.rows if row.job_id in selected]
        self.cancel_button.setEnabled(any(row.can_cancel for row in rows))
        self.retry_button.setEnabled(any(row.can_retry for row in rows))
        self.start_button.setEnabled(not self.worker.is_running)
        self.stop_button.setEnabled(self.worker.is_running)
        finished = [row.output for row in rows if row.state is JobState.DONE and row.output is not None]
        self._show_credential(finished[0] if len(rows) == 1 and finished else None)

    def _show_credential(self, path: Path | None) -> None:
        """Show the credentials of the render `path` (read off the UI thread), or nothing for `None`."""
        if path == self._credential_path:
            return
        self._credential_path = path
        self.credential_label.setVisible(path is not None)
        if path is None:
            return
        self.credential_label.setText("Content Credentials: reading...")

        def shown(text: str) -> None:
            if self._credential_path == path:  # the selection may have moved on while it was read
                self.credential_label.setText(text)

        self.credential_runner.submit(
            Task(
                lambda: credential_line(path),
                shown,
                lambda message: shown(f"Content Credentials: cannot be read: {message}"),
            )
        )

    def _on_controller_queue_changed(self, event: QueueChanged) -> None:
        if event.is_stale:
            self.reload()
        elif self._is_reloading:
            self._is_read_outdated = True
        self.refresh()
        self._start_if_pending()

    def _start_if_pending(self) -> None:
        if self.auto_start and not self.worker.is_running and self.controller.has_pending():
            self.start_worker()

    def _on_controller_worker_changed(self, _event: WorkerChanged) -> None:
        status = self.controller.worker
        self.status.setText(status.message or f"Worker {status.state}.")
        self.removed_label.setText(status.removed_text())
        self.removed_label.setToolTip("\n".join(status.removed_stale))
        self.removed_label.setVisible(bool(status.removed_stale))
        self._on_table_selection_changed()
        self.worker_changed.emit(status.state)


def show_mid_render(panel: QueuePanel, jobs: list[ClipJob], timeout_ms: int = 600000) -> QueueRow:
    """Queue `jobs`, start the worker and return once one of them reports render progress (for the screenshot
    script: the dock then shows a job mid-render, from the real worker's events).

    Raises:
        `KeydubError`: no progress within `timeout_ms` (the worker's last status line says why).
    """
    loop = QtCore.QEventLoop()
    panel.rows_changed.connect(loop.quit)
    panel.worker_changed.connect(loop.quit)
    QtCore.QTimer.singleShot(timeout_ms, loop.quit)
    deadline = QtCore.QDeadlineTimer(timeout_ms)
    panel.submit(jobs, force=True)
    panel.start_worker()
    try:
        while not deadline.hasExpired():
            running = [row for row in panel.model.rows if row.fraction is not None]
            if running:
                return running[0]
            if panel.controller.worker.state == "crashed":
                break
            loop.exec()
    finally:
        panel.rows_changed.disconnect(loop.quit)
        panel.worker_changed.disconnect(loop.quit)
    raise KeydubError(f"no render progress from the worker: {panel.controller.worker.message or 'no answer'}")

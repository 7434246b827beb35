"""The clip list's Qt model: one row per clip session, its render state and QC from the job store, then one greyed
row per timeline clip that cannot be rendered, with the reason.

Thin, as Qt models should be: rows come from the controller, states from one read of the job store per refresh;
the model keeps them by clip id and never decides anything itself.
"""

from collections.abc import Callable, Iterable
from dataclasses import replace

from PySide6 import QtCore, QtGui

from keydub.core.errors import KeydubError
from keydub.plugin.panel.analysis import FaceAnalysis
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.face_label import FaceLabel, face_label, speakers_label
from keydub.plugin.panel.queue import QueueRow
from keydub.plugin.panel.session import ClipSession
from keydub.plugin.panel.status import ClipStatus
from keydub.plugin.store import JobState, JobStore


CLIP_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
STATE_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2
FRACTION_ROLE = QtCore.Qt.ItemDataRole.UserRole + 3
COLUMNS = ("Clip", "Record in", "Record out", "Source range", "Dub", "Face", "Occluders", "State", "QC")
STATE_COLUMN = COLUMNS.index("State")
SKIPPED = "skipped"
SUBMITTING = "submitting"
_SKIPPED_COLOUR = QtGui.QColor(140, 140, 140)
_STATE_COLOURS = {
    "done": QtGui.QColor(90, 190, 110),
    "failed": QtGui.QColor(230, 80, 70),
    "stale": QtGui.QColor(230, 170, 60),
    "rendering": QtGui.QColor(90, 160, 240),
    "queued": QtGui.QColor(160, 160, 200),
    SUBMITTING: QtGui.QColor(160, 160, 200),
    "cancelled": QtGui.QColor(150, 150, 150),
}


class ClipListModel(QtCore.QAbstractTableModel):
    """Rows of `controller.sessions` with their `ClipStatus`, then the opened timeline's skipped clips (greyed,
    not selectable, the reason in the State cell).

    Args:
        controller (`PanelController`): where the clips come from.
        analysis_of (`Callable[[str], FaceAnalysis | None] | None`): a clip's face tracks by clip id, once found
            (the Face cell then names the face and its size).
    """

    refreshed = QtCore.Signal()

    def __init__(
        self,
        controller: PanelController,
        analysis_of: Callable[[str], FaceAnalysis | None] | None = None,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.analysis_of = analysis_of or (lambda clip_id: None)
        self._sessions: list[ClipSession] = []
        self._skipped: list[tuple[str, str]] = []
        # What the job store said at the last read, and each clip's job id then; the queue's live state goes over it.
        self._stored: dict[str, ClipStatus] = {}
        self._job_ids: dict[str, str] = {}
        self._queue: dict[str, QueueRow] = {}

    # Reading ------------------------------------------------------------------------------------------------
    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._sessions) + len(self._skipped)

    def flags(self, index: QtCore.QModelIndex) -> QtCore.Qt.ItemFlag:
        if index.isValid() and index.row() >= len(self._sessions):
            return QtCore.Qt.ItemFlag.NoItemFlags  # greyed and never selected, so never rendered
        return super().flags(index)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: QtCore.Qt.Orientation, role: int = QtCore.Qt.ItemDataRole.DisplayRole
    ) -> str | None:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == QtCore.Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        if index.row() >= len(self._sessions):
            return _skipped_data(*self._skipped[index.row() - len(self._sessions)], COLUMNS[index.column()], role)
        session = self._sessions[index.row()]
        status = self.status(session.clip_id)
        name = COLUMNS[index.column()]
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self._cell(session, status, index.column())
        if role == CLIP_ID_ROLE:
            return session.clip_id
        if role == STATE_ROLE:
            return status.state
        if role == FRACTION_ROLE and name == "State" and status.state == "rendering":
            return status.progress
        if role == QtCore.Qt.ItemDataRole.ForegroundRole and name == "State":
            return _STATE_COLOURS.get(status.state)
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(session, status, name)
        return None

    def _tooltip(self, session: ClipSession, status: ClipStatus, name: str) -> str | None:
        """The cell's whole text (a narrow cell is elided), with what it stands for where there is more."""
        if name == "Face":
            return self._face(session).tooltip
        if name == "State":
            return "\n".join(dict.fromkeys(text for text in (status.label(), status.message) if text))
        if name == "Clip":
            return f"{session.name}\n{session.video}"
        return self._cell(session, status, COLUMNS.index(name)) or None

    def _face(self, session: ClipSession) -> FaceLabel:
        try:
            speakers = self.controller.job(session.clip_id, write_audio=False).speakers
        except KeydubError:  # the State cell says why the clip cannot be rendered
            speakers = ()
        if speakers:
            return speakers_label(speakers)
        return face_label(session.face, session.start_frame, self.analysis_of(session.clip_id))

    def _cell(self, session: ClipSession, status: ClipStatus, column: int) -> str:
        name = COLUMNS[column]
        if name == "Clip":
            return session.name
        if name == "Record in":
            return session.record_in or ""
        if name == "Record out":
            return session.record_out or ""
        if name == "Source range":
            return f"{session.start_frame}-{session.end_frame - 1} ({session.end_frame - session.start_frame} fr)"
        if name == "Dub":
            return session.dub
        if name == "Face":
            return self._face(session).text
        if name == "Occluders":
            return str(len({prompt.get("object_id") for prompt in session.occluders}))
        if name == "State":
            return status.label()
        return _qc_label(status)

    def row_of(self, clip_id: str) -> int:
        return next((row for row, session in enumerate(self._sessions) if session.clip_id == clip_id), -1)

    def clip_id_at(self, row: int) -> str:
        return self._sessions[row].clip_id

    def status(self, clip_id: str) -> ClipStatus:
        """The clip's state as the list shows it: the store's, with the render queue's live progress over it."""
        status = self._stored.get(clip_id, ClipStatus("not rendered"))
        row = self._queue.get(self._job_ids.get(clip_id, ""))
        if row is None:
            return status
        if row.is_submitting:
            return ClipStatus(SUBMITTING)
        if row.state is JobState.PENDING:
            return status if status.state == "queued" else ClipStatus("queued")  # the store's has the reason
        if row.fraction is not None:
            progress = row.progress
            return replace(
                status,
                state="rendering",
                progress=progress.fraction,
                eta_seconds=progress.eta_seconds,
                stage=progress.stage_text(),
            )
        return status

    # Refreshing ---------------------------------------------------------------------------------------------
    def reset_clips(self) -> None:
        """Take the controller's clip list again (a video or timeline was opened)."""
        self.beginResetModel()
        self._sessions = self.controller.sessions
        opened = self.controller.opened
        self._skipped = list(opened.skipped) if opened is not None else []
        self._stored, self._job_ids = {}, {}
        self.endResetModel()
        self.refresh_states()

    def update_clip(self, clip_id: str) -> None:
        """One clip's session changed."""
        row = self.row_of(clip_id)
        if row >= 0:
            self._sessions[row] = self.controller.session(clip_id)
            self._refresh_rows([row])

    def refresh_states(self) -> None:
        """Read every clip's state from the job store (one connection for all rows)."""
        self._refresh_rows(range(len(self._sessions)))

    def set_queue_rows(self, rows: Iterable[QueueRow]) -> None:
        """The render queue's rows (`QueueController.rows`), newer than this model's last store read: jobs being
        submitted, queued, and the live progress of running ones (from the worker's events, only going forward).

        It comes with every worker event, so it reads the store only when a job's state has changed (a render
        ended: its outcome, its file and its QC; a job was cancelled or retried), and otherwise only repaints the
        State cells.
        """
        previous, self._queue = self._queue, {row.job_id: row for row in rows}
        if any(job_id in previous and previous[job_id].state is not row.state for job_id, row in self._queue.items()):
            self.refresh_states()
        elif self._sessions:
            self.dataChanged.emit(self.index(0, STATE_COLUMN), self.index(len(self._sessions) - 1, STATE_COLUMN))

    def _refresh_rows(self, rows) -> None:
        rows = list(rows)
        if not rows or self.controller.out_dir is None:
            return
        try:
            with JobStore.for_folder(self.controller.out_dir, read_only=True) as store:
                for row in rows:
                    clip_id = self._sessions[row].clip_id
                    self._stored[clip_id] = self.controller.status(clip_id, store)
                    self._job_ids[clip_id] = self.controller.job(clip_id, write_audio=False).job_id
        except KeydubError as error:
            for row in rows:
                self._stored[self._sessions[row].clip_id] = ClipStatus("failed", message=str(error))
        self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))
        self.refreshed.emit()


def _skipped_data(name: str, reason: str, column: str, role: int) -> str | QtGui.QColor | None:
    """A skipped timeline clip's cells: its name, and why it cannot be rendered in the State cell."""
    reason = (reason.splitlines() or ["the planner gave no reason"])[0]
    if role == QtCore.Qt.ItemDataRole.DisplayRole:
        return {"Clip": name, "State": f"{SKIPPED}: {reason}"}.get(column, "")
    if role == QtCore.Qt.ItemDataRole.ToolTipRole:
        return f"{name} cannot be rendered: {reason}. Fix it in the timeline and open the timeline again."
    if role == QtCore.Qt.ItemDataRole.ForegroundRole:
        return _SKIPPED_COLOUR
    if role == STATE_ROLE:
        return SKIPPED
    return None


def _qc_label(status: ClipStatus) -> str:
    parts = []
    if status.face_coverage is not None:
        parts.append(f"face {100 * status.face_coverage:.0f} %")
    if status.open_mouth_share is not None:
        parts.append(f"open {100 * status.open_mouth_share:.0f} %")
    return ", ".join(parts)

"""The clip list's Qt model: one row per clip session, its render state and QC from the job store.

Thin, as Qt models should be: rows come from the controller, states from one read of the job store per refresh;
the model keeps them by clip id and never decides anything itself.
"""

from dataclasses import replace

from PySide6 import QtCore, QtGui

from keydub.core.errors import KeydubError
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.session import ClipSession
from keydub.plugin.panel.status import ClipStatus
from keydub.plugin.store import JobStore


CLIP_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
STATE_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Clip", "Record in", "Record out", "Source range", "Dub", "Face", "Occluders", "State", "QC")
_STATE_COLOURS = {
    "done": QtGui.QColor(90, 190, 110),
    "failed": QtGui.QColor(230, 80, 70),
    "stale": QtGui.QColor(230, 170, 60),
    "rendering": QtGui.QColor(90, 160, 240),
    "queued": QtGui.QColor(160, 160, 200),
    "cancelled": QtGui.QColor(150, 150, 150),
}


class ClipListModel(QtCore.QAbstractTableModel):
    """Rows of `controller.sessions` with their `ClipStatus`.

    Args:
        controller (`PanelController`): where the clips come from.
    """

    refreshed = QtCore.Signal()

    def __init__(self, controller: PanelController, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._sessions: list[ClipSession] = []
        self._status: dict[str, ClipStatus] = {}
        self._live: dict[str, tuple[float, float | None]] = {}

    # Reading ------------------------------------------------------------------------------------------------
    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._sessions)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: QtCore.Qt.Orientation, role: int = QtCore.Qt.ItemDataRole.DisplayRole
    ) -> str | None:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == QtCore.Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._sessions):
            return None
        session = self._sessions[index.row()]
        status = self._status.get(session.clip_id, ClipStatus("not rendered"))
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self._cell(session, status, index.column())
        if role == CLIP_ID_ROLE:
            return session.clip_id
        if role == STATE_ROLE:
            return status.state
        if role == QtCore.Qt.ItemDataRole.ForegroundRole and COLUMNS[index.column()] == "State":
            return _STATE_COLOURS.get(status.state)
        if role == QtCore.Qt.ItemDataRole.ToolTipRole and status.message:
            return status.message
        return None

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
            return _face_label(session)
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
        return self._status.get(clip_id, ClipStatus("not rendered"))

    # Refreshing ---------------------------------------------------------------------------------------------
    def reset_clips(self) -> None:
        """Take the controller's clip list again (a video or timeline was opened)."""
        self.beginResetModel()
        self._sessions = self.controller.sessions
        self._status = {}
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

    def set_live_progress(self, progress: dict[str, tuple[float, float | None]]) -> None:
        """The worker's live progress by job id, `(share done, ETA seconds)`, newer than the store's."""
        self._live = dict(progress)
        self.refresh_states()

    def _refresh_rows(self, rows) -> None:
        rows = list(rows)
        if not rows or self.controller.out_dir is None:
            return
        try:
            with JobStore.for_folder(self.controller.out_dir, read_only=True) as store:
                for row in rows:
                    clip_id = self._sessions[row].clip_id
                    status = self.controller.status(clip_id, store)
                    live = self._live.get(self.controller.job(clip_id, write_audio=False).job_id)
                    if status.state == "rendering" and live is not None:
                        status = replace(status, progress=live[0], eta_seconds=live[1])
                    self._status[clip_id] = status
        except KeydubError as error:
            for row in rows:
                self._status[self._sessions[row].clip_id] = ClipStatus("failed", message=str(error))
        self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))
        self.refreshed.emit()


def _face_label(session: ClipSession) -> str:
    face = session.face
    if face.track_id is not None:
        return f"track {face.track_id}"
    if face.point is not None:
        return f"{face.point[0]:.0f},{face.point[1]:.0f}@{face.frame}"
    return "largest"


def _qc_label(status: ClipStatus) -> str:
    parts = []
    if status.face_coverage is not None:
        parts.append(f"face {100 * status.face_coverage:.0f} %")
    if status.open_mouth_share is not None:
        parts.append(f"open {100 * status.open_mouth_share:.0f} %")
    return ", ".join(parts)

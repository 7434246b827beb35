"""The clip list's view: a multi-select table with render, cancel and re-render actions; a rendering clip's State
cell is a progress bar of the whole job."""

from PySide6 import QtCore, QtGui, QtWidgets

from keydub.ui.clips.model import CLIP_ID_ROLE, FRACTION_ROLE, STATE_COLUMN, ClipListModel
from keydub.ui.progress_delegate import WIDEST_STAGE_TEXT, ProgressBarDelegate


# The State column grows to show a rendering clip's label whole, and no wider: a longer state (a skipped clip's
# reason) ends in "…" rather than pushing QC out of sight, and its tooltip has it whole.
_WIDEST_STATE_TEXT = f"rendering 100 % · {WIDEST_STAGE_TEXT} · ETA 88:88"


class ClipListView(QtWidgets.QTableView):
    """Signals:
    current_clip_changed(str): the clicked (current) clip.
    render_requested(list), cancel_requested(list), rerender_requested(list): the selected clip ids.
    """

    current_clip_changed = QtCore.Signal(str)
    render_requested = QtCore.Signal(list)
    cancel_requested = QtCore.Signal(list)
    rerender_requested = QtCore.Signal(list)

    def __init__(self, model: ClipListModel, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setItemDelegateForColumn(STATE_COLUMN, ProgressBarDelegate(FRACTION_ROLE, _WIDEST_STATE_TEXT, self))
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
        self.render_action = QtGui.QAction("Render", self, shortcut=QtGui.QKeySequence("Ctrl+R"))
        self.cancel_action = QtGui.QAction("Cancel render", self)
        self.rerender_action = QtGui.QAction("Render again", self, shortcut=QtGui.QKeySequence("Ctrl+Shift+R"))
        for action, signal in (
            (self.render_action, self.render_requested),
            (self.cancel_action, self.cancel_requested),
            (self.rerender_action, self.rerender_requested),
        ):
            action.triggered.connect(lambda _=False, signal=signal: signal.emit(self.selected_clip_ids()))
            self.addAction(action)
        self.selectionModel().currentRowChanged.connect(self._on_selection_current_change)

    def selected_clip_ids(self) -> list[str]:
        """The selected clips in list order (the current one when nothing is selected)."""
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        if not rows and self.currentIndex().isValid():
            rows = [self.currentIndex().row()]
        return [self.model().index(row, 0).data(CLIP_ID_ROLE) for row in rows]

    def select_clip(self, clip_id: str) -> None:
        row = self.model().row_of(clip_id)
        if row >= 0 and row != self.currentIndex().row():
            self.selectRow(row)

    def _on_selection_current_change(self, current: QtCore.QModelIndex, _previous: QtCore.QModelIndex) -> None:
        if current.isValid():
            self.current_clip_changed.emit(current.data(CLIP_ID_ROLE))

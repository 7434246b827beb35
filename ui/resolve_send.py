"""The panel's Resolve dialogs: choosing the dub track of a timeline, and Send to Resolve with its report.

Both open without blocking the event loop (`open()`, not `exec()`), so the window keeps painting and a test can
drive them; the choice comes back through `accepted`.
"""

from PySide6 import QtCore, QtWidgets

from keydub.plugin.panel.resolve_link import SendOutcome
from keydub.plugin.resolve import STRATEGIES
from keydub.plugin.timeline.tracks import TrackRef


STRATEGY_TEXTS = {
    "track": "A new video track above the picture (the originals stay as they are)",
    "takes": "A take on each original clip, selected (switch back in the Take Selector)",
    "duplicate": "A copy of the timeline with the new track (this timeline stays as it is)",
}


class DubTrackDialog(QtWidgets.QDialog):
    """Which audio track of the timeline holds the dub, each shown by its position and name (`A2  DX es`), as
    editors number them: exports often give several tracks one name.

    Args:
        timeline_name (`str`): shown in the title.
        tracks (`list[TrackRef]`): the timeline's audio tracks, in order.
    """

    def __init__(self, timeline_name: str, tracks: list[TrackRef], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Dub track of {timeline_name}")
        self.tracks = QtWidgets.QListWidget(self)
        for ref in tracks:
            item = QtWidgets.QListWidgetItem(f"{ref.position}  {ref.track.name or '(no name)'}")
            # The name where it is the track's alone, else the position: what --dub-track takes.
            item.setData(
                QtCore.Qt.ItemDataRole.UserRole, ref.track.name if ref.label == ref.track.name else ref.position
            )
            self.tracks.addItem(item)
        self.tracks.setCurrentRow(0)
        self.tracks.setAccessibleName("Audio tracks")
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Open")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel("Which audio track holds the dubbed dialogue the lips should follow?"))
        layout.addWidget(self.tracks)
        layout.addWidget(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.tracks.itemDoubleClicked.connect(self.accept)

    @property
    def track(self) -> str:
        """The chosen track, as `--dub-track` names it."""
        item = self.tracks.currentItem()
        return item.data(QtCore.Qt.ItemDataRole.UserRole) if item is not None else ""


class SendToResolveDialog(QtWidgets.QDialog):
    """How the finished renders go back to the Resolve timeline: a track, takes, or a copy.

    Args:
        timeline_name (`str`): the Resolve timeline.
    """

    def __init__(self, timeline_name: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to Resolve")
        self.choices = {}
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(
            QtWidgets.QLabel(f"Put the finished renders back on the Resolve timeline {timeline_name!r} as:")
        )
        for strategy in STRATEGIES:
            button = QtWidgets.QRadioButton(STRATEGY_TEXTS[strategy], self)
            button.setObjectName(strategy)
            self.choices[strategy] = button
            layout.addWidget(button)
        self.choices["track"].setChecked(True)
        note = QtWidgets.QLabel(
            "Each render is checked against its clip first; nothing original changes, and a second send adds nothing."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Send")
        layout.addWidget(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

    @property
    def strategy(self) -> str:
        return next(name for name, button in self.choices.items() if button.isChecked())


def send_report_box(outcome: SendOutcome, parent: QtWidgets.QWidget | None = None) -> QtWidgets.QMessageBox:
    """The report of a send: what was applied, or where the renders wait for the menu entry."""
    box = QtWidgets.QMessageBox(parent)
    box.setWindowTitle("Sent to Resolve" if outcome.report is not None else "Saved for Resolve")
    box.setIcon(
        QtWidgets.QMessageBox.Icon.Information
        if outcome.report is not None and not outcome.report.warnings
        else QtWidgets.QMessageBox.Icon.Warning
    )
    # One line per fact: the box is too narrow for them by default.
    box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 560px; }")
    box.setText(outcome.headline())
    box.setInformativeText("\n".join(outcome.details()))
    return box

"""The Cast dock: characters with their dub tracks, reference faces clicked on the viewer, who is who in the shot.

The dock edits the folder's cast through a `CastEditor` (`keydub.plugin.panel.cast`). After every change to the
cast, every clip is matched again on the dock's worker thread (`SerialRunner`): the reference faces and the clips'
faces are embedded there, from the clips' cached analyses or by analysing them, so the UI thread only draws. A
change made while a matching runs is matched once that one ends. The window draws the names on the face boxes
from `editor.labels(clip_id)` when `labels_changed` is emitted.
"""

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from keydub.core.cancel import CancelToken
from keydub.core.errors import KeydubError
from keydub.plugin.cast import FaceAnalyser
from keydub.plugin.panel.cast import CastEditor, CastLabel, CastMatches
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import CastChanged, CastMatched, ClipChanged, CurrentChanged, OptionsChanged
from keydub.plugin.panel.face_analyses import FaceAnalyses
from keydub.ui.events import EventBridge
from keydub.ui.face_layers import CONFLICT_COLOUR, character_colour
from keydub.ui.serial_runner import SerialRunner, Task
from keydub.ui.viewer import Viewer


NO_DUB_TRACK = "(none)"
NOBODY = "nobody"
ERROR_STYLE = "color: #e05050"
NAME_COLUMN, DUB_COLUMN, REFERENCES_COLUMN = range(3)
FACE_COLUMN, WHO_COLUMN, DISTANCE_COLUMN, NOTE_COLUMN = range(4)


class ReferencePickTool:
    """The viewer's mouse while the dock picks a reference face: a click names the face under it."""

    def __init__(self, panel: "CastPanel") -> None:
        self.panel = panel

    def cursor(self) -> QtGui.QCursor:
        return QtGui.QCursor(QtCore.Qt.CursorShape.PointingHandCursor)

    def press(self, event) -> None:
        if event.button == QtCore.Qt.MouseButton.LeftButton:
            self.panel.pick_reference(event.x, event.y, event.frame)

    def move(self, event) -> None:
        pass

    def release(self, event) -> None:
        pass


class CastPanel(QtWidgets.QDockWidget):
    """The Cast dock over the window's viewer.

    Args:
        controller (`PanelController`): the panel's controller (the folder, its clips, the current one).
        viewer (`Viewer`): the window's viewer (`set_tool` while a reference face is picked).
        analyses (`FaceAnalyses`): the window's face analyses (which face a click is on).
        analyser_factory (`Callable[[str], FaceAnalyser] | None`): as `CastEditor` takes it.
        parent (`QWidget | None`): the window.

    Signals:
        labels_changed: who is who in the clips changed; the window redraws the face boxes.
        match_finished (`str`): a matching ended: `""`, or a one-line error.
    """

    labels_changed = QtCore.Signal()
    match_finished = QtCore.Signal(str)

    def __init__(
        self,
        controller: PanelController,
        viewer: Viewer,
        analyses: FaceAnalyses,
        analyser_factory: Callable[[str], FaceAnalyser] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__("Cast", parent)
        self.setObjectName("cast")
        self.controller = controller
        self.viewer = viewer
        self.analyses = analyses
        self.editor = CastEditor(controller, analyser_factory)
        self.runner = SerialRunner(self)
        self.events = EventBridge(self)
        self.pick_tool = ReferencePickTool(self)
        self._previous_tool = None
        self.is_matching = False
        self.is_rematch_pending = False  # a change came during a matching: match again when it ends
        self._is_shut_down = False
        # Stops a long matching (a timeline never analysed) between frames when the window closes.
        self._cancel = CancelToken("the cast matching was stopped: the window closed")
        self.last_matches: CastMatches | None = None
        self._build()
        self._connect()
        self._refresh_characters()
        self._refresh_shot()
        if self.editor.has_references:
            self.rematch()

    # Layout -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        body = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(body)

        self.characters = QtWidgets.QTableWidget(0, 3, body)
        self.characters.setHorizontalHeaderLabels(["Character", "Dub track", "Faces"])
        self.characters.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.characters.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.characters.verticalHeader().setVisible(False)
        header = self.characters.horizontalHeader()
        header.setSectionResizeMode(NAME_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(DUB_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(REFERENCES_COLUMN, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.characters.setAccessibleName("Characters")
        self.characters.setToolTip("Double-click a name to rename the character")
        layout.addWidget(self.characters, 1)

        buttons = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton("Add", toolTip="Add a character")
        self.remove_button = QtWidgets.QPushButton("Remove", toolTip="Remove the selected character")
        self.pick_button = QtWidgets.QPushButton("Pick face", checkable=True)
        self.pick_button.setToolTip("Click a face on the viewer, in any clip: it shows who the selected character is")
        self.clear_button = QtWidgets.QPushButton("Clear faces", toolTip="Forget the selected character's faces")
        for button in (self.add_button, self.remove_button, self.pick_button, self.clear_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        files = QtWidgets.QHBoxLayout()
        self.open_button = QtWidgets.QPushButton("Open cast.toml…", toolTip="Replace the cast with a cast.toml")
        self.save_button = QtWidgets.QPushButton("Save cast.toml…", toolTip="Write the cast as a cast.toml")
        files.addWidget(self.open_button)
        files.addWidget(self.save_button)
        layout.addLayout(files)

        self.shot_title = QtWidgets.QLabel("This shot")
        self.shot_title.setObjectName("shot_title")
        layout.addWidget(self.shot_title)
        self.shot = QtWidgets.QTableWidget(0, 4, body)
        self.shot.setHorizontalHeaderLabels(["Face", "Who", "Distance", "Note"])
        self.shot.verticalHeader().setVisible(False)
        self.shot.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.shot.horizontalHeader()
        for column in (FACE_COLUMN, WHO_COLUMN, DISTANCE_COLUMN):
            header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NOTE_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.shot.setAccessibleName("Faces of this shot")
        self.shot.setToolTip("Who each face of the current clip is; pick another character (or nobody) to correct")
        layout.addWidget(self.shot, 1)

        self.status = QtWidgets.QLabel("Add a character, then pick its face on the viewer.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.setWidget(body)

    def _connect(self) -> None:
        self.events.subscribe(
            self.editor, {CastChanged: self._on_editor_cast_changed, CastMatched: self._on_editor_cast_matched}
        )
        self.events.subscribe(
            self.controller,
            {
                CurrentChanged: lambda _event: self._refresh_shot(),
                ClipChanged: self._on_controller_clip_changed,
                OptionsChanged: lambda _event: self.rematch(),
            },
        )
        self.add_button.clicked.connect(self._on_add_click)
        self.remove_button.clicked.connect(self._on_remove_click)
        self.pick_button.toggled.connect(self._on_pick_toggle)
        self.clear_button.clicked.connect(self._on_clear_click)
        self.open_button.clicked.connect(self._on_open_click)
        self.save_button.clicked.connect(self._on_save_click)
        self.characters.itemChanged.connect(self._on_character_item_change)

    # Reading ------------------------------------------------------------------------------------------------
    def selected_name(self) -> str | None:
        row = self.characters.currentRow()
        names = self.editor.names
        return names[row] if 0 <= row < len(names) else None

    def select_character(self, name: str) -> None:
        self.characters.setCurrentCell(self.editor.names.index(self.editor.character(name).name), NAME_COLUMN)

    def show_status(self, text: str, is_error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if is_error else "")

    # Picking a reference ------------------------------------------------------------------------------------
    def pick_reference(self, x: float, y: float, frame: int) -> None:
        """Make the face under `(x, y)` (source pixels) on `frame` of the current clip the selected character's."""
        name, session = self.selected_name(), self.controller.current
        if name is None or session is None:
            self.show_status("select a character, then click its face", is_error=True)
            return
        analysis = self.analyses.get(session.clip_id)
        if analysis is None:
            self.show_status("the faces are still being found; click again when the boxes show", is_error=True)
            return
        track_id = analysis.track_under((x, y), frame)
        if track_id is None:
            self.show_status(f"no face under the click at {x:.0f},{y:.0f} on frame {frame}; click inside a box", True)
            return
        self.pick_button.setChecked(False)
        try:
            self.editor.add_reference(name, session.clip_id, (round(x, 1), round(y, 1)), frame)
        except KeydubError as error:
            self.show_status(str(error), is_error=True)
            return
        self.show_status(f"face {track_id} of {session.name} (frame {frame}) shows {name}; matching the clips…")

    # Matching -----------------------------------------------------------------------------------------------
    def rematch(self) -> None:
        """Match every clip against the cast on the worker thread (after the running matching, if one runs)."""
        if self.controller.opened is None:
            return
        if not self.editor.has_references:
            self.editor.forget_matches()
            return
        if self.is_matching:
            self.is_rematch_pending = True
            return
        try:
            work = self.editor.matching()
        except KeydubError as error:
            self.show_status(str(error), is_error=True)
            return
        self.is_matching = True
        self.is_rematch_pending = False
        self.show_status(f"Matching {len(self.controller.sessions)} clip(s)…")
        cancel = self._cancel
        self.runner.submit(Task(lambda: work.run(cancel=cancel), self._on_match_done, self._on_match_failed))

    def _on_match_done(self, matches: CastMatches) -> None:
        self.is_matching = False
        self.last_matches = matches
        if self.editor.apply(matches):
            clips, distance = len(matches.shots), matches.match_distance
            summary = f"{clips} clip(s) matched in {matches.seconds:.1f} s (match distance {distance:.2f})"
            if matches.problems:
                self.show_status(f"{summary}; {'; '.join(matches.problems)}", is_error=True)
            else:
                self.show_status(summary)
            self.match_finished.emit("")
        if self.is_rematch_pending:
            self.rematch()

    def _on_match_failed(self, message: str) -> None:
        self.is_matching = False
        self.show_status(message, is_error=True)
        self.match_finished.emit(message)
        if self.is_rematch_pending:
            self.rematch()

    # Tables -------------------------------------------------------------------------------------------------
    def _refresh_characters(self) -> None:
        selected = self.selected_name()
        choices = self.editor.dub_track_choices()
        self.characters.blockSignals(True)
        self.characters.setRowCount(len(self.editor.names))
        for row, character in enumerate(self.editor.cast.characters):
            swatch = QtGui.QPixmap(12, 12)
            swatch.fill(character_colour(row))
            name = QtWidgets.QTableWidgetItem(QtGui.QIcon(swatch), character.name)
            self.characters.setItem(row, NAME_COLUMN, name)
            dub = QtWidgets.QComboBox()
            dub.addItems([NO_DUB_TRACK, *choices])
            dub.setCurrentText(character.dub_track or NO_DUB_TRACK)
            dub.setAccessibleName(f"Dub track of {character.name}")
            dub.currentTextChanged.connect(lambda text, who=character.name: self._on_dub_track_choose(who, text))
            self.characters.setCellWidget(row, DUB_COLUMN, dub)
            faces = QtWidgets.QTableWidgetItem(str(len(character.references)))
            faces.setFlags(faces.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
            faces.setToolTip("\n".join(reference.describe() for reference in character.references) or "none yet")
            self.characters.setItem(row, REFERENCES_COLUMN, faces)
        self.characters.blockSignals(False)
        if selected in self.editor.names:
            self.select_character(selected)
        elif self.editor.names:
            self.characters.setCurrentCell(len(self.editor.names) - 1, NAME_COLUMN)

    def _refresh_shot(self) -> None:
        session = self.controller.current
        labels = self.editor.labels(session.clip_id if session else None)
        self.shot_title.setText(f"This shot: {session.name}" if session else "This shot")
        self.shot.setRowCount(len(labels))
        for row, label in enumerate(labels.values()):
            self.shot.setItem(row, FACE_COLUMN, QtWidgets.QTableWidgetItem(f"face {label.track_id}"))
            self.shot.setCellWidget(row, WHO_COLUMN, self._who_box(session.clip_id, label))
            distance = "" if label.distance is None else f"{label.distance:.2f}"
            self.shot.setItem(row, DISTANCE_COLUMN, QtWidgets.QTableWidgetItem(distance))
            note = QtWidgets.QTableWidgetItem(_note(label))
            if label.is_flagged:
                note.setForeground(CONFLICT_COLOUR)
            self.shot.setItem(row, NOTE_COLUMN, note)

    def _who_box(self, clip_id: str, label: CastLabel) -> QtWidgets.QComboBox:
        """The face's choice: the matching's answer, a character, or nobody; the current one shown."""
        box = QtWidgets.QComboBox()
        matched = label.character if not label.overridden else None
        box.addItem(f"auto: {matched or NOBODY}" if not label.overridden else "auto", None)
        for name in self.editor.names:
            box.addItem(name, name)
        box.addItem(NOBODY, NOBODY)
        if label.overridden:
            box.setCurrentIndex(box.findData(label.character or NOBODY))
        box.setAccessibleName(f"Who face {label.track_id} is")
        face = label.track_id
        box.activated.connect(lambda index: self._on_who_choose(clip_id, face, box.itemData(index)))
        return box

    # Slots --------------------------------------------------------------------------------------------------
    def _on_editor_cast_changed(self, _event: CastChanged) -> None:
        self._refresh_characters()
        self._refresh_shot()
        self.rematch()

    def _on_editor_cast_matched(self, _event: CastMatched) -> None:
        self._refresh_shot()
        self.labels_changed.emit()

    def _on_controller_clip_changed(self, event: ClipChanged) -> None:
        """A clip's range changed since it was matched (a single video's in and out): other faces may be in it."""
        matches = self.editor.matches
        shot = matches.shots.get(event.clip_id) if matches is not None else None
        session = self.controller.session(event.clip_id)
        if shot is not None and (shot.clip.start, shot.clip.end) != (session.start_frame, session.end_frame):
            self.rematch()

    def _on_add_click(self) -> None:
        name = self.editor.add_character()
        self.select_character(name)
        self.characters.editItem(self.characters.item(self.editor.names.index(name), NAME_COLUMN))

    def _on_remove_click(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.editor.remove_character(name)

    def _on_clear_click(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.editor.clear_references(name)

    def _on_pick_toggle(self, is_on: bool) -> None:
        if is_on and self.selected_name() is None:
            self.pick_button.setChecked(False)
            self.show_status("add or select a character first", is_error=True)
            return
        if is_on:
            # The tool the viewer had (an occluder tool, or none for the face picker) comes back after the pick.
            self._previous_tool = self.viewer.view.tool
            self.viewer.set_tool(self.pick_tool)
            self.show_status(f"click {self.selected_name()}'s face on the viewer (any clip, any frame)")
        elif self.viewer.view.tool is self.pick_tool:
            self.viewer.set_tool(self._previous_tool)

    def _on_character_item_change(self, item: QtWidgets.QTableWidgetItem) -> None:
        if item.column() != NAME_COLUMN:
            return
        old = self.editor.names[item.row()]
        try:
            self.editor.rename_character(old, item.text())
        except KeydubError as error:
            self.show_status(str(error), is_error=True)
            self._refresh_characters()

    def _on_dub_track_choose(self, name: str, text: str) -> None:
        self.editor.set_dub_track(name, None if text == NO_DUB_TRACK else text)

    def _on_who_choose(self, clip_id: str, track_id: int, choice: str | None) -> None:
        if choice is None:
            self.editor.clear_override(clip_id, track_id)
        else:
            self.editor.set_override(clip_id, track_id, None if choice == NOBODY else choice)

    def _on_open_click(self) -> None:
        folder = str(self.controller.out_dir or "")
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a cast", folder, "Cast (*.toml)")
        if path:
            try:
                self.editor.open_cast_file(path)
            except KeydubError as error:
                self.show_status(str(error), is_error=True)

    def _on_save_click(self) -> None:
        folder = str(self.controller.out_dir / "cast.toml") if self.controller.out_dir else "cast.toml"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the cast", folder, "Cast (*.toml)")
        if path:
            try:
                self.show_status(f"wrote {self.editor.save_cast_file(path)}")
            except KeydubError as error:
                self.show_status(str(error), is_error=True)

    def shutdown(self) -> None:
        """Stop the running matching and stop following the controller (the window is closing); once."""
        if self._is_shut_down:
            return
        self._is_shut_down = True
        self._cancel.cancel()
        self.runner.stop()
        self.events.unsubscribe()
        self.editor.close()


def _note(label: CastLabel) -> str:
    if label.overridden:
        return "set in this shot"
    if label.conflict:
        return f"{label.nearest} is another face here"
    if label.low_confidence:
        return "unsure: close to the match distance"
    return ""

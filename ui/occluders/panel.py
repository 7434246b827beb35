"""The occluder dock: click, box, brush and eraser tools on the viewer, the occluder list, tracking, undo and redo.

The dock edits the current clip's occluders through an `OccluderEditor` (`keydub.plugin.panel.occluders`). Every
call that runs SAM2 (a click's answer, a stroke, an undo, the tracking) goes to one worker thread; the UI thread
only draws. After each change the prompts are stored with the clip (`controller.set_occluders`), brush masks as
PNGs at `controller.brush_mask_path`, so the clip's render is the command line's with the same prompts. Without
SAM2 the dock is one line naming the install command (`SAM2_MISSING`); the rest of the panel does not need it.

For the screenshot script, `show_mid_paint(panel, points)` leaves a brush stroke under way on the viewer.
"""

import threading
from collections.abc import Callable, Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from keydub.core.errors import OcclusionBackendError
from keydub.core.frame_range import FrameRange
from keydub.core.media import probe
from keydub.core.occlusion import OcclusionMasker
from keydub.core.occlusion.segmenter import SAM2_INSTALL_COMMAND, require_sam2
from keydub.core.occlusion.session import FramePrompt
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import (
    ClipChanged,
    CurrentChanged,
    MasksChanged,
    ObjectsChanged,
    OptionsChanged,
    TrackingProgressed,
)
from keydub.plugin.panel.occluders import Direction, OccluderEditor, PromptEdit, TrackingCancelledError
from keydub.ui.events import EventBridge
from keydub.ui.occluders.tools import DRAFT_LAYER, BrushTool, ClickTool, PromptCommand
from keydub.ui.palette import arrow_icon
from keydub.ui.serial_runner import SerialRunner, Task
from keydub.ui.viewer import Viewer


OVERLAY_LAYER = "occluders"
PROMPT_MARKERS = "prompts"
PROMPT_MARKER_COLOUR = QtGui.QColor(255, 200, 0)
DEFAULT_BRUSH_RADIUS = 12
LOADING = "Loading the clip's occluders…"
TRACKING_IDLE = "Tracking: idle"
SAM2_MISSING = f"Occluders need SAM2: {SAM2_INSTALL_COMMAND}"
# [ and ] scale the brush by this much, as in painting tools.
_BRUSH_STEP = 1.25
_TOOL_NAMES = ("+ Click", "- Click", "Box", "Brush", "Eraser")
_TOOL_TIPS = (
    "Click on the occluder (right click or Alt: background). Drag to draw a box.",
    "Click on what is not the occluder (right click or Alt: occluder). Drag to draw a box.",
    "Drag a box around the occluder.",
    "Paint the occluder's mask on this frame.",
    "Erase from the occluder's mask on this frame.",
)
MaskerFactory = Callable[[], OcclusionMasker]


class OccluderPanel(QtWidgets.QDockWidget):
    """The occluder dock over the window's viewer.

    Args:
        controller (`PanelController`): the panel's controller (current clip, `set_occluders`, `brush_mask_path`).
        viewer (`Viewer`): the window's viewer (`set_tool`, `set_overlay`, `frame_changed`, `set_markers`).
        masker (`OcclusionMasker | Callable[[], OcclusionMasker] | None`): the SAM2 masker, or a function that
            loads it (called once, on the worker thread); defaults to `OcclusionMasker.from_pretrained`.
        parent (`QWidget | None`): the window.

    Signals:
        edit_finished (`str`): a prompt change (an edit, undo or redo) was answered; `""` or a one-line error.
        tracking_finished (`str`): tracking ended: `"done"`, `"cancelled"` or a one-line error.
        editor_opened (`str`): the current clip's editor is ready (the clip id), or failed (`""`).
    """

    edit_finished = QtCore.Signal(str)
    tracking_finished = QtCore.Signal(str)
    editor_opened = QtCore.Signal(str)

    def __init__(
        self,
        controller: PanelController,
        viewer: Viewer,
        masker: OcclusionMasker | MaskerFactory | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__("Occluders", parent)
        self.setObjectName("occluders")
        self.controller = controller
        self.viewer = viewer
        self._masker_factory = masker if callable(masker) and not isinstance(masker, OcclusionMasker) else None
        self._masker = masker if isinstance(masker, OcclusionMasker) else None
        self.editor: OccluderEditor | None = None
        self.clip_id: str | None = None
        self._opened: tuple | None = None
        self._open_request = 0
        self.undo_stack = QtGui.QUndoStack(self)
        self.runner = SerialRunner(self)
        # The controller's events, and the editor's, which it emits from the model thread while it tracks.
        self.events = EventBridge(self)
        self._cancel_tracking = threading.Event()
        self._is_tracking = False
        self._direction = Direction.BOTH
        self.is_sam2_missing = False
        # In the order of _TOOL_NAMES.
        self._tools = (
            ClickTool(self, positive=True),
            ClickTool(self, positive=False),
            ClickTool(self, boxes_only=True),
            BrushTool(self),
            BrushTool(self, erase=True),
        )
        self._build()
        self._connect()
        self._set_enabled(False)
        if self._masker is None:  # SAM2 is loaded at the first clip; whether it is installed is known now
            self.runner.submit(Task(_sam2_missing_line, self._on_sam2_checked))
        if controller.current is not None:
            self.open_clip(controller.current.clip_id)

    # Layout -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        body = QtWidgets.QWidget(self)
        # Everything but the status line, which is all the dock shows without SAM2.
        self.controls = QtWidgets.QWidget(body)
        layout = QtWidgets.QVBoxLayout(self.controls)
        layout.setContentsMargins(0, 0, 0, 0)

        tools = QtWidgets.QHBoxLayout()
        self.tool_buttons = QtWidgets.QButtonGroup(self)
        self.tool_buttons.setExclusive(False)
        for index, (name, tip) in enumerate(zip(_TOOL_NAMES, _TOOL_TIPS, strict=True)):
            button = QtWidgets.QToolButton(text=name, checkable=True, toolTip=tip)
            self.tool_buttons.addButton(button, index)
            tools.addWidget(button)
        tools.addWidget(QtWidgets.QLabel("Size"))
        self.brush_size = QtWidgets.QSpinBox(minimum=1, maximum=500, value=DEFAULT_BRUSH_RADIUS, suffix=" px")
        self.brush_size.setToolTip("Brush and eraser radius in source pixels ([ smaller, ] larger)")
        tools.addWidget(self.brush_size)
        for key, factor in (("[", 1 / _BRUSH_STEP), ("]", _BRUSH_STEP)):
            action = QtGui.QAction(self, shortcut=QtGui.QKeySequence(key))
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda checked=False, factor=factor: self._scale_brush(factor))
            self.addAction(action)
        tools.addStretch(1)
        layout.addLayout(tools)

        self.object_list = QtWidgets.QListWidget()
        self.object_list.setToolTip("Tick to show an occluder's mask; every occluder is rendered, shown or not")
        self.object_list.setMaximumHeight(160)
        layout.addWidget(self.object_list)
        objects = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton("Add occluder")
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QtGui.QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+Z"))
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        undo_button, redo_button = QtWidgets.QToolButton(), QtWidgets.QToolButton()
        self._draw_undo_arrows()
        for button, action, name in ((undo_button, self.undo_action, "Undo"), (redo_button, self.redo_action, "Redo")):
            # Icons only: the actions' texts name the edit ("Undo Brush on hand, frame 120") and change width; the
            # tooltip carries that text and the shortcut.
            button.setDefaultAction(action)
            button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly)
            button.setAccessibleName(name)
        self._on_undo_stack_changed()
        for widget in (self.add_button, self.delete_button, undo_button, redo_button):
            objects.addWidget(widget)
        layout.addLayout(objects)

        tracking = QtWidgets.QHBoxLayout()
        self.backward_button = QtWidgets.QPushButton("◀ Track")
        self.both_button = QtWidgets.QPushButton("◀ Track ▶")
        self.forward_button = QtWidgets.QPushButton("Track ▶")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        for button, tip in (
            (self.backward_button, "backward to the start of the range"),
            (self.both_button, "over the whole range"),
            (self.forward_button, "forward to the end of the range"),
        ):
            button.setToolTip(f"Track the occluders from the first prompted frame {tip}")
            tracking.addWidget(button)
        layout.addLayout(tracking)
        self.retrack_box = QtWidgets.QCheckBox("Track again after a correction", checked=True)
        layout.addWidget(self.retrack_box)
        progress = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar(textVisible=True)
        self.progress.setAccessibleName("Occluder tracking progress")
        self.progress.setFormat(TRACKING_IDLE)
        self.progress.setValue(0)  # a bar with no value shows no text
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.cancel_button)
        layout.addLayout(progress)
        self.status = QtWidgets.QLabel("", wordWrap=True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        outer = QtWidgets.QVBoxLayout(body)
        outer.addWidget(self.controls)
        outer.addWidget(self.status)
        outer.addStretch(1)
        self.setWidget(body)

    def _draw_undo_arrows(self) -> None:
        """Undo and redo arrows in the current palette's colours (drawn again when it changes)."""
        self.undo_action.setIcon(arrow_icon(True, self.palette()))
        self.redo_action.setIcon(arrow_icon(False, self.palette()))

    def changeEvent(self, event: QtCore.QEvent) -> None:
        if event.type() == QtCore.QEvent.Type.PaletteChange:
            self._draw_undo_arrows()
        super().changeEvent(event)

    def _connect(self) -> None:
        self.tool_buttons.idClicked.connect(self._on_tool_clicked)
        for changed in (
            self.undo_stack.undoTextChanged,
            self.undo_stack.redoTextChanged,
            self.undo_stack.canUndoChanged,
            self.undo_stack.canRedoChanged,
        ):
            changed.connect(self._on_undo_stack_changed)
        self.add_button.clicked.connect(self._on_add_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.object_list.itemChanged.connect(self._on_object_item_changed)
        self.object_list.currentRowChanged.connect(self._on_object_selection_changed)
        self.backward_button.clicked.connect(lambda: self.track(Direction.BACKWARD))
        self.both_button.clicked.connect(lambda: self.track(Direction.BOTH))
        self.forward_button.clicked.connect(lambda: self.track(Direction.FORWARD))
        self.cancel_button.clicked.connect(self.cancel_tracking)
        self.viewer.frame_changed.connect(self._on_viewer_frame_changed)
        self.events.subscribe(
            self.controller,
            {
                CurrentChanged: self._on_controller_current_changed,
                ClipChanged: self._on_controller_clip_changed,
                OptionsChanged: self._on_controller_options_changed,
            },
        )

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (
            *self.tool_buttons.buttons(),
            self.add_button,
            self.delete_button,
            self.backward_button,
            self.both_button,
            self.forward_button,
        ):
            widget.setEnabled(enabled)
        self.cancel_button.setEnabled(self._is_tracking)

    # Opening a clip ----------------------------------------------------------------------------------------
    def open_clip(self, clip_id: str) -> None:
        """Open the editor of `clip_id` over its render range (handles included), with its saved prompts.

        The media probe, the model and the replay of the prompts run on the model thread; the dock is disabled and
        says it is loading meanwhile. Only the latest request's answer is applied: one for a clip (or a range) the
        editor has left since is dropped, and one still queued behind it is not run at all. Without SAM2 nothing
        is opened.
        """
        if self.is_sam2_missing:
            return
        session = self.controller.session(clip_id)
        handles = self.controller.handles
        # Reopening the same clip (a new range): its editor holds the prompts of edits still being answered.
        previous = self.editor if self.clip_id == clip_id else None
        self._opened = self._clip_key(clip_id)
        self._open_request += 1
        request = self._open_request
        self.cancel_tracking()  # the old clip's tracking would keep the model thread from this one
        self.set_tool(None)
        self.undo_stack.clear()
        if self.editor is not None:
            self.events.unsubscribe(self.editor)  # what the old editor still reports is not this clip's
        self.editor, self.clip_id = None, clip_id
        self._set_enabled(False)
        self._set_markers([])
        self.viewer.refresh_overlays()
        self.status.setText(LOADING)
        self.progress.setFormat(TRACKING_IDLE)  # the last tracking was the old clip's
        self.progress.setValue(0)

        def run() -> tuple[OccluderEditor, int] | None:
            if request != self._open_request:
                return None  # another clip or range was asked for while this waited its turn
            masker = self._load_masker()
            frame_count = probe(session.video).frame_count
            frame_range = FrameRange(
                max(session.start_frame - handles, 0), min(session.end_frame + handles, frame_count)
            )
            editor = OccluderEditor(
                masker,
                masker.init_session(session.video, frame_range),
                brush_path=lambda object_id, frame: self.controller.brush_mask_path(clip_id, object_id, frame),
            )
            prompts = previous.request_occluders() if previous is not None else session.occluders
            # The range may have shrunk since the prompts were made; those outside it cannot be tracked.
            inside = [prompt for prompt in prompts if frame_range.start <= prompt["frame"] < frame_range.end]
            editor.load(inside)
            return editor, len(prompts) - len(inside)

        self.runner.submit(
            Task(
                run,
                lambda answer: self._on_editor_ready(request, clip_id, answer),
                lambda message: self._on_editor_failed(request, message),
            )
        )

    def _clip_key(self, clip_id: str) -> tuple:
        """What decides the editor's frame range: the clip, its media and range, the handles."""
        session = self.controller.session(clip_id)
        return clip_id, session.video, session.start_frame, session.end_frame, self.controller.handles

    def _load_masker(self) -> OcclusionMasker:
        if self._masker is None:
            self._masker = self._masker_factory() if self._masker_factory else OcclusionMasker.from_pretrained()
        return self._masker

    def _on_editor_ready(self, request: int, clip_id: str, answer: tuple[OccluderEditor, int] | None) -> None:
        if request != self._open_request or answer is None:
            return  # another clip or range was opened meanwhile
        editor, left_out = answer
        self.editor, self.clip_id = editor, clip_id
        self.events.subscribe(
            editor,
            {
                MasksChanged: self._on_editor_masks_changed,
                ObjectsChanged: self._on_editor_objects_changed,
                TrackingProgressed: self._on_editor_tracking_progressed,
            },
        )
        if not editor.objects:
            editor.add_object()
        self._on_editor_objects_changed(ObjectsChanged())
        self.viewer.set_overlay(OVERLAY_LAYER, self._overlay)
        self._update_markers()
        self.status.setText(f"{left_out} prompt(s) outside the clip's range were left out." if left_out else "")
        self._set_enabled(True)
        self.editor_opened.emit(clip_id)

    def _on_sam2_checked(self, missing: str) -> None:
        if not missing:
            return
        self.is_sam2_missing = True
        self.controls.hide()
        self.status.setWordWrap(False)  # the command whole, on one line: the dock widens to it
        self.status.setText(missing)
        self.editor_opened.emit("")

    def _on_editor_failed(self, request: int, message: str) -> None:
        if request == self._open_request and not self.is_sam2_missing:
            self.status.setText(f"Occluders unavailable: {message}")
            self.editor_opened.emit("")

    def _overlay(self, frame: int) -> np.ndarray | None:
        return self.editor.overlay(frame, self.selected_object_id) if self.editor is not None else None

    # Objects ------------------------------------------------------------------------------------------------
    @property
    def selected_object_id(self) -> int | None:
        item = self.object_list.currentItem()
        return item.data(QtCore.Qt.ItemDataRole.UserRole) if item is not None else None

    def select_object(self, object_id: int) -> None:
        for row in range(self.object_list.count()):
            if self.object_list.item(row).data(QtCore.Qt.ItemDataRole.UserRole) == object_id:
                self.object_list.setCurrentRow(row)

    def _on_add_clicked(self) -> None:
        added = self.editor.add_object()
        self.select_object(added.object_id)

    def _on_delete_clicked(self) -> None:
        object_id = self.selected_object_id
        if object_id is None:
            return
        self.cancel_tracking()
        # Deleting drops the occluder's prompts, which earlier undo steps refer to.
        self.undo_stack.clear()
        editor = self.editor
        self._run_edit(lambda: editor.delete_object(object_id))

    def _on_object_item_changed(self, item: QtWidgets.QListWidgetItem) -> None:
        # Read the item first: the editor's change rebuilds the list.
        object_id, name = item.data(QtCore.Qt.ItemDataRole.UserRole), item.text()
        is_checked = item.checkState() == QtCore.Qt.CheckState.Checked
        occluder = self.editor.object(object_id)
        if name != occluder.name:
            self.editor.rename_object(object_id, name)
        if is_checked != occluder.visible:
            self.editor.set_visible(object_id, is_checked)

    def _on_object_selection_changed(self, row: int) -> None:
        self.viewer.refresh_overlays()

    def _on_editor_objects_changed(self, _event: ObjectsChanged) -> None:
        selected = self.selected_object_id
        self.object_list.blockSignals(True)
        self.object_list.clear()
        for occluder in self.editor.objects:
            swatch = QtGui.QPixmap(14, 14)
            swatch.fill(QtGui.QColor(*occluder.colour))
            item = QtWidgets.QListWidgetItem(QtGui.QIcon(swatch), occluder.name)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, occluder.object_id)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsEditable)
            item.setCheckState(QtCore.Qt.CheckState.Checked if occluder.visible else QtCore.Qt.CheckState.Unchecked)
            self.object_list.addItem(item)
        self.object_list.blockSignals(False)
        ids = [occluder.object_id for occluder in self.editor.objects]
        if ids:
            self.select_object(selected if selected in ids else ids[-1])
        self.viewer.refresh_overlays()

    def _scale_brush(self, factor: float) -> None:
        size = self.brush_size.value()
        scaled = round(size * factor)
        # At least one pixel per press, so small brushes change too.
        self.brush_size.setValue(max(scaled, size + 1) if factor > 1 else min(scaled, size - 1))

    # Tools ---------------------------------------------------------------------------------------------------
    def set_tool(self, index: int | None) -> None:
        """Activate tool `index` of `+ Click`, `- Click`, `Box`, `Brush`, `Eraser` on the viewer (`None`: none)."""
        for button in self.tool_buttons.buttons():
            button.setChecked(self.tool_buttons.id(button) == index)
        self.viewer.set_tool(self._tools[index] if index is not None else None)

    @property
    def active_tool(self) -> ClickTool | BrushTool | None:
        checked = self.tool_buttons.checkedId()
        return self._tools[checked] if checked >= 0 else None

    def _on_tool_clicked(self, index: int) -> None:
        self.set_tool(index if self.tool_buttons.button(index).isChecked() else None)

    # What the tools report (ToolTarget) -----------------------------------------------------------------------
    def click(self, frame: int, x: float, y: float, positive: bool) -> None:
        object_id = self._object_for_prompt()
        editor = self.editor
        self._run_edit(lambda: editor.click(frame, object_id, x, y, positive))

    def box(self, frame: int, box: tuple[float, float, float, float]) -> None:
        object_id = self._object_for_prompt()
        editor = self.editor
        height, width = editor.session.frame_size
        x0, y0, x1, y1 = box
        clipped = (min(max(x0, 0), width), min(max(y0, 0), height), min(max(x1, 0), width), min(max(y1, 0), height))
        self._run_edit(lambda: editor.box(frame, object_id, clipped))

    def paint(self, frame: int, points: list[tuple[float, float]], erase: bool) -> None:
        object_id = self._object_for_prompt()
        editor = self.editor
        radius = self.brush_size.value()
        self._run_edit(lambda: editor.paint(frame, object_id, points, radius, erase))

    def draft(self, image: np.ndarray | None) -> None:
        self.viewer.set_overlay(DRAFT_LAYER, image)

    def draft_style(self) -> tuple[tuple[int, int, int], tuple[int, int], float]:
        colour = self.editor.object(self._object_for_prompt()).colour
        return colour, self.editor.session.frame_size, float(self.brush_size.value())

    def _object_for_prompt(self) -> int:
        if self.selected_object_id is None:
            self.select_object(self.editor.add_object().object_id)
        return self.selected_object_id

    # Edits, undo and redo ------------------------------------------------------------------------------------
    def _run_edit(self, edit: Callable[[], PromptEdit | None]) -> None:
        """Run an edit on the model thread; push it on the undo stack, store the prompts, track again."""
        was_tracking = self._is_tracking
        self.cancel_tracking()
        editor, clip_id = self.editor, self.clip_id

        def run() -> tuple[PromptEdit | None, tuple[dict, ...]]:
            return edit(), editor.request_occluders()

        def done(answer: tuple[PromptEdit | None, tuple[dict, ...]]) -> None:
            change, occluders = answer
            if isinstance(change, PromptEdit) and editor is self.editor:
                self.undo_stack.push(PromptCommand(change, self._apply))
            self._after_edit(editor, clip_id, occluders, was_tracking)

        self.runner.submit(Task(run, done, self._on_edit_failed))

    def _apply(self, object_id: int, frame: int, prompt: FramePrompt | None) -> None:
        """Undo/redo: put a prompt back on the model thread."""
        was_tracking = self._is_tracking
        self.cancel_tracking()
        editor, clip_id = self.editor, self.clip_id

        def run() -> tuple[dict, ...]:
            editor.apply(object_id, frame, prompt)
            return editor.request_occluders()

        self.runner.submit(
            Task(
                run,
                lambda occluders: self._after_edit(editor, clip_id, occluders, was_tracking),
                self._on_edit_failed,
            )
        )

    def _after_edit(
        self, editor: OccluderEditor, clip_id: str | None, occluders: tuple[dict, ...], was_tracking: bool
    ) -> None:
        # Stored with the clip the edit was made on, even when the editor has moved to another clip since.
        if clip_id is not None:
            self.controller.set_occluders(clip_id, occluders)
        if editor is not self.editor:
            return
        self._update_markers()
        self.status.setText("")
        if self.editor.is_tracking_stale and (was_tracking or self.retrack_box.isChecked()):
            self.track(self._direction)
        self.edit_finished.emit("")

    def _on_edit_failed(self, message: str) -> None:
        self.status.setText(message)
        self.edit_finished.emit(message)

    def _update_markers(self) -> None:
        if self.editor is not None:
            self._set_markers(list(self.editor.prompted_frames()))

    def _set_markers(self, frames: list[int]) -> None:
        self.viewer.set_markers(PROMPT_MARKERS, frames, PROMPT_MARKER_COLOUR)

    # Tracking ------------------------------------------------------------------------------------------------
    @property
    def is_tracking(self) -> bool:
        return self._is_tracking

    def track(self, direction: Direction | str = Direction.BOTH) -> None:
        """Track the occluders on the model thread (the UI stays live); `cancel_tracking` stops it."""
        if self.editor is None or not self.editor.session.prompts:
            self.status.setText("Click on an occluder first, then track it.")
            return
        self._direction = Direction(direction)
        self._cancel_tracking = cancel = threading.Event()
        self._is_tracking = True
        self.cancel_button.setEnabled(True)
        self.progress.setFormat("Tracking %v / %m frames")
        self.progress.setValue(0)
        self.status.setText(f"Tracking {self._direction.value}…")
        editor, direction = self.editor, self._direction

        def run() -> tuple[str, str]:
            try:
                return "done", f"Tracked {editor.propagate(direction, should_stop=cancel.is_set)} frames."
            except TrackingCancelledError as error:
                return "cancelled", str(error)

        self.runner.submit(
            Task(
                run,
                lambda answer: self._on_tracking_ended(cancel, *answer),
                lambda message: self._on_tracking_ended(cancel, message, message),
            )
        )

    def cancel_tracking(self) -> None:
        """Stop the tracking after the frame being tracked; the frames tracked so far are kept."""
        self._cancel_tracking.set()

    def _on_tracking_ended(self, cancel: threading.Event, outcome: str, text: str) -> None:
        if cancel is not self._cancel_tracking:
            return  # a newer tracking run has started
        self._is_tracking = False
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("Last tracking: %v / %m frames")
        if self.editor is not None:  # else a clip is loading and its status stays
            self.status.setText(text)
        self.tracking_finished.emit(outcome)

    def _on_undo_stack_changed(self, *_: object) -> None:
        """Keep the icon-only buttons' tooltips naming the edit and the shortcut."""
        for action, shortcut, nothing in (
            (self.undo_action, "Ctrl+Z", "Nothing to undo"),
            (self.redo_action, "Ctrl+Shift+Z", "Nothing to redo"),
        ):
            action.setToolTip(f"{action.text() if action.isEnabled() else nothing} ({shortcut})")

    def _on_editor_tracking_progressed(self, event: TrackingProgressed) -> None:
        self.progress.setMaximum(event.total)
        self.progress.setValue(event.done)

    def _on_editor_masks_changed(self, event: MasksChanged) -> None:
        if self.viewer.frame_index in event.frames:
            self.viewer.refresh_overlays()

    def _on_viewer_frame_changed(self, frame: int) -> None:
        self.viewer.set_overlay(DRAFT_LAYER, None)

    def _on_controller_current_changed(self, event: CurrentChanged) -> None:
        if event.clip_id is not None and event.clip_id != self.clip_id:
            self.open_clip(event.clip_id)

    def _on_controller_clip_changed(self, event: ClipChanged) -> None:
        if event.clip_id == self.clip_id:
            self._reopen_if_moved()

    def _on_controller_options_changed(self, _event: OptionsChanged) -> None:
        self._reopen_if_moved()

    def _reopen_if_moved(self) -> None:
        # The editor's own prompt saves change the clip too; only a new range or new handles need a new session.
        if self.clip_id is not None and self._clip_key(self.clip_id) != self._opened:
            self.open_clip(self.clip_id)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.cancel_tracking()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop tracking and end the model thread (the window calls this when it closes)."""
        self.cancel_tracking()
        self.runner.stop()
        self.events.unsubscribe()


def _sam2_missing_line() -> str:
    """`SAM2_MISSING` when SAM2 cannot be imported, else `""` (run on the model thread: the import is slow)."""
    try:
        require_sam2()
    except OcclusionBackendError:
        return SAM2_MISSING
    return ""


def show_mid_paint(panel: OccluderPanel, points: Sequence[tuple[float, float]], erase: bool = False) -> None:
    """Leave a brush stroke through `points` under way on the viewer (pressed, moved, not released).

    For the screenshot script: call it once the panel's editor is open (`editor_opened`) and the viewer shows a
    frame; the grabbed window then shows the live stroke over the occluder masks.
    """
    from keydub.ui.viewer.frame_view import ViewerMouseEvent

    panel.set_tool(_TOOL_NAMES.index("Eraser" if erase else "Brush"))
    tool = panel.active_tool
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    modifiers = QtCore.Qt.KeyboardModifier.NoModifier
    frame = panel.viewer.frame_index
    x, y = points[0]
    tool.press(ViewerMouseEvent(x, y, frame, left, left, modifiers))
    for x, y in points[1:]:
        tool.move(ViewerMouseEvent(x, y, frame, none, left, modifiers))

"""The occluder dock's mouse tools on the viewer, and the undo command of one prompt edit.

Tools receive `ViewerMouseEvent`s in source pixels (see `Viewer.set_tool`) and hand finished gestures to their
target (the dock), which runs them on the model thread:

- `ClickTool`: a click adds a point (left: on the occluder, + ; right or Alt: background, -); a drag draws a box;
- `BrushTool`: a stroke paints (or, as the eraser, erases) the selected occluder's mask with a round brush.

While a gesture is under way the tool shows it in the viewer's `"occluders.draft"` layer.
"""

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np
from PySide6 import QtCore, QtGui

from keydub.core.occlusion.session import FramePrompt
from keydub.plugin.panel.occluders import PromptEdit


# A press and release closer than this (in screen-independent source pixels) is a click, not a box.
_BOX_MIN_SIDE = 4.0
DRAFT_LAYER = "occluders.draft"
_DRAFT_ALPHA = 150
_ERASER_COLOUR = (255, 255, 255)


class ToolTarget(Protocol):
    """What the tools report to (the occluder dock)."""

    def click(self, frame: int, x: float, y: float, positive: bool) -> None: ...

    def box(self, frame: int, box: tuple[float, float, float, float]) -> None: ...

    def paint(self, frame: int, points: list[tuple[float, float]], erase: bool) -> None: ...

    def draft(self, image: np.ndarray | None) -> None: ...

    def draft_style(self) -> tuple[tuple[int, int, int], tuple[int, int], float]:
        """The selected occluder's colour, the frame's `(height, width)` and the brush radius."""
        ...


def _is_negative(event) -> bool:
    return event.button == QtCore.Qt.MouseButton.RightButton or bool(
        event.modifiers & QtCore.Qt.KeyboardModifier.AltModifier
    )


class ClickTool:
    """Clicks (+ or -) and box drags. `positive` is what a plain left click means (the + or - tool); with
    `boxes_only` (the box tool) a click without a drag does nothing."""

    def __init__(self, target: ToolTarget, positive: bool = True, boxes_only: bool = False) -> None:
        self.target = target
        self.positive = positive
        self.boxes_only = boxes_only
        self._start: tuple[float, float, int, bool] | None = None

    def cursor(self) -> QtGui.QCursor:
        return QtGui.QCursor(QtCore.Qt.CursorShape.CrossCursor)

    def press(self, event) -> None:
        self._start = (event.x, event.y, event.frame, self.positive != _is_negative(event))

    def move(self, event) -> None:
        if self._start is None:
            return
        x0, y0, _, _ = self._start
        if max(abs(event.x - x0), abs(event.y - y0)) < _BOX_MIN_SIDE:
            self.target.draft(None)
            return
        colour, size, _ = self.target.draft_style()
        draft = np.zeros((*size, 4), dtype=np.uint8)
        corners = (round(x0), round(y0)), (round(event.x), round(event.y))
        cv2.rectangle(draft, *corners, (*colour, 255), thickness=2)
        self.target.draft(draft)

    def release(self, event) -> None:
        if self._start is None:
            return
        x0, y0, frame, positive = self._start
        self._start = None
        self.target.draft(None)
        if max(abs(event.x - x0), abs(event.y - y0)) < _BOX_MIN_SIDE:
            if not self.boxes_only:
                self.target.click(frame, x0, y0, positive)
        else:
            self.target.box(frame, (x0, y0, event.x, event.y))


class BrushTool:
    """A round brush (or eraser) stroke; the stroke is drawn live and sent on release."""

    def __init__(self, target: ToolTarget, erase: bool = False) -> None:
        self.target = target
        self.erase = erase
        self._points: list[tuple[float, float]] = []
        self._frame = -1
        self._draft: np.ndarray | None = None

    @property
    def is_painting(self) -> bool:
        return bool(self._points)

    def cursor(self) -> QtGui.QCursor:
        return QtGui.QCursor(QtCore.Qt.CursorShape.PointingHandCursor)

    def press(self, event) -> None:
        if event.button != QtCore.Qt.MouseButton.LeftButton:
            return
        colour, size, _ = self.target.draft_style()
        self._frame = event.frame
        self._points = []
        self._draft = np.zeros((*size, 4), dtype=np.uint8)
        self.move(event)

    def move(self, event) -> None:
        if self._draft is None:
            return
        colour, _, radius = self.target.draft_style()
        point = (event.x, event.y)
        previous = self._points[-1] if self._points else point
        self._points.append(point)
        # Only the new segment is drawn: a long stroke stays as cheap per move as a short one.
        paint = (*(_ERASER_COLOUR if self.erase else colour), _DRAFT_ALPHA)
        size = max(round(radius), 1)
        cv2.line(self._draft, _pixel(previous), _pixel(point), paint, thickness=2 * size + 1)
        cv2.circle(self._draft, _pixel(point), size, paint, thickness=-1)
        self.target.draft(self._draft)

    def release(self, event) -> None:
        if self._draft is None:
            return
        points, self._points, self._draft = self._points, [], None
        self.target.draft(None)
        self.target.paint(self._frame, points, self.erase)


class PromptCommand(QtGui.QUndoCommand):
    """Undo and redo of one prompt edit. The edit is already applied when the command is pushed.

    Args:
        edit (`PromptEdit`): the change (the prompt before and after).
        apply (`Callable[[int, int, FramePrompt | None], None]`): puts a prompt back (on the model thread).
    """

    def __init__(self, edit: PromptEdit, apply: Callable[[int, int, FramePrompt | None], None]) -> None:
        super().__init__(edit.text)
        self.edit = edit
        self._apply = apply
        self._is_pushed = False

    def redo(self) -> None:
        if not self._is_pushed:  # QUndoStack.push calls redo; the edit has been made already
            self._is_pushed = True
            return
        self._apply(self.edit.object_id, self.edit.frame, self.edit.after)

    def undo(self) -> None:
        self._apply(self.edit.object_id, self.edit.frame, self.edit.before)


def _pixel(point: tuple[float, float]) -> tuple[int, int]:
    return round(point[0]), round(point[1])

"""The scrub bar: the clip's frames left to right, the render range, marked frames and the playhead.

Marks are named sets of frames with a colour (`"prompts"` where occluder prompts were drawn, `"no face"` where
the face is missing); click or drag to seek.
"""

from collections.abc import Iterable

from PySide6 import QtCore, QtGui, QtWidgets


_RANGE_COLOUR = QtGui.QColor(70, 110, 170)
_PLAYHEAD_COLOUR = QtGui.QColor(255, 200, 40)


class ScrubBar(QtWidgets.QWidget):
    """Signals:
    seek_requested(int): the user clicked or dragged to a frame.
    """

    seek_requested = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(28)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.frame_count = 0
        self.position = 0
        self.range: tuple[int, int] | None = None
        self._marks: dict[str, tuple[frozenset[int], QtGui.QColor]] = {}

    def set_frame_count(self, count: int) -> None:
        self.frame_count = count
        self.update()

    def set_position(self, frame: int) -> None:
        self.position = frame
        self.update()

    def set_range(self, start: int, end: int) -> None:
        """Show `[start, end)` as the render range."""
        self.range = (start, end)
        self.update()

    def set_markers(self, name: str, frames: Iterable[int], colour: QtGui.QColor | str) -> None:
        """Mark `frames` in `colour` under `name` (an empty set removes the marks)."""
        frames = frozenset(frames)
        if frames:
            self._marks[name] = (frames, QtGui.QColor(colour))
        else:
            self._marks.pop(name, None)
        self.update()

    def markers(self, name: str) -> frozenset[int]:
        return self._marks.get(name, (frozenset(), None))[0]

    def x_of(self, frame: float) -> float:
        """Widget x of the left edge of `frame`."""
        return frame * self.width() / max(1, self.frame_count)

    def frame_at(self, x: float) -> int:
        return max(0, min(self.frame_count - 1, int(x * self.frame_count / max(1, self.width()))))

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        height = self.height()
        painter.fillRect(self.rect(), QtGui.QColor(40, 40, 40))
        if self.frame_count <= 0:
            return
        if self.range is not None:
            left, right = self.x_of(self.range[0]), self.x_of(self.range[1])
            painter.fillRect(QtCore.QRectF(left, 0, max(1.0, right - left), height), _RANGE_COLOUR)
        width = max(1.0, self.width() / self.frame_count)
        for row, (frames, colour) in enumerate(self._marks.values()):
            top = height * 0.55 + row * 4
            for frame in frames:
                painter.fillRect(QtCore.QRectF(self.x_of(frame), top, width, 4), colour)
        painter.fillRect(QtCore.QRectF(self.x_of(self.position), 0, max(2.0, width), height), _PLAYHEAD_COLOUR)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        self.seek_requested.emit(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.buttons() & QtCore.Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.frame_at(event.position().x()))

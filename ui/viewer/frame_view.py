"""The picture: a source frame at its own pixel size in a scene, named overlay layers above it, zoom and pan.

Scene coordinates are source pixels (the frame item sits at the origin, unscaled), so a mouse position maps to
source pixels with `mapToScene` alone and overlays drawn at source resolution line up exactly.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets


OverlayImage = np.ndarray | QtGui.QImage
OverlaySource = OverlayImage | Callable[[int], OverlayImage | None]
_ZOOM_STEP = 1.25


@dataclass(frozen=True)
class ViewerMouseEvent:
    """A mouse event on the picture, for tools.

    Args:
        x (`float`), y (`float`): the position in source pixels.
        frame (`int`): the source frame shown.
        button (`QtCore.Qt.MouseButton`): the button pressed or released (`NoButton` on a move).
        buttons (`QtCore.Qt.MouseButtons`): the buttons held.
        modifiers (`QtCore.Qt.KeyboardModifiers`): Shift, Alt, Ctrl...
    """

    x: float
    y: float
    frame: int
    button: Any
    buttons: Any
    modifiers: Any


class ViewerTool(Protocol):
    """What `Viewer.set_tool` takes: mouse input on the picture, in source pixels."""

    def press(self, event: ViewerMouseEvent) -> None: ...

    def move(self, event: ViewerMouseEvent) -> None: ...

    def release(self, event: ViewerMouseEvent) -> None: ...


def rgba_to_qimage(image: OverlayImage) -> QtGui.QImage:
    """An overlay as a `QImage`: an `(h, w, 4)` uint8 RGBA array is copied, a `QImage` is taken as it is."""
    if isinstance(image, QtGui.QImage):
        return image
    if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
        raise ValueError(f"an overlay is an (h, w, 4) uint8 RGBA array, not {image.shape} {image.dtype}")
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QtGui.QImage(image.data, width, height, image.strides[0], QtGui.QImage.Format.Format_RGBA8888).copy()


class FrameView(QtWidgets.QGraphicsView):
    """The frame and its overlays; wheel zooms under the mouse, middle-drag pans, clicks go to the tool.

    Signals:
        clicked(float, float, int): a left click at source pixels `(x, y)` while no tool is set (face picking).
    """

    clicked = QtCore.Signal(float, float, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QtWidgets.QGraphicsScene(self))
        self.setBackgroundBrush(QtGui.QColor(24, 24, 24))
        self.setTransformationAnchor(QtWidgets.QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QtWidgets.QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self._frame_item = self.scene().addPixmap(QtGui.QPixmap())
        self._layers: dict[str, tuple[OverlaySource, QtWidgets.QGraphicsPixmapItem]] = {}
        self._tool: ViewerTool | None = None
        self._pan_from: QtCore.QPoint | None = None
        self._is_fitted = True
        self.frame_index = -1

    # Picture ------------------------------------------------------------------------------------------------
    def show_frame(self, index: int, image: QtGui.QImage) -> None:
        """Show `image` as source frame `index` and redraw every overlay for it."""
        is_new_size = self._frame_item.pixmap().size() != image.size()
        self._frame_item.setPixmap(QtGui.QPixmap.fromImage(image))
        self.frame_index = index
        self.scene().setSceneRect(QtCore.QRectF(image.rect()))
        for name in self._layers:
            self._draw_layer(name)
        if is_new_size or self._is_fitted:
            self.fit()

    def fit(self) -> None:
        """Zoom so the whole frame fits the view."""
        if not self._frame_item.pixmap().isNull():
            self.fitInView(self._frame_item, QtCore.Qt.AspectRatioMode.KeepAspectRatio)
            self._is_fitted = True

    def zoom_to(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Zoom and pan so that source pixels `(x0, y0)`-`(x1, y1)` fill the view."""
        self.fitInView(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
        self._is_fitted = False

    def zoom(self, factor: float) -> None:
        """Zoom by `factor` around the mouse (or the centre)."""
        self.scale(factor, factor)
        self._is_fitted = False

    @property
    def zoom_factor(self) -> float:
        """Screen pixels per source pixel."""
        return self.transform().m11()

    # Overlays -----------------------------------------------------------------------------------------------
    def set_overlay(self, name: str, source: OverlaySource | None) -> None:
        """Draw layer `name` from `source` (see `Viewer.set_overlay`); `None` removes it."""
        if source is None:
            entry = self._layers.pop(name, None)
            if entry is not None:
                self.scene().removeItem(entry[1])
            return
        if name in self._layers:
            item = self._layers[name][1]
        else:
            item = self.scene().addPixmap(QtGui.QPixmap())
            item.setZValue(1 + len(self._layers))
        self._layers[name] = (source, item)
        self._draw_layer(name)

    def refresh_overlays(self) -> None:
        """Draw every layer again for the shown frame."""
        for name in self._layers:
            self._draw_layer(name)

    def overlay_names(self) -> list[str]:
        return list(self._layers)

    def _draw_layer(self, name: str) -> None:
        source, item = self._layers[name]
        image = source(self.frame_index) if callable(source) else source
        item.setPixmap(QtGui.QPixmap.fromImage(rgba_to_qimage(image)) if image is not None else QtGui.QPixmap())

    # Mouse --------------------------------------------------------------------------------------------------
    def set_tool(self, tool: ViewerTool | None) -> None:
        self._tool = tool
        cursor = getattr(tool, "cursor", None)
        self.viewport().setCursor(cursor() if callable(cursor) else QtCore.Qt.CursorShape.CrossCursor)

    @property
    def tool(self) -> ViewerTool | None:
        return self._tool

    def _event(self, event: QtGui.QMouseEvent) -> ViewerMouseEvent:
        point = self.mapToScene(event.position().toPoint())
        return ViewerMouseEvent(
            x=point.x(),
            y=point.y(),
            frame=self.frame_index,
            button=event.button(),
            buttons=event.buttons(),
            modifiers=event.modifiers(),
        )

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.MiddleButton:
            self._pan_from = event.position().toPoint()
            return
        if self.frame_index < 0:
            return
        if self._tool is not None:
            self._tool.press(self._event(event))
        elif event.button() == QtCore.Qt.MouseButton.LeftButton:
            viewer_event = self._event(event)
            self.clicked.emit(viewer_event.x, viewer_event.y, viewer_event.frame)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position().toPoint() - self._pan_from
            self._pan_from = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            self._is_fitted = False
            return
        if self._tool is not None and self.frame_index >= 0:
            self._tool.move(self._event(event))

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.MiddleButton:
            self._pan_from = None
            return
        if self._tool is not None and self.frame_index >= 0:
            self._tool.release(self._event(event))

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom(_ZOOM_STEP**steps)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._is_fitted:
            self.fit()

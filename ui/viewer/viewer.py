"""The viewer: one clip's frames with a timecode readout, editor keys, overlays, tools and a scrub bar.

Keys (as in editing software): J / K / L play backward / stop / forward (J or L again doubles the speed),
Space plays or stops, Left / Right step one frame, Shift+Left / Shift+Right one second, Home / End go to the
first / last frame, I / O set the in / out point of the render range. Wheel zooms, middle-drag pans, F fits.
"""

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from keydub.core.media import MediaInfo
from keydub.ui.viewer.cache import DEFAULT_CACHE_BYTES, FrameCache
from keydub.ui.viewer.decoder import DecodeThread
from keydub.ui.viewer.frame_view import FrameView, OverlaySource, ViewerTool
from keydub.ui.viewer.scrub_bar import ScrubBar


_MAX_SPEED = 8
Key = QtCore.Qt.Key


class Viewer(QtWidgets.QWidget):
    """Frame-accurate display of a clip (see the module docstring for keys).

    Signals:
        frame_changed(int): a new source frame is on screen.
        face_clicked(float, float, int): a left click at source pixels `(x, y)` on a frame, with no tool set.
        range_marked(int, int): I or O set the range to `[start, end)` (end exclusive).
        decode_failed(str): the clip could not be decoded (the message says why).

    Args:
        cache_bytes (`int`, defaults to 1 GiB): the decoded-frame cache's budget.
    """

    frame_changed = QtCore.Signal(int)
    face_clicked = QtCore.Signal(float, float, int)
    range_marked = QtCore.Signal(int, int)
    decode_failed = QtCore.Signal(str)

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cache = FrameCache(cache_bytes)
        self.info: MediaInfo | None = None
        self.video: Path | None = None
        self.frame_index = 0  # the frame asked for (shown as soon as it is decoded)
        self.shown_frame = -1
        self.range: tuple[int, int] = (0, 0)
        self.speed = 0
        self._thread: DecodeThread | None = None
        self._request_id = 0
        self._image: QtGui.QImage | None = None
        self._play_anchor = (0.0, 0)

        self.view = FrameView(self)
        self.scrub = ScrubBar(self)
        self.timecode_label = QtWidgets.QLabel("--:--:--:--", self)
        self.timecode_label.setObjectName("timecode")
        self.timecode_label.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.frame_label = QtWidgets.QLabel("", self)
        self._timer = QtCore.QTimer(self)

        readout = QtWidgets.QHBoxLayout()
        readout.addWidget(self.timecode_label)
        readout.addStretch(1)
        readout.addWidget(self.frame_label)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.scrub)
        layout.addLayout(readout)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

        self.view.clicked.connect(self.face_clicked)
        self.scrub.seek_requested.connect(self._on_scrub_seek)
        self._timer.timeout.connect(self._on_timer_tick)

    # Clip ---------------------------------------------------------------------------------------------------
    def open(self, video: Path, info: MediaInfo, frame: int = 0) -> None:
        """Show `video` (probed as `info`) from `frame`."""
        self.close_clip()
        self.video, self.info = Path(video), info
        self.range = (0, info.frame_count)
        self.scrub.set_frame_count(info.frame_count)
        self.scrub.set_range(0, info.frame_count)
        self._thread = DecodeThread(self.video, info, self.cache, self)
        self._thread.frame_ready.connect(self._on_decoder_frame)
        self._thread.failed.connect(self._on_decoder_failed)
        self._thread.start()
        self.seek(frame)

    def close_clip(self) -> None:
        """Stop playing and decoding; the picture stays until another clip is opened."""
        self.stop()
        if self._thread is not None:
            self._thread.stop()
            self._thread.deleteLater()
            self._thread = None

    @property
    def seek_count(self) -> int:
        """Decodes of this clip that started at a keyframe (the others went on from an open decoder)."""
        return 0 if self._thread is None else self._thread.seek_count

    @property
    def frame_count(self) -> int:
        return self.info.frame_count if self.info else 0

    @property
    def frame_rate(self):
        return self.info.frame_rate if self.info else 25

    def timecode(self, frame: int | None = None) -> str:
        """Source timecode of `frame` (default: the frame asked for); its frame number and seconds where the
        clip's rate has no timecode."""
        return self.info.position_label(self.frame_index if frame is None else frame) if self.info else ""

    def frame_size(self) -> tuple[int, int] | None:
        """`(height, width)` of the frame on screen, `None` before the first frame."""
        return (self._image.height(), self._image.width()) if self._image is not None else None

    def frame_rgb(self) -> np.ndarray | None:
        """The frame on screen as an `(h, w, 3)` uint8 RGB array (a copy), `None` before the first frame."""
        if self._image is None:
            return None
        image = self._image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
        rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()

    # Navigation ---------------------------------------------------------------------------------------------
    def seek(self, frame: int) -> None:
        """Show source frame `frame` (clamped to the clip): at once from the cache, else when decoded."""
        if self.info is None or self._thread is None:
            return
        frame = max(0, min(self.frame_count - 1, int(frame)))
        self.frame_index = frame
        self._show_readout(frame)
        cached = self.cache.get(self.video, frame)
        if cached is not None:
            self._request_id = -1  # any answer still on its way is now stale
            self._show(frame, cached)
        else:
            self._request_id = self._thread.request(frame)

    def step(self, frames: int) -> None:
        self.stop()
        self.seek(self.frame_index + frames)

    def set_range(self, start: int, end: int) -> None:
        """Show `[start, end)` as the render range on the scrub bar."""
        self.range = (start, end)
        self.scrub.set_range(start, end)

    def play(self, speed: int = 1) -> None:
        """Play at `speed` times real time (negative: backward)."""
        if self.info is None or speed == 0:
            self.stop()
            return
        self.speed = max(-_MAX_SPEED, min(_MAX_SPEED, speed))
        self._play_anchor = (time.monotonic(), self.frame_index)
        self._timer.start(max(1, int(1000 / float(self.frame_rate) / 2)))

    def stop(self) -> None:
        self.speed = 0
        self._timer.stop()

    @property
    def is_playing(self) -> bool:
        return self.speed != 0

    # Overlays and tools (the contract in `keydub.plugin.panel`) ---------------------------------------------
    def set_overlay(self, name: str, image: OverlaySource | None) -> None:
        """Draw layer `name` over the frame: an RGBA `(h, w, 4)` uint8 array or `QImage` at source resolution,
        or a callable `frame -> image | None` called for every shown frame; `None` removes the layer."""
        self.view.set_overlay(name, image)

    def refresh_overlays(self) -> None:
        self.view.refresh_overlays()

    def set_tool(self, tool: ViewerTool | None) -> None:
        """Send mouse input on the picture to `tool` (`press` / `move` / `release`); `None` for face picking."""
        self.view.set_tool(tool)

    def set_markers(self, name: str, frames: Iterable[int], colour: QtGui.QColor | str) -> None:
        """Mark source frames on the scrub bar."""
        self.scrub.set_markers(name, frames, colour)

    # Keys ---------------------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key, shift = event.key(), bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        second = round(float(self.frame_rate))
        if key in (Key.Key_Right, Key.Key_Left):
            sign = 1 if key == Key.Key_Right else -1
            self.step(sign * (second if shift else 1))
        elif key == Key.Key_Home:
            self.step(-self.frame_count)
        elif key == Key.Key_End:
            self.step(self.frame_count)
        elif key == Key.Key_Space:
            self.stop() if self.is_playing else self.play(1)
        elif key == Key.Key_K:
            self.stop()
        elif key == Key.Key_L:
            self.play(self.speed * 2 if self.speed > 0 else 1)
        elif key == Key.Key_J:
            self.play(self.speed * 2 if self.speed < 0 else -1)
        elif key == Key.Key_I:
            self._mark_range(self.frame_index, max(self.range[1], self.frame_index + 1))
        elif key == Key.Key_O:
            self._mark_range(min(self.range[0], self.frame_index), self.frame_index + 1)
        elif key == Key.Key_F:
            self.view.fit()
        elif key in (Key.Key_Plus, Key.Key_Equal, Key.Key_Minus):
            self.view.zoom(1.25 if key != Key.Key_Minus else 0.8)
        else:
            super().keyPressEvent(event)

    def _mark_range(self, start: int, end: int) -> None:
        self.set_range(start, end)
        self.range_marked.emit(start, end)

    # Slots --------------------------------------------------------------------------------------------------
    def _show(self, frame: int, image: QtGui.QImage) -> None:
        self._image = image
        self.shown_frame = frame
        self.view.show_frame(frame, image)
        self.scrub.set_position(frame)
        self.frame_changed.emit(frame)

    def _show_readout(self, frame: int) -> None:
        self.timecode_label.setText(self.timecode(frame))
        self.frame_label.setText(f"frame {frame} of {self.frame_count}")
        self.scrub.set_position(frame)

    def _on_decoder_frame(self, request_id: int, frame: int, image: QtGui.QImage) -> None:
        if request_id == self._request_id:
            self._show(frame, image)

    def _on_decoder_failed(self, request_id: int, message: str) -> None:
        if request_id == self._request_id:
            self.stop()
            self.decode_failed.emit(message)

    def _on_scrub_seek(self, frame: int) -> None:
        self.stop()
        self.seek(frame)

    def _on_timer_tick(self) -> None:
        started, anchor = self._play_anchor
        target = anchor + int(self.speed * (time.monotonic() - started) * float(self.frame_rate))
        if not 0 <= target < self.frame_count:
            self.seek(target)
            self.stop()
        elif target != self.frame_index:
            self.seek(target)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.close_clip()
        super().closeEvent(event)

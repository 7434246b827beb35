"""Compare a render with its source: the same frame as an A/B toggle or a split wipe, and playback with sound.

Render frame `i` is source frame `first_source_frame + i` (a render covers its range with handles), so both sides
always show the same moment. Both clips decode on their own threads; a side is drawn once its frame for the
current position has arrived. Playback plays the render file itself (with the dub in it) through QtMultimedia in
real time, so an editor judges sync by ear and eye (`keydub.ui.playback`; without an audio device, picture only);
stopping shows both sides of the frame playback reached. At the end of the file playback stops on the last frame,
and the next play starts again from the frame it started from (from the first frame when that was the last one).
"""

from fractions import Fraction
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from keydub.core.media import MediaInfo
from keydub.ui.playback import RenderPlayer
from keydub.ui.viewer.cache import FrameCache
from keydub.ui.viewer.decoder import DecodeThread


SPLIT, SOURCE, RENDER = "split", "source", "render"
_DIVIDER_GRAB_PX = 8
_CACHE_BYTES = 256 << 20


class CompareView(QtWidgets.QWidget):
    """Source (A) and render (B) of one frame.

    Signals:
        frame_shown(int): both sides of source frame `n` are on screen.
        playing_changed(bool): playback started, or stopped (by `stop_playback` or at the end of the file).
        playback_failed(str): the render could not be played (missing QtMultimedia, unsupported file...).
        playback_notice(str): a one-line note on the playback (`"no audio output device: playing without sound"`),
            also drawn under the picture; `""` when there is none or playback stopped.
    """

    frame_shown = QtCore.Signal(int)
    playing_changed = QtCore.Signal(bool)
    playback_failed = QtCore.Signal(str)
    playback_notice = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 150)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.mode = SPLIT
        self.divider = 0.5
        self.frame_index = 0
        self.first_source_frame = 0
        self._cache = FrameCache(_CACHE_BYTES)
        self._threads: dict[str, DecodeThread] = {}
        self._requests: dict[str, int] = {}
        self._images: dict[str, tuple[int, QtGui.QImage]] = {}
        self._render_info: MediaInfo | None = None
        self._is_dragging = False
        self._sink_image: QtGui.QImage | None = None
        self.status_text = ""
        # The frame the last playback started from, and where the next starts when that one played to the end.
        self._played_from = 0
        self._replay_from: int | None = None
        self._player = RenderPlayer(self)
        self._player.frame_ready.connect(self._on_player_frame_ready)
        self._player.ended.connect(self._on_player_ended)
        self._player.failed.connect(self.playback_failed)

    # Clips --------------------------------------------------------------------------------------------------
    def set_clips(
        self, source: Path, source_info: MediaInfo, render: Path, render_info: MediaInfo, first_source_frame: int
    ) -> None:
        """Compare `render` (whose frame 0 is source frame `first_source_frame`) with `source`."""
        self.close_clips()
        self.first_source_frame = first_source_frame
        self._render_info = render_info
        # Bound slots, not lambdas: Qt then calls them on this widget's thread.
        for side, path, info, slot in (
            (SOURCE, source, source_info, self._on_source_frame),
            (RENDER, render, render_info, self._on_render_frame),
        ):
            thread = DecodeThread(Path(path), info, self._cache, self)
            thread.frame_ready.connect(slot)
            thread.start()
            self._threads[side] = thread
        self.seek(first_source_frame)

    def close_clips(self) -> None:
        self.stop_playback()
        for thread in self._threads.values():
            thread.stop()
            thread.deleteLater()
        self._threads, self._requests, self._images = {}, {}, {}

    @property
    def frame_range(self) -> tuple[int, int]:
        """Source frames `[start, end)` the render covers."""
        count = self._render_info.frame_count if self._render_info else 0
        return self.first_source_frame, self.first_source_frame + count

    def seek(self, source_frame: int) -> None:
        """Show source frame `source_frame` (clamped to the render's frames) on both sides."""
        self._replay_from = None
        self._show(source_frame)

    def _show(self, source_frame: int) -> None:
        if not self._threads:
            return
        start, end = self.frame_range
        self.frame_index = max(start, min(end - 1, int(source_frame)))
        self._requests = {
            SOURCE: self._threads[SOURCE].request(self.frame_index),
            RENDER: self._threads[RENDER].request(self.frame_index - start),
        }

    def is_showing(self, source_frame: int) -> bool:
        """Whether both sides of `source_frame` are on screen."""
        wanted = {SOURCE: source_frame, RENDER: source_frame - self.first_source_frame}
        return all(self._images.get(side, (None,))[0] == frame for side, frame in wanted.items())

    # Modes --------------------------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """`"split"` (source left of the divider, render right), `"source"` or `"render"`."""
        if mode not in (SPLIT, SOURCE, RENDER):
            raise ValueError(f"compare mode must be split, source or render, not {mode!r}")
        self.mode = mode
        self.update()

    def toggle_ab(self) -> None:
        """Flip between the source and the render (from the split: to the source)."""
        self.set_mode(RENDER if self.mode == SOURCE else SOURCE)

    def set_divider(self, share: float) -> None:
        """Put the split's divider at `share` of the picture's width, 0 to 1."""
        self.divider = max(0.0, min(1.0, share))
        self.update()

    # Playback with sound ------------------------------------------------------------------------------------
    def play_with_sound(self, render: Path, with_sound: bool | None = None) -> None:
        """Play `render` (picture and its dub) from the shown frame, in real time; on the last frame, from the frame
        the playback that reached it started from, or from the first frame.

        Args:
            render (`Path`): the render file, the one `set_clips` compares.
            with_sound (`bool | None`, defaults to `None`): play its sound; `None` does so when the machine has an
                audio output device. Without one the picture plays and `status_text` says so.
        """
        self.stop_playback()
        self._played_from = self._play_start()
        self._replay_from = None
        self.frame_index = self._played_from
        # Into the middle of the frame: the backend starts on the frame before a position at a frame's very start.
        render_frame = Fraction(self._played_from - self.first_source_frame) + Fraction(1, 2)
        self._player.play(Path(render), int(1000 * render_frame / self._frame_rate()), with_sound)
        self._set_status(self._player.notice if self._player.is_active else "")
        if self._player.is_active:
            self.playing_changed.emit(True)

    def _play_start(self) -> int:
        """Where play starts: the shown frame, unless it is the last one (the end of the file was reached)."""
        start, end = self.frame_range
        if self.frame_index < end - 1:
            return self.frame_index
        return self._replay_from if self._replay_from is not None else start

    def stop_playback(self) -> None:
        """Stop playing and show the source and render of the frame playback reached; returns at once."""
        if not self._player.is_active:
            return
        self._player.stop()
        self._sink_image = None
        self._set_status("")
        self._show(self.frame_index)
        self.playing_changed.emit(False)

    @property
    def is_playing(self) -> bool:
        return self._player.is_active

    @property
    def player(self):
        """The `QMediaPlayer` playing now (`None` when stopped)."""
        return self._player.player

    def _frame_rate(self) -> Fraction:
        return Fraction(self._render_info.frame_rate) if self._render_info else Fraction(25)

    def _set_status(self, text: str) -> None:
        self.status_text = text
        self.playback_notice.emit(text)
        self.update()

    # Drawing ------------------------------------------------------------------------------------------------
    def picture_rect(self) -> QtCore.QRectF:
        """Where the frame is drawn in the widget (fitted, aspect kept)."""
        image = next((image for _, image in self._images.values()), None)
        if image is None:
            return QtCore.QRectF(self.rect())
        size = QtCore.QSizeF(image.size()).scaled(
            QtCore.QSizeF(self.size()), QtCore.Qt.AspectRatioMode.KeepAspectRatio
        )
        return QtCore.QRectF(
            QtCore.QPointF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2), size
        )

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor(24, 24, 24))
        target = self.picture_rect()
        if self._sink_image is not None:
            painter.drawImage(target, self._sink_image)
        else:
            self._draw_frames(painter, target)
        if self.status_text:
            painter.setPen(QtGui.QColor(255, 255, 255))
            painter.drawText(QtCore.QPointF(target.left() + 8, target.bottom() - 8), self.status_text)

    def _draw_frames(self, painter: QtGui.QPainter, target: QtCore.QRectF) -> None:
        """The decoded source and render of the shown frame, as the mode says."""
        source, render = self._images.get(SOURCE), self._images.get(RENDER)
        if self.mode == SOURCE and source:
            painter.drawImage(target, source[1])
        elif self.mode == RENDER and render:
            painter.drawImage(target, render[1])
        elif self.mode == SPLIT and source and render:
            split_x = target.left() + self.divider * target.width()
            painter.save()
            painter.setClipRect(QtCore.QRectF(target.left(), target.top(), split_x - target.left(), target.height()))
            painter.drawImage(target, source[1])
            painter.setClipRect(QtCore.QRectF(split_x, target.top(), target.right() - split_x, target.height()))
            painter.drawImage(target, render[1])
            painter.restore()
            painter.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255), 2))
            painter.drawLine(QtCore.QPointF(split_x, target.top()), QtCore.QPointF(split_x, target.bottom()))
            painter.drawText(QtCore.QPointF(target.left() + 8, target.top() + 18), "Source")
            painter.drawText(QtCore.QPointF(split_x + 8, target.top() + 18), "Keydub")

    # Mouse and keys -----------------------------------------------------------------------------------------
    def _divider_x(self) -> float:
        target = self.picture_rect()
        return target.left() + self.divider * target.width()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if self.mode == SPLIT and abs(event.position().x() - self._divider_x()) <= _DIVIDER_GRAB_PX:
            self._is_dragging = True

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        near = self.mode == SPLIT and abs(event.position().x() - self._divider_x()) <= _DIVIDER_GRAB_PX
        self.setCursor(
            QtCore.Qt.CursorShape.SplitHCursor if near or self._is_dragging else QtCore.Qt.CursorShape.ArrowCursor
        )
        if self._is_dragging:
            target = self.picture_rect()
            self.set_divider((event.position().x() - target.left()) / max(1.0, target.width()))

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        self._is_dragging = False

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key = event.key()
        if key == QtCore.Qt.Key.Key_T:
            self.toggle_ab()
        elif key == QtCore.Qt.Key.Key_S:
            self.set_mode(SPLIT)
        elif key in (QtCore.Qt.Key.Key_Right, QtCore.Qt.Key.Key_Left):
            self.seek(self.frame_index + (1 if key == QtCore.Qt.Key.Key_Right else -1))
        else:
            super().keyPressEvent(event)

    # Slots --------------------------------------------------------------------------------------------------
    def _on_source_frame(self, request_id: int, _index: int, image: QtGui.QImage) -> None:
        self._on_decoder_frame(SOURCE, request_id, image)

    def _on_render_frame(self, request_id: int, _index: int, image: QtGui.QImage) -> None:
        self._on_decoder_frame(RENDER, request_id, image)

    def _on_decoder_frame(self, side: str, request_id: int, image: QtGui.QImage) -> None:
        if self._requests.get(side) != request_id:
            return
        frame = self.frame_index if side == SOURCE else self.frame_index - self.first_source_frame
        self._images[side] = (frame, image)
        self.update()
        if self.is_showing(self.frame_index):
            self.frame_shown.emit(self.frame_index)

    def _on_player_frame_ready(self, start_us: int, image: QtGui.QImage) -> None:
        start, end = self.frame_range
        render_frame = round(Fraction(start_us, 1_000_000) * self._frame_rate())
        self.frame_index = max(start, min(end - 1, start + render_frame))
        self._sink_image = image
        self.update()

    def _on_player_ended(self) -> None:
        # The last frame stays on screen, both sides decoded; the next play goes back to where this one started.
        self.frame_index = self.frame_range[1] - 1
        self.stop_playback()
        self._replay_from = self._played_from

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.close_clips()
        super().closeEvent(event)

"""Decoding frames off the UI thread: the latest request wins, answers carry their request id.

The viewer asks for frames faster than a long-GOP file can be decoded while an editor scrubs, so the thread keeps
only the newest request: the ones it skipped are never decoded, and an answer to an older request that arrives
after a newer one is dropped by the viewer (its id is no longer current). Stepping forward continues the open
decode instead of seeking again, so a one-frame step costs one frame's decoding.
"""

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui

from keydub.core.errors import KeydubError
from keydub.core.media import FrameReader, MediaInfo
from keydub.ui.viewer.cache import FrameCache


def to_qimage(frame: np.ndarray) -> QtGui.QImage:
    """An RGB uint8 `(h, w, 3)` array as a `QImage` that owns its pixels."""
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    return QtGui.QImage(frame.data, width, height, frame.strides[0], QtGui.QImage.Format.Format_RGB888).copy()


class DecodeThread(QtCore.QThread):
    """Decodes the newest requested frame of one clip and hands it over as a `QImage`.

    Signals:
        frame_ready(int, int, QImage): `(request id, frame index, image)`.
        failed(int, str): `(request id, message)` when the file cannot be decoded.

    Args:
        video (`Path`): the clip.
        info (`MediaInfo`): its probe.
        cache (`FrameCache`): where decoded frames are kept (shared with the viewer).
    """

    frame_ready = QtCore.Signal(int, int, QtGui.QImage)
    failed = QtCore.Signal(int, str)

    def __init__(self, video: Path, info: MediaInfo, cache: FrameCache, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.video = Path(video)
        self.info = info
        self._cache = cache
        self._condition = threading.Condition()
        self._pending: tuple[int, int] | None = None
        self._stopping = False
        self._next_id = 0

    def request(self, frame: int) -> int:
        """Ask for `frame`; returns the request id its answer will carry. Replaces any request not started."""
        with self._condition:
            self._next_id += 1
            self._pending = (self._next_id, frame)
            self._condition.notify()
            return self._next_id

    def stop(self) -> None:
        """Finish the frame being decoded, then end the thread (and wait for it)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self.wait()

    def run(self) -> None:
        reader: FrameReader | None = None
        frames: Iterator[np.ndarray] | None = None
        next_index = -1
        try:
            while True:
                with self._condition:
                    while self._pending is None and not self._stopping:
                        self._condition.wait()
                    if self._stopping:
                        return
                    request_id, index = self._pending
                    self._pending = None
                image = self._cache.get(self.video, index)
                if image is None:
                    try:
                        if reader is None:
                            reader = FrameReader(self.video, info=self.info)
                        if frames is None or index != next_index:
                            # A new decode from the keyframe before `index`, kept open for the steps after it.
                            frames = reader.read(index, self.info.frame_count)
                        pixels = next(frames)
                        next_index = index + 1
                    except (KeydubError, StopIteration) as error:
                        frames, next_index = None, -1
                        self.failed.emit(request_id, str(error) or f"frame {index} could not be decoded")
                        continue
                    image = to_qimage(pixels)
                    self._cache.put(self.video, index, image)
                self.frame_ready.emit(request_id, index, image)
        finally:
            if reader is not None:
                reader.close()

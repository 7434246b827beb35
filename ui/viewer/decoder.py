"""Decoding frames off the UI thread: the latest request wins, answers carry their request id.

The viewer asks for frames faster than a long-GOP file can be decoded while an editor scrubs, so the thread keeps
only the newest request: the ones it skipped are never decoded, and an answer to an older request that arrives
after a newer one is dropped by the viewer (its id is no longer current). The thread's reader keeps
`OPEN_DECODERS` decoders open where earlier requests left them: a request at or a little after one of them (before
the next keyframe) continues that decode instead of seeking to the keyframe, so stepping forward, playing, and a
jump near a place visited before decode only the frames in between. While no request waits the thread decodes a
few frames ahead into the cache, so a one-frame step or forward playback is usually a cache hit.
"""

import threading
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui

from keydub.core.errors import KeydubError
from keydub.core.media import FrameReader, MediaInfo
from keydub.ui.viewer.cache import FrameCache


# Frames decoded ahead of the last one asked for while the thread is idle (0.5 s at 24 fps; ~150 MB at 1080p).
READ_AHEAD = 12
# Decoders kept open at the places an editor visited last (each ~45 MB at 1080p H.264): random jumps in a
# 250-frame GOP then start, at the median, well past the keyframe (benchmarks/panel.py).
OPEN_DECODERS = 4


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
        self._reader: FrameReader | None = None

    def request(self, frame: int) -> int:
        """Ask for `frame`; returns the request id its answer will carry. Replaces any request not started."""
        with self._condition:
            self._next_id += 1
            self._pending = (self._next_id, frame)
            self._condition.notify()
            return self._next_id

    @property
    def seek_count(self) -> int:
        """Requests so far that repositioned a decoder at a keyframe (the others continued an open decode)."""
        return 0 if self._reader is None else self._reader.seek_count

    def stop(self) -> None:
        """Finish the frame being decoded, then end the thread (and wait for it)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self.wait()

    def run(self) -> None:
        self._next_index = -1
        try:
            while True:
                request = self._next_request()
                if request is None:
                    return
                request_id, index = request
                image = self._cache.get(self.video, index)
                if image is None:
                    try:
                        image = self._decode(index)
                    except KeydubError as error:
                        self._next_index = -1
                        self.failed.emit(request_id, str(error) or f"frame {index} could not be decoded")
                        continue
                self.frame_ready.emit(request_id, index, image)
                self._read_ahead(index)
        finally:
            if self._reader is not None:
                self._reader.close()

    def _next_request(self, wait: bool = True) -> tuple[int, int] | None:
        """The newest request (waiting for one if `wait`), or `None` when stopping or, without `wait`, idle."""
        with self._condition:
            while wait and self._pending is None and not self._stopping:
                self._condition.wait()
            if self._stopping:
                return None
            request, self._pending = self._pending, None
            return request

    def _decode(self, index: int) -> QtGui.QImage:
        """Frame `index` into the cache (the reader continues an open decode when one stands close before it)."""
        if self._reader is None:
            self._reader = FrameReader(self.video, info=self.info, decoders=OPEN_DECODERS)
        pixels = self._reader.frame(index)
        self._next_index = index + 1
        image = to_qimage(pixels)
        self._cache.put(self.video, index, image)
        return image

    def _read_ahead(self, index: int) -> None:
        """Decode the frames after `index` into the cache until a request arrives."""
        for ahead in range(index + 1, min(index + 1 + READ_AHEAD, self.info.frame_count)):
            with self._condition:
                if self._pending is not None or self._stopping:
                    return
            if self._cache.get(self.video, ahead) is not None:
                continue
            if ahead != self._next_index:
                return  # the last decode is elsewhere; a seek is not worth it for a guess
            try:
                self._decode(ahead)
            except KeydubError:
                self._next_index = -1
                return

"""A bounded cache of decoded frames, shared by the decode thread and the UI thread.

Frames are kept as `QImage`s keyed by `(video, frame index)`, least recently used first out, within a byte
budget (a setting, 1 GB by default): at 1080p that is about 170 RGB frames, several seconds around the playhead.
"""

import threading
from collections import OrderedDict
from pathlib import Path

from PySide6 import QtGui


DEFAULT_CACHE_BYTES = 1 << 30


class FrameCache:
    """Least-recently-used `QImage` cache within `max_bytes`; safe to use from several threads.

    Args:
        max_bytes (`int`, defaults to 1 GiB): the most the cached images may hold together.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"the frame cache size must be >= 0 bytes, not {max_bytes}")
        self.max_bytes = max_bytes
        self._images: OrderedDict[tuple[Path, int], QtGui.QImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._images)

    def get(self, video: Path, frame: int) -> QtGui.QImage | None:
        """The cached image of `frame`, or `None`; a hit becomes the most recently used."""
        with self._lock:
            image = self._images.get((video, frame))
            if image is not None:
                self._images.move_to_end((video, frame))
            return image

    def put(self, video: Path, frame: int, image: QtGui.QImage) -> None:
        """Keep `image`, dropping the least recently used images beyond the budget."""
        size = image.sizeInBytes()
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._images.pop((video, frame), None)
            if old is not None:
                self._bytes -= old.sizeInBytes()
            self._images[(video, frame)] = image
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._images.popitem(last=False)
                self._bytes -= dropped.sizeInBytes()

    def clear(self) -> None:
        with self._lock:
            self._images.clear()
            self._bytes = 0

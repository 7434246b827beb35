"""Where a clip's keyframes are, read once from packet flags (demuxing only, nothing decoded).

A seek decodes from the keyframe at or before its target, so knowing the keyframes tells a reader whether a decoder
already open somewhere before the target is closer to it than that keyframe: continuing it then decodes less than
seeking. `KeyframeIndexer` builds the index on a thread of its own, so opening a long clip never waits for it; it
reads the whole file once (packets only), which intra-only clips are spared (`is_intra_only`).
"""

import bisect
import threading
from dataclasses import dataclass
from pathlib import Path

import av

from keydub.core.errors import KeydubError
from keydub.core.media._container import open_input
from keydub.core.media.probe import MediaInfo


@dataclass(frozen=True)
class KeyframeIndex:
    """The frame indices of a clip's keyframes, ascending.

    Args:
        frames (`tuple[int, ...]`): the frame index of every keyframe packet.
    """

    frames: tuple[int, ...]

    def keyframe_before(self, frame: int) -> int:
        """The last keyframe at or before `frame` (0 when none is, as a seek then starts the file)."""
        position = bisect.bisect_right(self.frames, frame)
        return self.frames[position - 1] if position else 0


def build_keyframe_index(path: Path, info: MediaInfo) -> KeyframeIndex:
    """Demux the picture stream of `path` and note the frame index of every keyframe packet.

    Raises:
        `UnsupportedMediaError`: the file cannot be opened.
    """
    with open_input(path) as container:
        stream = container.streams[info.video_stream]
        time_base = stream.time_base
        frames = set()
        try:
            for packet in container.demux(stream):
                if packet.is_keyframe and packet.pts is not None:
                    frames.add(round((packet.pts * time_base - info.start_time) * info.frame_rate))
        except av.FFmpegError:
            pass  # a damaged tail: the keyframes before it still stand
    return KeyframeIndex(tuple(sorted(frames)))


def is_intra_only(info: MediaInfo) -> bool:
    """Whether every frame of the clip's codec is a keyframe (ProRes, DNxHD): an index of them would say nothing."""
    try:
        return av.codec.Codec(info.video_codec, "r").intra_only
    except (av.FFmpegError, ValueError):
        return False


class KeyframeIndexer:
    """Builds a clip's `KeyframeIndex` on a daemon thread; `index` is `None` until it is ready (or if it failed).

    Args:
        path (`Path`): the clip.
        info (`MediaInfo`): its probe.
    """

    def __init__(self, path: Path, info: MediaInfo) -> None:
        self.index: KeyframeIndex | None = None
        self._thread = threading.Thread(target=self._build, args=(path, info), name="keyframe index", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> KeyframeIndex | None:
        """Wait up to `timeout` seconds for the index; returns it, or `None` when not ready or not buildable."""
        self._thread.join(timeout)
        return self.index

    def _build(self, path: Path, info: MediaInfo) -> None:
        try:
            self.index = build_keyframe_index(path, info)
        except KeydubError:
            self.index = None  # without an index a reader seeks as before; its own reads report the file's fault

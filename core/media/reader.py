"""Frame-exact, streaming picture reading.

Frame `i` is the frame whose timestamp is `start_time + i / frame_rate`: the reader seeks to the keyframe at or
before the first wanted frame, decodes forward and selects frames by timestamp, so a long-GOP H.264 clip gives
the same frame `i` whether it is read from the start or after a seek. Only one decoded frame is held at a time.
The decoding itself is a `DecodeCursor` (`cursor.py`), kept open between reads so the next one can go on from
where the last stopped; a scrubbing viewer keeps several, placed by the clip's keyframe index (`keyframes.py`).

Frames come back as stored, not rotated: `MediaInfo.rotation` says how a player turns them, and `VideoWriter`
writes the same rotation tag on the output, so a rendered clip shows exactly like its source. Rotating here
would make the output's pixels and its tag disagree (turned twice in the editor).
"""

import os
from collections.abc import Iterator
from types import TracebackType

import numpy as np
from av.video.frame import VideoFrame

from keydub.core.errors import InvalidParameterError, UnsupportedMediaError
from keydub.core.media._container import media_path
from keydub.core.media.cursor import DecodeCursor
from keydub.core.media.keyframes import KeyframeIndex, KeyframeIndexer, is_intra_only
from keydub.core.media.probe import MediaInfo, probe, require_constant_frame_rate


class FrameReader:
    """Reads a clip's frames by index, keeping the file open between reads (for chunked renders and scrubbing).

    One read at a time: starting a new `read` or `frame` invalidates a generator from an earlier `read`. A read
    that starts at the frame after the previous read's last one goes on decoding instead of seeking. With
    `decoders` above 1 the reader keeps that many decoders open at different places of the clip and builds a
    keyframe index on a background thread (demuxing only; none for intra-only codecs); a read then continues
    whichever open decoder stands closest before its start, when no keyframe lies between them, so a seek near an
    earlier one decodes only the frames in between instead of all those from the keyframe.

    Args:
        path (`str | os.PathLike`): the clip.
        info (`MediaInfo | None`): the clip's probe, if the caller already has it (saves probing again).
        allow_vfr (`bool`, defaults to `False`): accept a variable-frame-rate clip. Its frames are then numbered
            in presentation order and every read decodes from the start of the file (frame times are not on a
            grid, so an index cannot be turned into a seek position).
        decoders (`int`, defaults to 1): decoders kept open (a viewer's scrubbing: each holds its codec's
            reference frames, about 45 MB for 1080p H.264 with frame threads).

    Attributes:
        seek_count (`int`): how many reads repositioned a decoder at a keyframe (the others continued one).

    Raises:
        `UnsupportedMediaError`: the clip is VFR and `allow_vfr` is false (the message gives the FFmpeg command
            that conforms it), or the file cannot be read.
        `InvalidParameterError`: `decoders` is below 1.

    Example:
        ```py
        >>> with FrameReader("shot_010.mov") as reader:
        ...     for frame in reader.read(100, 148):
        ...         ...  # 48 RGB frames, HxWx3 uint8
        ```
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        info: MediaInfo | None = None,
        allow_vfr: bool = False,
        decoders: int = 1,
    ) -> None:
        if decoders < 1:
            raise InvalidParameterError(f"a frame reader needs at least 1 decoder, not {decoders}")
        self.info = info if info is not None else probe(path)
        if not allow_vfr:
            require_constant_frame_rate(self.info)
        self._path = media_path(path)
        self._max_decoders = decoders
        self._cursors = [DecodeCursor(self._path, self.info)]  # least recently used first
        is_indexed = decoders > 1 and not self.info.is_vfr and not is_intra_only(self.info)
        self._keyframes = KeyframeIndexer(self._path, self.info) if is_indexed else None
        self.seek_count = 0

    def read(self, start: int = 0, end: int | None = None, *, high_bit_depth: bool = False) -> Iterator[np.ndarray]:
        """Yield frames `start` to `end - 1`, exactly `end - start` of them.

        Args:
            start (`int`, defaults to 0): first frame index.
            end (`int | None`, defaults to `None`): one past the last frame index; `None` for the clip's end.
            high_bit_depth (`bool`, defaults to `False`): for sources above 8 bits, yield uint16 frames on the full
                16-bit scale (a 10-bit 1023 reads as 65535); 8-bit sources always yield uint8.

        Returns:
            `Iterator[np.ndarray]`: RGB frames, shape `(height, width, 3)`, uint8 (or uint16, see
            `high_bit_depth`). The range is checked at once; frames are decoded as they are consumed.

        Raises:
            `InvalidParameterError`: the range is not inside `[0, frame_count]`.
            `UnsupportedMediaError`: decoding stopped before `end` (truncated or corrupt file) or a frame is missing.
        """
        end = self.info.frame_count if end is None else end
        if not 0 <= start <= end <= self.info.frame_count:
            raise InvalidParameterError(
                f"frames [{start}, {end}) are outside {self._path.name}, which has frames [0, "
                f"{self.info.frame_count}); pick a range inside it"
            )
        return self._read(start, end, high_bit_depth)

    def frame(self, index: int, *, high_bit_depth: bool = False) -> np.ndarray:
        """Frame `index` alone (see `read`)."""
        return next(self.read(index, index + 1, high_bit_depth=high_bit_depth))

    def keyframe_index(self, timeout: float | None = 0) -> KeyframeIndex | None:
        """The clip's keyframe index, waiting up to `timeout` seconds for its build (`None`: as long as it takes).

        Returns `None` when the reader builds no index (one decoder, an intra-only codec or a VFR clip), or when
        the index is not ready yet.
        """
        return None if self._keyframes is None else self._keyframes.wait(timeout)

    def close(self) -> None:
        """Close the file."""
        for cursor in self._cursors:
            cursor.close()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _read(self, start: int, end: int, high_bit_depth: bool) -> Iterator[np.ndarray]:
        if start == end:
            return
        expected = start
        # A plain loop, not `yield from`: dropping this read must not close the decode, which a later read continues.
        for index, frame in self._frames_from(start):
            if index < expected:
                continue
            if index > expected:
                raise UnsupportedMediaError(
                    f"{self._path} skips from frame {expected - 1} to frame {index}: a frame is missing or corrupt; "
                    "export or conform the clip again"
                )
            yield self._to_array(frame, high_bit_depth)
            expected += 1
            if expected == end:
                return
        raise UnsupportedMediaError(
            f"{self._path} ended at frame {expected} while {self.info.frame_count} frames were probed: the file is "
            "truncated or corrupt; copy or export it again"
        )

    def _frames_from(self, start: int) -> Iterator[tuple[int, VideoFrame]]:
        """Decoded frames with their indices, from at or before frame `start`: an open decode continued, or a seek."""
        cursor = self._closest_cursor_before(start)
        if cursor is not None:
            self._cursors.remove(cursor)
            self._cursors.append(cursor)
            return cursor.advance(start)
        if len(self._cursors) < self._max_decoders and all(c.next_index is not None for c in self._cursors):
            cursor = DecodeCursor(self._path, self.info)
        else:
            cursor = min(self._cursors, key=lambda c: c.next_index is not None)  # an idle one, else the oldest
            self._cursors.remove(cursor)
        self._cursors.append(cursor)
        self.seek_count += 1
        return cursor.seek(start)

    def _closest_cursor_before(self, start: int) -> DecodeCursor | None:
        """The open decode standing closest before frame `start` with no keyframe in between, if any.

        Without the keyframe index only a decode standing exactly at `start` qualifies.
        """
        if self.info.is_vfr:
            return None
        index = self.keyframe_index()
        earliest = start if index is None else index.keyframe_before(start)
        usable = [c for c in self._cursors if c.next_index is not None and earliest <= c.next_index <= start]
        return max(usable, key=lambda c: c.next_index, default=None)

    def _to_array(self, frame: VideoFrame, high_bit_depth: bool) -> np.ndarray:
        if self.info.bit_depth <= 8:
            return frame.to_ndarray(format="rgb24")
        # Above 8 bits, go through 16-bit RGB: swscale's direct high-bit-depth YUV -> rgb24 paths are off by up
        # to 2 levels, while rgb48 followed by exact rounding is within 1.
        pixels = frame.to_ndarray(format="rgb48le")
        if high_bit_depth:
            return pixels
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def read_frames(
    path: str | os.PathLike[str],
    start: int = 0,
    end: int | None = None,
    *,
    high_bit_depth: bool = False,
    allow_vfr: bool = False,
    info: MediaInfo | None = None,
) -> Iterator[np.ndarray]:
    """Yield frames `start` to `end - 1` of a clip, exactly `end - start` RGB arrays, streaming.

    A one-shot `FrameReader(path, info=info, allow_vfr=allow_vfr).read(start, end, high_bit_depth=...)`; see
    there for the arguments, the rotation policy and the errors.
    """
    with FrameReader(path, info=info, allow_vfr=allow_vfr) as reader:
        yield from reader.read(start, end, high_bit_depth=high_bit_depth)

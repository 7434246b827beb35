"""Frame-exact, streaming picture reading.

Frame `i` is the frame whose timestamp is `start_time + i / frame_rate`: the reader seeks to the keyframe at or
before the first wanted frame, decodes forward and selects frames by timestamp, so a long-GOP H.264 clip gives
the same frame `i` whether it is read from the start or after a seek. Only one decoded frame is held at a time.

Frames come back as stored, not rotated: `MediaInfo.rotation` says how a player turns them, and `VideoWriter`
writes the same rotation tag on the output, so a rendered clip shows exactly like its source. Rotating here
would make the output's pixels and its tag disagree (turned twice in the editor).
"""

import os
from collections.abc import Iterator
from fractions import Fraction
from types import TracebackType

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame

from keydub.core.errors import InvalidParameterError, UnsupportedMediaError
from keydub.core.media._container import media_path, open_input
from keydub.core.media.probe import MediaInfo, probe, require_constant_frame_rate


# Frames before a seek target that are decoded whole, whatever their kind (more than any codec's reorder delay).
SKIP_MARGIN_FRAMES = 32


class FrameReader:
    """Reads a clip's frames by index, keeping the file open between reads (for chunked renders and scrubbing).

    One read at a time: starting a new `read` or `frame` invalidates a generator from an earlier `read`.

    Args:
        path (`str | os.PathLike`): the clip.
        info (`MediaInfo | None`): the clip's probe, if the caller already has it (saves probing again).
        allow_vfr (`bool`, defaults to `False`): accept a variable-frame-rate clip. Its frames are then numbered
            in presentation order and every read decodes from the start of the file (frame times are not on a
            grid, so an index cannot be turned into a seek position).

    Raises:
        `UnsupportedMediaError`: the clip is VFR and `allow_vfr` is false (the message gives the FFmpeg command
            that conforms it), or the file cannot be read.

    Example:
        ```py
        >>> with FrameReader("shot_010.mov") as reader:
        ...     for frame in reader.read(100, 148):
        ...         ...  # 48 RGB frames, HxWx3 uint8
        ```
    """

    def __init__(
        self, path: str | os.PathLike[str], *, info: MediaInfo | None = None, allow_vfr: bool = False
    ) -> None:
        self.info = info if info is not None else probe(path)
        if not allow_vfr:
            require_constant_frame_rate(self.info)
        self._path = media_path(path)
        self._container = self._open()

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

    def close(self) -> None:
        """Close the file."""
        self._container.close()

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
        for index, frame in self._indexed_frames(start):
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

    def _indexed_frames(self, start: int) -> Iterator[tuple[int, VideoFrame]]:
        """Decoded frames with their indices, from at or before frame `start`."""
        if self.info.is_vfr:
            yield from enumerate(self._decode(seek_to=None))
            return
        stream = self._container.streams[self.info.video_stream]
        time_base = stream.time_base
        target = int((self.info.frame_time(start)) / time_base)
        # Frames this far before the target are only decoded to reach it: the ones no other frame refers to
        # (most B-frames of long-GOP H.264/HEVC) are skipped. The margin exceeds any reorder delay, so every
        # frame from it on is decoded whole.
        skip_until = target - int(SKIP_MARGIN_FRAMES / self.info.frame_rate / time_base)
        frames = self._decode(seek_to=target if start > 0 else None, skip_until=skip_until)
        first = next(frames, None)
        if first is not None and self._index_of(first, time_base) > start:
            # The demuxer landed after the wanted frame (an index without that keyframe): read from the start.
            frames, first = self._decode(seek_to=None, skip_until=skip_until), None
        if first is not None:
            yield self._index_of(first, time_base), first
        for frame in frames:
            yield self._index_of(frame, time_base), frame

    def _index_of(self, frame: VideoFrame, time_base: Fraction) -> int:
        if frame.pts is None:
            raise UnsupportedMediaError(
                f"{self._path} has frames without timestamps; remux it first (ffmpeg -i IN -c copy OUT.mkv)"
            )
        return round((frame.pts * time_base - self.info.start_time) * self.info.frame_rate)

    def _decode(self, seek_to: int | None, skip_until: int | None = None) -> Iterator[VideoFrame]:
        """Frames in presentation order, after seeking to the keyframe at or before tick `seek_to`.

        `None` reopens the file, which starts decoding at its very first packet whatever the container's seek
        support. Non-reference frames of packets stamped before tick `skip_until` are not decoded at all.
        """
        if seek_to is None:
            self._container.close()
            self._container = self._open()
        stream = self._container.streams[self.info.video_stream]
        context = stream.codec_context
        try:
            if seek_to is not None:
                self._container.seek(seek_to, stream=stream, backward=True)
            context.skip_frame = "NONREF" if skip_until is not None else "DEFAULT"
            for packet in self._container.demux(stream):
                if skip_until is not None and (packet.pts is None or packet.pts >= skip_until):
                    context.skip_frame, skip_until = "DEFAULT", None
                yield from stream.decode(packet)
        except av.FFmpegError as error:
            raise UnsupportedMediaError(f"{self._path} could not be decoded ({error}); it may be corrupt") from error

    def _open(self) -> InputContainer:
        container = open_input(self._path)
        # Slice and frame threads both; only settable before the decoder opens on the first packet.
        container.streams[self.info.video_stream].thread_type = "AUTO"
        return container

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

"""One open decoder of a clip's pictures, kept where its last frame left it, so a later read can go on from there.

Frame `i` is the frame whose timestamp is `start_time + i / frame_rate`. `DecodeCursor.seek(start)` positions the
decoder at the keyframe at or before frame `start`; `DecodeCursor.advance(start)` goes on decoding from where it
stands. Either way the frames come in presentation order with their indices, those before `start` included (the
caller drops them); the non-reference frames far before `start` are not decoded at all.
"""

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
from av.container import InputContainer
from av.video.frame import VideoFrame

from keydub.core.errors import UnsupportedMediaError
from keydub.core.media._container import open_input
from keydub.core.media.probe import MediaInfo


# Frames before a read's start that are decoded whole, whatever their kind (more than any codec's reorder delay).
SKIP_MARGIN_FRAMES = 32

IndexedFrames = Iterator[tuple[int, VideoFrame]]


class DecodeCursor:
    """A clip's picture decoder and the position it has reached.

    Args:
        path (`Path`): the clip (absolute).
        info (`MediaInfo`): its probe.

    Attributes:
        next_index (`int | None`): the index after the last frame the cursor gave; `None` before its first seek,
            after the clip's end or after a decoding error.
    """

    def __init__(self, path: Path, info: MediaInfo) -> None:
        self.info = info
        self.next_index: int | None = None
        self._path = path
        self._container = self._open()
        self._frames: IndexedFrames = iter(())
        self._generation = 0
        self._skip_until: int | None = None

    def seek(self, start: int) -> IndexedFrames:
        """Decode from the keyframe at or before frame `start` (from the first frame for a VFR clip)."""
        self._forget()
        if self.info.is_vfr:
            # Frame times are not on a grid, so an index cannot become a seek position: count from the start.
            return self._follow(enumerate(self._decode(seek_to=None)))
        time_base = self._stream.time_base
        target = int(self.info.frame_time(start) / time_base)
        self._skip_until = self._skip_tick(start)
        frames = self._decode(seek_to=target if start > 0 else None)
        first = next(frames, None)
        if first is not None and self._index_of(first) > start:
            # The demuxer landed after the wanted frame (an index without that keyframe): read from the start.
            frames, first = self._decode(seek_to=None), None
        if first is not None:
            frames = itertools.chain([first], frames)
        return self._follow((self._index_of(frame), frame) for frame in frames)

    def advance(self, start: int) -> IndexedFrames:
        """Go on from `next_index` (at most `start`), skipping the non-reference frames far before `start`."""
        self._skip_until = self._skip_tick(start)
        return self._frames

    def close(self) -> None:
        """Close the file."""
        self._container.close()

    @property
    def _stream(self):
        return self._container.streams[self.info.video_stream]

    def _skip_tick(self, start: int) -> int:
        """The timestamp before which non-reference packets are skipped for a read from frame `start`."""
        return int(self.info.frame_time(start - SKIP_MARGIN_FRAMES) / self._stream.time_base)

    def _forget(self) -> None:
        """Drop the current decode before the decoder moves (so a failed seek leaves no stale position)."""
        self._generation += 1
        self.next_index = None
        self._frames = iter(())

    def _follow(self, frames: IndexedFrames) -> IndexedFrames:
        """`frames` as the cursor's decode, `next_index` kept up to date as they are consumed."""
        self._frames = self._tracked(frames, self._generation)
        return self._frames

    def _tracked(self, frames: IndexedFrames, generation: int) -> IndexedFrames:
        try:
            for index, frame in frames:
                self.next_index = index + 1
                yield index, frame
        finally:
            # The end, an error, or a decode replaced by a later seek: only the current decode speaks for the cursor.
            if generation == self._generation:
                self.next_index = None

    def _index_of(self, frame: VideoFrame) -> int:
        if frame.pts is None:
            raise UnsupportedMediaError(
                f"{self._path} has frames without timestamps; remux it first (ffmpeg -i IN -c copy OUT.mkv)"
            )
        return round((frame.pts * self._stream.time_base - self.info.start_time) * self.info.frame_rate)

    def _decode(self, seek_to: int | None) -> Iterator[VideoFrame]:
        """Frames in presentation order, after seeking to the keyframe at or before tick `seek_to`.

        `None` reopens the file, which starts decoding at its very first packet whatever the container's seek
        support. Non-reference frames of packets stamped before `_skip_until` (read at each packet, so `advance`
        can move it) are not decoded at all, until the first packet at or after it.
        """
        if seek_to is None:
            self._container.close()
            self._container = self._open()
        stream = self._stream
        context = stream.codec_context
        try:
            if seek_to is not None:
                self._container.seek(seek_to, stream=stream, backward=True)
            for packet in self._container.demux(stream):
                is_skipping = self._skip_until is not None and packet.pts is not None and packet.pts < self._skip_until
                if not is_skipping:
                    self._skip_until = None
                context.skip_frame = "NONREF" if is_skipping else "DEFAULT"
                yield from stream.decode(packet)
        except av.FFmpegError as error:
            raise UnsupportedMediaError(f"{self._path} could not be decoded ({error}); it may be corrupt") from error

    def _open(self) -> InputContainer:
        container = open_input(self._path)
        # Slice and frame threads both; only settable before the decoder opens on the first packet.
        container.streams[self.info.video_stream].thread_type = "AUTO"
        return container

"""Writing a clip that can replace its source on a timeline: same rate, size, timecode, colour tags and rotation.

`VideoWriter` encodes RGB frames one at a time into a hidden, locked partial file beside the target
(`.name~<digest>.<token>.partial.mov`, see `keydub.core.files.PartialFile`) and renames it over the target only when
everything was written; any exception, Ctrl-C included, removes the partial file, so a target path either holds a
complete render or nothing new. A partial file left by a killed render of the same target is removed (and logged)
by the next writer of that target.

Codecs (`codec=`):

- `"prores"` (default): `prores_ks` profile 3 (ProRes 422 HQ), yuv422p10le, in .mov or .mkv. The editing
  intermediate. Odd widths and heights are kept: ProRes codes in 16x16 macroblocks and carries the exact size.
- `"h264"`: `libx264` CRF 16, yuv420p (yuv420p10le for sources above 8 bits), in .mp4, .mov or .mkv. 4:2:0 needs
  an even width and height, so odd sizes are refused rather than cropped or padded (a render must keep the
  source's size).
- `"ffv1"`: lossless `ffv1` level 3, every frame a keyframe, in .mkv; RGB bgr0 (gbrp16le above 8 bits), so
  pixels come back bit-exact. Square pixels only: a non-square pixel aspect cannot be recorded through PyAV.

Audio goes in as PCM s24le (.mov, .mkv) or AAC (.mp4), trimmed or padded with silence to exactly the picture's
duration, and interleaved with the picture as it is written.
"""

import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.container import OutputContainer
from av.video.stream import VideoStream

from keydub.core.codecs import CODECS, Codec, codec_suffixes
from keydub.core.errors import InvalidParameterError, OutputExistsError, OutputNotWritableError
from keydub.core.files import PartialFile, check_output_file, claim_partial
from keydub.core.media import colour
from keydub.core.media._container import media_path
from keydub.core.media.audio import audio_stream_info, iter_audio
from keydub.core.media.probe import AudioStreamInfo, MediaInfo


_CONTAINER_FORMATS = {".mov": "mov", ".mp4": "mp4", ".mkv": "matroska"}
_AUDIO_CODECS = {".mov": "pcm_s24le", ".mp4": "aac", ".mkv": "pcm_s24le"}
# QuickTime edit lists are in the movie timescale (1/1000 s by default), which would cut up to 1 ms of audio
# off the end; a timescale that counts both frames and samples exactly keeps durations exact. It is 32-bit.
_MAX_MOVIE_TIMESCALE = 2**31 - 1


@dataclass(frozen=True, eq=False)
class AudioSpec:
    """The sound to put under the written picture: given samples, or a stream of a file from a start time.

    Build it with `AudioSpec.from_samples` or `AudioSpec.from_file`. Either way the written audio lasts exactly as
    long as the picture: longer audio is cut, shorter audio is followed by silence.

    Args:
        samples (`np.ndarray | None`): float32 PCM in [-1, 1], shape `(n,)` (mono) or `(n, channels)`.
        sample_rate (`int | None`): the rate of `samples`.
        source (`Path | None`): a file whose audio is copied (decoded and re-encoded, at its own rate and layout).
        start (`Fraction`, defaults to 0): seconds on `source`'s clock of the sample under the first frame
            (for a render of frames `[a, b)` of a clip, `info.frame_time(a)`).
        stream (`int | None`): `source`'s audio stream index; `None` for the first.
        stream_info (`AudioStreamInfo | None`): that stream's probe when the caller has it (else probed again).
    """

    samples: np.ndarray | None = None
    sample_rate: int | None = None
    source: Path | None = None
    start: Fraction = Fraction(0)
    stream: int | None = None
    stream_info: AudioStreamInfo | None = None

    def __post_init__(self) -> None:
        if (self.samples is None) == (self.source is None):
            raise InvalidParameterError("AudioSpec needs either samples (with a sample rate) or a source file")
        if self.samples is not None:
            if self.sample_rate is None or self.sample_rate <= 0:
                raise InvalidParameterError(f"AudioSpec samples need a positive sample_rate, got {self.sample_rate}")
            if self.samples.ndim not in (1, 2) or self.samples.size == 0:
                raise InvalidParameterError(
                    f"AudioSpec samples must be a non-empty (n,) or (n, channels) array, not {self.samples.shape}"
                )

    @classmethod
    def from_samples(cls, samples: np.ndarray, sample_rate: int) -> "AudioSpec":
        """Audio from memory: `samples` float32, `(n,)` or `(n, channels)`, at `sample_rate`."""
        return cls(samples=np.asarray(samples, dtype=np.float32), sample_rate=int(sample_rate))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        start: Fraction = Fraction(0),
        stream: int | None = None,
        stream_info: AudioStreamInfo | None = None,
    ) -> "AudioSpec":
        """Audio copied from a file's stream, starting at `start` seconds on its clock."""
        return cls(source=media_path(path), start=Fraction(start), stream=stream, stream_info=stream_info)


class VideoWriter:
    """Write frames into a new clip that matches `like` (the source's probe) in everything but the pixels.

    Used as a context manager: the file appears at `path` when the block ends without an exception, and never
    otherwise.

    Args:
        path (`str | os.PathLike`): the file to write; its suffix picks the container (`.mov`, `.mp4`, `.mkv`).
        like (`MediaInfo`): the source clip's probe: frame rate, size, pixel aspect, colour tags, rotation and
            start timecode are copied from it.
        codec (`str`, defaults to `"prores"`): `"prores"`, `"h264"` or `"ffv1"` (see the module docstring).
        overwrite (`bool`, defaults to `False`): replace an existing file at `path` (atomically).
        audio (`AudioSpec | None`): sound to write under the picture; `None` for a silent clip.
        first_source_frame (`int`, defaults to 0): which frame of `like` the first written frame is; the start
            timecode is `like`'s timecode of that frame (counted from `00:00:00:00` when `like` has none), so a
            render of frames `[a, b)` lines up with its source in the editor.
        encoder_threads (`int | None`): threads the video encoder runs on; `None` uses every CPU core. ProRes and
            H.264 encode whole frames in parallel (ProRes output does not depend on the count).

    Raises:
        `InvalidParameterError`: unknown codec, a codec the container cannot hold, an odd size for H.264, or
            `path` is the source clip or the audio source.
        `OutputExistsError`: `path` exists and `overwrite` is false.
        `OutputNotWritableError`: the folder does not exist or cannot be written.

    Example:
        ```py
        >>> info = probe("shot_010.mov")
        >>> with VideoWriter("shot_010_fr.mov", like=info, audio=AudioSpec.from_file("dub_fr.wav")) as writer:
        ...     for frame in read_frames("shot_010.mov"):
        ...         writer.write(frame)
        ```
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        like: MediaInfo,
        codec: str = "prores",
        overwrite: bool = False,
        audio: AudioSpec | None = None,
        first_source_frame: int = 0,
        encoder_threads: int | None = None,
    ) -> None:
        if encoder_threads is not None and (isinstance(encoder_threads, bool) or encoder_threads < 1):
            raise InvalidParameterError(f"encoder_threads must be a positive thread count, got {encoder_threads!r}")
        self.encoder_threads = encoder_threads or os.cpu_count() or 1
        self.path = media_path(path)
        self.like = like
        check_output_file(
            self.path,
            inputs={"source clip": like.path, "audio source": audio and audio.source},
            overwrite=overwrite,
            option="output",
        )
        self._codec = _check_codec(codec, self.path, like)
        self._overwrite = overwrite
        self._pix_fmt = _pix_fmt(self._codec, like.bit_depth)
        self._is_high_bit_depth = max(c.bits for c in av.VideoFormat(self._pix_fmt).components) > 8
        self._colour = self._colour_codes()
        self._timecode = like.timecode_at(first_source_frame) if like.start_timecode or first_source_frame else None
        self.frames_written = 0
        self._audio: _AudioTrack | None = None
        self._partial: PartialFile | None = None
        audio_format = _audio_format(audio) if audio is not None else None
        try:
            self._partial = claim_partial(self.path)
            self._container = self._open_container(audio_format[0] if audio_format else None)
            self._stream = self._add_video_stream()
            if audio is not None:
                codec = _AUDIO_CODECS[self.path.suffix.lower()]
                self._audio = _AudioTrack(self._container, audio, audio_format, codec)
        except BaseException:
            self._abort()
            raise

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB frame, `(height, width, 3)` uint8 or uint16 (full 16-bit scale), as stored (unrotated)."""
        if frame.shape != (self.like.height, self.like.width, 3) or frame.dtype not in (np.uint8, np.uint16):
            raise InvalidParameterError(
                f"frame {self.frames_written} is {frame.dtype} {frame.shape}; {self.path.name} takes uint8 or uint16 "
                f"RGB frames of shape ({self.like.height}, {self.like.width}, 3), like its source"
            )
        video_frame = self._encoder_frame(frame)
        video_frame.pts = self.frames_written
        self._container.mux(self._stream.encode(video_frame))
        self.frames_written += 1
        if self._audio is not None:
            self._audio.write_until(self.frames_written / self.like.frame_rate)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            self._finish()
        except BaseException:
            self._abort()
            raise

    def _open_container(self, audio_rate: int | None) -> OutputContainer:
        suffix = self.path.suffix.lower()
        options: dict[str, str] = {}
        if suffix in (".mov", ".mp4"):
            timescale = math.lcm(self.like.frame_rate.numerator, audio_rate or 1)
            if timescale <= _MAX_MOVIE_TIMESCALE:
                options["movie_timescale"] = str(timescale)
        try:
            return av.open(str(self._partial.path), "w", format=_CONTAINER_FORMATS[suffix], options=options)
        except (OSError, av.FFmpegError) as error:
            raise OutputNotWritableError(
                f"cannot create {self._partial.path.name} in {self.path.parent} ({error}); check the folder's "
                "permissions and free space"
            ) from error

    def _add_video_stream(self) -> VideoStream:
        like = self.like
        options = dict(self._codec.options)
        stream = self._container.add_stream(self._codec.encoder, rate=like.frame_rate, options=options)
        stream.width, stream.height, stream.pix_fmt = like.width, like.height, self._pix_fmt
        stream.codec_context.time_base = 1 / like.frame_rate
        stream.codec_context.thread_type = self._codec.thread_type
        stream.codec_context.thread_count = self.encoder_threads
        if like.pixel_aspect != 1:
            stream.codec_context.sample_aspect_ratio = like.pixel_aspect
        for key, value in self._colour.items():
            setattr(stream.codec_context, key, value)
        if self._timecode is not None:
            # MOV/MP4 muxers turn this tag into a `tmcd` track; Matroska keeps it as a TIMECODE tag.
            stream.metadata["timecode"] = self._timecode
        if like.rotation:
            stream.set_display_rotation(like.rotation)
        return stream

    def _colour_codes(self) -> dict[str, int]:
        like = self.like
        codes = {
            "color_primaries": colour.code_of(colour.PRIMARIES, like.color_primaries, "primaries"),
            "color_trc": colour.code_of(colour.TRANSFERS, like.color_transfer, "transfer"),
        }
        if not self._codec.is_rgb:
            # Matrix and range describe YUV; an RGB codec stores neither.
            codes["colorspace"] = colour.code_of(colour.MATRICES, like.color_matrix, "matrix")
            codes["color_range"] = colour.code_of(colour.RANGES, self._codec.fixed_range or like.color_range, "range")
        return codes

    def _encoder_frame(self, frame: np.ndarray) -> av.VideoFrame:
        if self._is_high_bit_depth:
            # Convert from 16-bit RGB even for 8-bit input: swscale's rgb24 -> 10-bit YUV path loses precision.
            pixels = frame.astype(np.uint16) * 257 if frame.dtype == np.uint8 else frame
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb48le")
        else:
            pixels = ((frame.astype(np.uint32) + 128) // 257).astype(np.uint8) if frame.dtype == np.uint16 else frame
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        if self._codec.is_rgb:
            converted = rgb.reformat(format=self._pix_fmt)
        else:
            # The same matrix and range the reader decodes the source with, so untouched pixels stay put.
            converted = rgb.reformat(
                format=self._pix_fmt,
                dst_colorspace=colour.swscale_matrix(self.like.color_matrix),
                dst_color_range=self._colour["color_range"] or None,
            )
        # Encoders such as prores_ks take the colour tags from each frame, not from the stream.
        for key, value in self._colour.items():
            setattr(converted, key, value)
        return converted

    def _finish(self) -> None:
        if self.frames_written == 0:
            raise InvalidParameterError(f"no frames were written to {self.path.name}; a clip needs at least one")
        self._container.mux(self._stream.encode())
        if self._audio is not None:
            self._audio.write_until(self.frames_written / self.like.frame_rate)
            self._audio.close()
        self._container.close()
        if self.path.exists() and not self._overwrite:
            raise OutputExistsError(f"{self.path} appeared while it was being rendered; nothing was replaced")
        self._partial.commit()

    def _abort(self) -> None:
        """Drop everything written so far; never raises, so the original error is the one reported."""
        if self._audio is not None:
            self._audio.discard()
        container = getattr(self, "_container", None)
        if container is not None:
            try:
                container.close()
            except (OSError, av.FFmpegError):
                pass  # the partial file is deleted next; a failed trailer write does not matter
        if self._partial is not None:
            self._partial.discard()


class BackgroundWriter:
    """Encode a `VideoWriter`'s frames on a worker thread, so encoding overlaps decoding and generation.

    FFmpeg's encoders release the GIL, so on a machine with spare cores the encode of frame `n` runs while frame
    `n + 1` is decoded and generated. Use it inside the `VideoWriter`'s `with` block, as a `with` block of its own:
    leaving it normally waits for every queued frame; leaving it with an exception drops the queued frames, so the
    `VideoWriter` then aborts as usual and no file appears.

    Args:
        writer (`VideoWriter`): the open writer; only the worker thread calls it until the block ends.
        depth (`int`, defaults to 4): frames that may wait for the encoder (memory: `depth` frames).

    Attributes:
        encode_seconds (`float`): time the worker spent encoding.
    """

    def __init__(self, writer: VideoWriter, depth: int = 4) -> None:
        self._writer = writer
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._cancelled = False
        self.encode_seconds = 0.0
        self._thread = threading.Thread(target=self._encode_queued, name="keydub-encode", daemon=True)
        self._thread.start()

    def write(self, frame: np.ndarray) -> None:
        """Queue one frame (waits while `depth` frames are queued); raises an earlier frame's encoding error."""
        if self._error is not None:
            raise self._error
        self._frames.put(frame)

    def _encode_queued(self) -> None:
        while (frame := self._frames.get()) is not None:
            if self._error is not None or self._cancelled:
                continue
            began = time.perf_counter()
            try:
                self._writer.write(frame)
            except BaseException as error:  # handed to the caller's thread
                self._error = error
            self.encode_seconds += time.perf_counter() - began

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._cancelled = exc_type is not None
        self._frames.put(None)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error


class _AudioTrack:
    """An audio stream fed in step with the picture, to exactly `round(time * rate)` samples at each point."""

    def __init__(
        self, container: OutputContainer, spec: AudioSpec, audio_format: tuple[int, int, str], codec: str
    ) -> None:
        self.rate, channels, layout = audio_format
        if spec.samples is not None:
            samples = spec.samples if spec.samples.ndim == 2 else spec.samples[:, None]
            blocks: Iterator[np.ndarray] = iter([np.ascontiguousarray(samples.T, dtype=np.float32)])
        else:
            blocks = iter_audio(spec.source, start=spec.start, stream=spec.stream)
        self._stream = container.add_stream(codec, rate=self.rate)
        self._stream.layout = layout
        self._layout = self._stream.layout.name
        self._container = container
        self._queue = _SampleQueue(blocks, channels)
        self._written = 0

    def write_until(self, time: Fraction) -> None:
        count = round(time * self.rate) - self._written
        if count <= 0:
            return
        frame = av.AudioFrame.from_ndarray(self._queue.take(count), format="fltp", layout=self._layout)
        frame.sample_rate, frame.pts = self.rate, self._written
        self._container.mux(self._stream.encode(frame))
        self._written += count

    def close(self) -> None:
        self._container.mux(self._stream.encode())
        self._queue.close()

    def discard(self) -> None:
        self._queue.close()


class _SampleQueue:
    """Hands out exact sample counts from a stream of `(channels, n)` blocks, then silence once it runs dry."""

    def __init__(self, blocks: Iterator[np.ndarray], channels: int) -> None:
        self._blocks = blocks
        self._channels = channels
        self._pending: list[np.ndarray] = []
        self._pending_count = 0

    def take(self, count: int) -> np.ndarray:
        while self._pending_count < count:
            block = next(self._blocks, None)
            if block is None:
                block = np.zeros((self._channels, count - self._pending_count), dtype=np.float32)
            self._pending.append(block)
            self._pending_count += block.shape[1]
        joined = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else self._pending[0]
        self._pending = [joined[:, count:]]
        self._pending_count -= count
        return np.ascontiguousarray(joined[:, :count])

    def close(self) -> None:
        """Stop the source (closes the file a streaming source holds open)."""
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()


def _audio_format(spec: AudioSpec) -> tuple[int, int, str]:
    """Sample rate, channel count and FFmpeg layout name the written audio will have."""
    if spec.samples is not None:
        channels = 1 if spec.samples.ndim == 1 else spec.samples.shape[1]
        return spec.sample_rate, channels, f"{channels}c"
    info = spec.stream_info or audio_stream_info(spec.source, spec.stream)
    # A WAV without a channel mask reads as an unordered "1 channels"; encoders such as AAC need a named layout,
    # so such a stream is written with the default layout of its channel count ("1c" is mono).
    layout = f"{info.channels}c" if info.layout.endswith(" channels") else info.layout
    return info.sample_rate, info.channels, layout


def _check_codec(name: str, path: Path, like: MediaInfo) -> Codec:
    codec_suffixes(name)
    codec = CODECS[name]
    suffix = path.suffix.lower()
    if suffix not in codec.suffixes:
        raise InvalidParameterError(
            f"{name} cannot be written to a {suffix or 'suffix-less'} file ({path.name}); use "
            f"{' or '.join(codec.suffixes)}"
        )
    if codec.needs_even_size and (like.width % 2 or like.height % 2):
        raise InvalidParameterError(
            f"{name} (4:2:0) needs an even width and height, but the clip is {like.width}x{like.height}; use codec "
            "prores or ffv1, which keep odd sizes"
        )
    if not codec.keeps_pixel_aspect and like.pixel_aspect != 1:
        raise InvalidParameterError(
            f"{name} cannot record the clip's {like.pixel_aspect} pixel aspect ratio, so the result would look "
            "squeezed; use codec prores"
        )
    return codec


def _pix_fmt(codec: Codec, bit_depth: int) -> str:
    if bit_depth <= 8:
        return codec.pix_fmt
    available = {video_format.name for video_format in av.Codec(codec.encoder, "w").video_formats or ()}
    # An encoder build without the high-bit-depth format (8-bit-only x264) falls back to 8 bits.
    return codec.high_bit_depth_pix_fmt if codec.high_bit_depth_pix_fmt in available else codec.pix_fmt

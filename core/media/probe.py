"""What a clip is: exact frame rate and count, size, colour, rotation, start timecode, audio streams.

`probe(path)` reads the container's tables and decodes one frame; it never decodes the whole clip. The frame
count is exact: it comes from the container's sample table when that table lists every frame (MOV/MP4, AVI), and
otherwise from counting the video packets, which reads the file but decodes nothing (Matroska, MPEG-TS).
"""

import os
import shlex
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from keydub.core.errors import InvalidParameterError, UnsupportedMediaError
from keydub.core.media import colour
from keydub.core.media._container import media_path, open_input, video_stream
from keydub.core.plain_data import from_plain, to_plain
from keydub.core.timecode import frames_to_timecode, is_drop_frame_timecode, timecode_to_frames


# A declared rate within this relative distance of an NTSC (n*1000/1001) or integer rate is that rate: containers
# store 23.976 as 24000/1001, 2997/100, 19001/317 (Matroska's 1 ms ticks at 59.94) and other near misses. The
# two families are 1e-3 apart, so this cannot confuse 29.97 with 30.
_RATE_SNAP_TOLERANCE = Fraction(1, 10_000)
# Timestamps are on a constant grid when they spread around it by at most this many ticks (a container rounds
# each timestamp to its time base, 1 ms in Matroska) and by less than a quarter of a frame.
_GRID_TOLERANCE_TICKS = 2
_GRID_TOLERANCE_FRAMES = Fraction(1, 4)
# Rates a VFR clip is conformed to: the nearest of these to its mean rate.
_CONFORM_RATES = tuple(
    Fraction(rate) for rate in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60")
)


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a media file.

    Args:
        index (`int`): the stream's index in the file (what `load_audio(..., stream=)` takes).
        codec (`str`): FFmpeg's decoder name, e.g. `"aac"`, `"pcm_s24le"`.
        sample_rate (`int`): samples per second.
        channels (`int`): number of channels.
        layout (`str`): FFmpeg's channel layout name, e.g. `"stereo"`, `"5.1"`.
        duration (`Fraction | None`): seconds, as the container declares it (`None` if it does not).
    """

    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: Fraction | None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AudioStreamInfo":
        return from_plain(cls, data)


@dataclass(frozen=True)
class MediaInfo:
    """Everything Keydub needs to know about a picture clip to read it frame-exactly and write a twin of it.

    Frame `i` (0-based, in presentation order) is shown at `frame_time(i)` on the file's clock and carries the
    timecode label `timecode_at(i)`.

    Args:
        path (`Path`): the file, absolute.
        container_format (`str`): FFmpeg's demuxer name, e.g. `"mov,mp4,m4a,3gp,3g2,mj2"`, `"matroska,webm"`.
        video_stream (`int`): index of the picture stream in the file.
        video_codec (`str`): FFmpeg's decoder name, e.g. `"hevc"`, `"prores"`.
        width (`int`), height (`int`): stored picture size in pixels (before `rotation`).
        pixel_aspect (`Fraction`): sample aspect ratio; 1 for square pixels and for files that do not say.
        frame_rate (`Fraction`): exact frames per second, e.g. `Fraction(24000, 1001)`; for VFR clips, the mean
            rate.
        frame_count (`int`): exact number of frames.
        start_time (`Fraction`): seconds on the file's clock at which frame 0 is shown (usually 0).
        pix_fmt (`str`): the decoder's pixel format, e.g. `"yuv420p"`, `"yuv422p10le"`.
        bit_depth (`int`): bits per component of `pix_fmt`.
        color_primaries, color_transfer, color_matrix, color_range (`str | None`): colour tags by FFmpeg's
            names (`"bt709"`, `"tv"`, ...); `None` when untagged.
        rotation (`int`): counter-clockwise degrees (0, 90, 180 or 270) a player turns the stored picture by,
            from the display matrix. Frames are read and written as stored, and the writer copies this tag.
        start_timecode (`str | None`): the first frame's timecode, `HH:MM:SS:FF` (`;` for drop-frame), from a
            QuickTime `tmcd` track or a `timecode` tag; `None` when the file has none.
        start_frame (`int`): `start_timecode` as a frame number (0 when there is none).
        is_drop_frame (`bool`): whether the timecode is drop-frame.
        is_vfr (`bool`): whether the frame timestamps are off a constant grid (variable frame rate).
        audio_streams (`tuple[AudioStreamInfo, ...]`): the file's audio streams, in file order.
    """

    path: Path
    container_format: str
    video_stream: int
    video_codec: str
    width: int
    height: int
    pixel_aspect: Fraction
    frame_rate: Fraction
    frame_count: int
    start_time: Fraction
    pix_fmt: str
    bit_depth: int
    color_primaries: str | None
    color_transfer: str | None
    color_matrix: str | None
    color_range: str | None
    rotation: int
    start_timecode: str | None
    start_frame: int
    is_drop_frame: bool
    is_vfr: bool
    audio_streams: tuple[AudioStreamInfo, ...]

    @property
    def duration(self) -> Fraction:
        """Picture duration in seconds: `frame_count / frame_rate`, exactly."""
        return self.frame_count / self.frame_rate

    def frame_time(self, index: int) -> Fraction:
        """Seconds on the file's clock at which frame `index` is shown (the time to sample audio at)."""
        return self.start_time + index / self.frame_rate

    def timecode_at(self, index: int) -> str:
        """Timecode label of frame `index`, counted from the clip's start timecode (or `00:00:00:00`)."""
        return frames_to_timecode(self.start_frame + index, self.frame_rate, self.is_drop_frame)

    @property
    def has_timecode(self) -> bool:
        """Whether SMPTE timecode is defined at the clip's rate: a whole or an NTSC rate (not 2010/91 fps)."""
        rate = self.frame_rate
        return rate > 0 and (rate.denominator == 1 or (rate * Fraction(1001, 1000)).denominator == 1)

    def position_label(self, index: int) -> str:
        """How frame `index` is shown to an editor: its timecode, or, at a rate where timecode is undefined (a
        web clip at 2010/91 fps), its frame number and its time in seconds."""
        if self.has_timecode:
            return self.timecode_at(index)
        return f"frame {index} ({float(index / self.frame_rate):.3f} s)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: `Fraction`s as `"num/den"` strings, the path as a string, plus `duration`."""
        return {**to_plain(self), "duration": str(self.duration)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MediaInfo":
        """Inverse of `to_dict` (the derived `duration` is ignored)."""
        return from_plain(cls, {key: value for key, value in data.items() if key != "duration"})


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe a picture clip exactly.

    Args:
        path (`str | os.PathLike`): the media file.

    Returns:
        `MediaInfo`: frame rate, count, size, colour, rotation, timecode, audio streams and whether the frame
        rate is variable. A VFR clip is described, not refused; `require_constant_frame_rate` refuses it.

    Raises:
        `MediaNotFoundError`: the file does not exist.
        `UnsupportedMediaError`: not a media file, no video stream, zero frames, truncated (the sample table
            points past the end of the file), or no decodable frame.

    Example:
        ```py
        >>> info = probe("shot_010.mov")
        >>> info.frame_rate, info.frame_count, info.start_timecode
        (Fraction(24000, 1001), 240, '01:00:00:00')
        ```
    """
    path = media_path(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        timestamps = _indexed_timestamps(stream, path)
        first_frame, demuxed = _scan_video(container, stream, path, count=timestamps is None)
        if timestamps is None:
            timestamps = demuxed
        if timestamps.size == 0 or first_frame is None:
            raise UnsupportedMediaError(f"{path} has a video stream with no frames; export the clip again")
        frame_rate, is_vfr = _frame_rate(stream, timestamps, path)
        timecode = _start_timecode(container, stream)
        start_frame = _timecode_frames(timecode, frame_rate, path)
        start_pts = stream.start_time if stream.start_time is not None else first_frame.pts
        codec_context = stream.codec_context
        return MediaInfo(
            path=path,
            container_format=container.format.name,
            video_stream=stream.index,
            video_codec=codec_context.name,
            width=first_frame.width,
            height=first_frame.height,
            pixel_aspect=Fraction(stream.sample_aspect_ratio or 1),
            frame_rate=frame_rate,
            frame_count=int(timestamps.size),
            start_time=Fraction(start_pts or 0) * stream.time_base,
            pix_fmt=first_frame.format.name,
            bit_depth=max(component.bits for component in first_frame.format.components),
            color_primaries=_tag(colour.PRIMARIES, first_frame.color_primaries, codec_context.color_primaries),
            color_transfer=_tag(colour.TRANSFERS, first_frame.color_trc, codec_context.color_trc),
            color_matrix=_tag(colour.MATRICES, first_frame.colorspace, codec_context.colorspace),
            color_range=_tag(colour.RANGES, first_frame.color_range, codec_context.color_range),
            rotation=int(first_frame.rotation) % 360,
            start_timecode=timecode,
            start_frame=start_frame,
            is_drop_frame=timecode is not None and is_drop_frame_timecode(timecode),
            is_vfr=is_vfr,
            audio_streams=tuple(describe_audio_stream(audio, container) for audio in container.streams.audio),
        )


def require_constant_frame_rate(info: MediaInfo) -> None:
    """Refuse a variable-frame-rate clip with the command that conforms it.

    Keydub keeps frames 1:1 with the source and samples the dub at each frame's time; on a VFR clip frame `i` is
    not at `i / rate`, so timecode, audio sync and the written file's timing would all drift.

    Raises:
        `UnsupportedMediaError`: `info.is_vfr` is true.
    """
    if not info.is_vfr:
        return
    target = info.path.with_name(f"{info.path.stem}_cfr.mov")
    rate = min(_CONFORM_RATES, key=lambda standard: abs(standard - info.frame_rate))
    command = (
        f"ffmpeg -i {shlex.quote(str(info.path))} -fps_mode cfr -r {rate} -c:v prores_ks -profile:v 3 "
        f"-c:a pcm_s24le {shlex.quote(str(target))}"
    )
    raise UnsupportedMediaError(
        f"{info.path} has a variable frame rate (its frame times are on no constant grid; mean "
        f"{float(info.frame_rate):.3f} fps). Conform it to a constant frame rate first: {command} (FFmpeg older "
        "than 5.1: -vsync cfr instead of -fps_mode cfr), or pass allow_vfr=True to read it frame by frame in "
        "presentation order."
    )


def snap_frame_rate(rate: Fraction) -> Fraction:
    """The exact broadcast rate a container's approximate rate stands for (2997/100 -> 30000/1001).

    Rates that are neither near an integer nor near an NTSC rate are returned unchanged (12.5 stays 25/2).
    """
    rate = Fraction(rate)
    ntsc = Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001)
    for candidate in (ntsc, Fraction(round(rate))):
        if candidate > 0 and abs(rate - candidate) <= rate * _RATE_SNAP_TOLERANCE:
            return candidate
    return rate


def _indexed_timestamps(stream: VideoStream, path: Path) -> np.ndarray | None:
    """Decode timestamps of every frame from the container's sample table, or `None` if it lists only some.

    MOV/MP4 index every sample (`stream.frames` comes from the same table), so the count, the timing grid and a
    truncation check come without reading the media data.
    """
    entries = stream.index_entries
    if stream.frames <= 0 or len(entries) != stream.frames:
        return None
    kept = [entry for entry in entries if not entry.is_discard]
    file_size = path.stat().st_size
    if any(entry.pos + entry.size > file_size for entry in kept):
        raise UnsupportedMediaError(
            f"{path} is truncated: its index lists {len(kept)} frames but the file ends before the last of them "
            f"({file_size} bytes); copy or export the file again"
        )
    return np.sort(np.array([entry.timestamp for entry in kept], dtype=np.int64))


def _scan_video(
    container: InputContainer, stream: VideoStream, path: Path, *, count: bool
) -> tuple[VideoFrame | None, np.ndarray]:
    """Decode the first frame and, when `count`, demux (without decoding) every other video packet.

    Returns:
        `tuple[VideoFrame | None, np.ndarray]`: the first frame in decode output order and the sorted packet
        timestamps (empty unless `count`).
    """
    first_frame: VideoFrame | None = None
    timestamps: list[int] = []
    try:
        for packet in container.demux(stream):
            timestamp = packet.pts if packet.pts is not None else packet.dts
            if count and packet.size > 0 and not packet.is_discard:
                if timestamp is None:
                    raise UnsupportedMediaError(
                        f"{path} has no frame timestamps (a raw elementary stream?); wrap it in a container "
                        f"first: ffmpeg -i {shlex.quote(str(path))} -c copy clip.mkv"
                    )
                timestamps.append(timestamp)
            if first_frame is None:
                decoded = stream.decode(packet)
                first_frame = decoded[0] if decoded else None
            if first_frame is not None and not count:
                break
    except av.FFmpegError as error:
        raise UnsupportedMediaError(
            f"{path} is corrupt or truncated: reading stopped after {len(timestamps)} frames ({error}); copy or "
            "export the file again"
        ) from error
    return first_frame, np.sort(np.array(timestamps, dtype=np.int64))


def _frame_rate(stream: VideoStream, timestamps: np.ndarray, path: Path) -> tuple[Fraction, bool]:
    """The exact frame rate whose grid the timestamps sit on, or the mean rate and `True` when none does (VFR).

    The declared rates are tried first, then the mean rate measured on the timestamps (for headers that lie);
    the first one whose grid holds every timestamp wins.
    """
    candidates = [snap_frame_rate(rate) for rate in (stream.base_rate, stream.average_rate) if rate]
    if timestamps.size >= 2 and timestamps[-1] > timestamps[0]:
        span = Fraction(int(timestamps[-1] - timestamps[0])) * stream.time_base
        candidates.append(snap_frame_rate((timestamps.size - 1) / span))
    if not candidates:
        raise UnsupportedMediaError(
            f"{path} declares no frame rate and has a single frame, so its rate is unknown; export it as a clip "
            "with a frame rate"
        )
    for rate in candidates:
        if _is_on_grid(timestamps, rate, stream.time_base):
            return rate, False
    # No grid fits: report the mean rate (the one that keeps the clip's duration), measured when possible.
    return candidates[-1], True


def _is_on_grid(timestamps: np.ndarray, rate: Fraction, time_base: Fraction) -> bool:
    """Whether tick `k` is within the tolerance of `t0 + k * ticks_per_frame` for every `k`."""
    ticks_per_frame = 1 / (rate * time_base)
    # Integer arithmetic: with ticks_per_frame = p/q, compare q*(t_k - t_0) with k*p.
    p, q = ticks_per_frame.numerator, ticks_per_frame.denominator
    offsets = q * (timestamps - timestamps[0]) - p * np.arange(timestamps.size, dtype=np.int64)
    tolerance = min(Fraction(_GRID_TOLERANCE_TICKS), ticks_per_frame * _GRID_TOLERANCE_FRAMES)
    return Fraction(int(offsets.max() - offsets.min()), q) <= tolerance


def _start_timecode(container: InputContainer, stream: VideoStream) -> str | None:
    """The start timecode: a QuickTime `tmcd` track first, then the video stream's tag, then the file's."""
    sources = [data.metadata for data in container.streams.data] + [stream.metadata, container.metadata]
    for metadata in sources:
        for key, value in metadata.items():
            if key.lower() == "timecode" and value.strip():
                return value.strip()
    return None


def _timecode_frames(timecode: str | None, frame_rate: Fraction, path: Path) -> int:
    if timecode is None:
        return 0
    try:
        return timecode_to_frames(timecode, frame_rate)
    except InvalidParameterError as error:
        raise UnsupportedMediaError(
            f"{path} carries a start timecode Keydub cannot use: {error}; re-stamp the clip's timecode in the editor "
            "or when exporting it"
        ) from error


def _tag(table: dict[int, str], frame_code: int, stream_code: int) -> str | None:
    # The decoded frame knows what the bitstream says; the container's tag fills in when it says nothing.
    return colour.name_of(table, frame_code) or colour.name_of(table, stream_code)


def describe_audio_stream(stream: AudioStream, container: InputContainer) -> AudioStreamInfo:
    """`AudioStreamInfo` of an open audio stream (its duration from the stream, else from the container)."""
    if stream.duration is not None and stream.time_base is not None:
        duration: Fraction | None = stream.duration * stream.time_base
    elif container.duration is not None:
        duration = Fraction(container.duration, av.time_base)
    else:
        duration = None
    layout = stream.codec_context.layout
    return AudioStreamInfo(
        index=stream.index,
        codec=stream.codec_context.name,
        sample_rate=stream.codec_context.sample_rate,
        channels=layout.nb_channels,
        layout=layout.name,
        duration=duration,
    )

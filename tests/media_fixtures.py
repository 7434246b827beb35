"""Synthetic test clips written with PyAV, for any test that needs media with known content.

`make_test_clip` writes a tiny clip whose every property is chosen by the test (rate, size, codec, pixel format,
start timecode, colour tags, rotation, audio, timestamps), so tests can assert exact values instead of trusting
a probe against itself. The default picture pattern encodes each frame's index in big black and white blocks that
survive lossy codecs; `read_index` decodes it, so a test can check that frame `i` really is frame `i`.

This module deliberately does not use `keydub.core.media` to write (colour tags are raw FFmpeg codes, timecode is
the literal string), so what the library reads back is checked against what was written independently.
"""

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


FramePattern = Callable[[int], np.ndarray]
AudioSignal = Callable[[np.ndarray], np.ndarray]

# The index pattern is a 4x4 grid of blocks, one bit each (most significant bit first, row-major).
INDEX_GRID = 4
INDEX_BITS = INDEX_GRID * INDEX_GRID

_ENCODERS = {"h264": "libx264", "prores": "prores_ks", "ffv1": "ffv1"}
_DEFAULT_PIX_FMTS = {"libx264": "yuv420p", "prores_ks": "yuv422p10le", "ffv1": "bgr0"}
_ENCODER_OPTIONS = {
    # Medium preset keeps B-frames, so long-GOP tests exercise reordering; CRF 18 keeps the index blocks clean.
    "libx264": {"preset": "medium", "crf": "18"},
    "prores_ks": {"profile": "3"},
    "ffv1": {"level": "3"},
}


def index_pattern(index: int, width: int, height: int) -> np.ndarray:
    """A grey RGB uint8 frame whose 4x4 blocks spell `index` in binary (white = 1)."""
    if not 0 <= index < 2**INDEX_BITS:
        raise ValueError(f"index {index} does not fit in {INDEX_BITS} bits")
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    for bit in range(INDEX_BITS):
        if (index >> (INDEX_BITS - 1 - bit)) & 1:
            frame[_block(bit, width, height)] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """The index spelled by `index_pattern` in a decoded frame (uint8 or uint16), robust to lossy coding."""
    height, width = frame.shape[:2]
    level = np.iinfo(frame.dtype).max / 2
    index = 0
    for bit in range(INDEX_BITS):
        rows, cols = _block(bit, width, height)
        # Only the block's centre half: codecs ring at the edges between blocks.
        core_rows = slice(rows.start + (rows.stop - rows.start) // 4, rows.stop - (rows.stop - rows.start) // 4)
        core_cols = slice(cols.start + (cols.stop - cols.start) // 4, cols.stop - (cols.stop - cols.start) // 4)
        index = (index << 1) | int(frame[core_rows, core_cols].mean() > level)
    return index


def noise_pattern(index: int, width: int, height: int, *, dtype: type = np.uint8) -> np.ndarray:
    """Seeded random RGB pixels (every value of `dtype` is likely to occur), for bit-exactness tests."""
    generator = np.random.default_rng(index)
    return generator.integers(0, np.iinfo(dtype).max, size=(height, width, 3), dtype=dtype, endpoint=True)


def sine(frequency: float = 440.0, amplitude: float = 0.5, channels: int = 1) -> AudioSignal:
    """An audio signal: the same sine on every channel, `sin(2 pi f t)` (phase 0 at t = 0)."""

    def signal(times: np.ndarray) -> np.ndarray:
        tone = amplitude * np.sin(2 * np.pi * frequency * times)
        return np.repeat(tone[:, None], channels, axis=1)

    return signal


def make_test_clip(
    path: str | Path,
    *,
    width: int = 64,
    height: int = 48,
    frame_rate: Fraction = Fraction(25),
    frame_count: int = 12,
    codec: str = "ffv1",
    pix_fmt: str | None = None,
    timecode: str | None = None,
    drop_frame: bool = False,
    audio_rate: int | None = None,
    audio_channels: int = 1,
    audio_codec: str | None = None,
    audio: AudioSignal | None = None,
    frames: FramePattern | str = "index",
    vfr: bool = False,
    gop: int | None = None,
    rotation: int = 0,
    colour_codes: tuple[int, int, int, int] | None = None,
    faststart: bool = False,
) -> Path:
    """Write a small synthetic clip and return its path.

    Args:
        path (`str | Path`): output file; its suffix picks the container (`.mov`, `.mp4`, `.mkv`).
        width (`int`, defaults to 64), height (`int`, defaults to 48): picture size.
        frame_rate (`Fraction`, defaults to 25): exact frame rate.
        frame_count (`int`, defaults to 12): number of frames.
        codec (`str`, defaults to `"ffv1"`): `"h264"`, `"prores"`, `"ffv1"` or any FFmpeg encoder name.
        pix_fmt (`str | None`): encoder pixel format; defaults to yuv420p / yuv422p10le / bgr0 (gbrp16le for
            16-bit frames in FFV1).
        timecode (`str | None`): start timecode written as the video stream's `timecode` tag (a `tmcd` track in
            MOV/MP4).
        drop_frame (`bool`, defaults to `False`): write `timecode` with `;` before the frames field.
        audio_rate (`int | None`): add an audio stream at this sample rate; `None` for no audio.
        audio_channels (`int`, defaults to 1): channels of the audio stream.
        audio_codec (`str | None`): defaults to `aac` in `.mp4`, `pcm_s16le` otherwise.
        audio (`Callable | None`): maps times in seconds (shape `(n,)`) to samples (shape `(n, channels)`);
            defaults to `sine(channels=audio_channels)`. The audio lasts exactly as long as the picture.
        frames (`Callable | str`, defaults to `"index"`): `index -> HxWx3` uint8/uint16 RGB, or `"index"`
            (`index_pattern`), `"noise"` (8-bit `noise_pattern`) or `"noise16"` (16-bit).
        vfr (`bool`, defaults to `False`): show frames 1, 4, 7, ... half a frame late, so their timestamps leave
            the constant grid while the mean rate stays `frame_rate`.
        gop (`int | None`): keyframe interval for inter codecs (`None`: the encoder's default).
        rotation (`int`, defaults to 0): counter-clockwise display rotation written as a display matrix.
        colour_codes (`tuple[int, int, int, int] | None`): FFmpeg codes for (primaries, transfer, matrix, range),
            e.g. `(1, 1, 1, 1)` for BT.709 limited range.
        faststart (`bool`, defaults to `False`): put the MOV/MP4 index before the media data.

    Returns:
        `Path`: `path`.
    """
    path = Path(path)
    pattern = _frame_pattern(frames, width, height)
    encoder = _ENCODERS.get(codec, codec)
    sixteen_bit = pattern(0).dtype == np.uint16
    if pix_fmt is None:
        pix_fmt = "gbrp16le" if sixteen_bit and encoder == "ffv1" else _DEFAULT_PIX_FMTS.get(encoder, "yuv420p")
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(encoder, rate=frame_rate, options=dict(_ENCODER_OPTIONS.get(encoder, {})))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        # Half-frame ticks let the VFR clip put a frame between two grid positions.
        stream.codec_context.time_base = 1 / (2 * frame_rate)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if colour_codes is not None:
            _set_colour(stream.codec_context, colour_codes)
        if timecode is not None:
            stream.metadata["timecode"] = timecode[:-3] + ";" + timecode[-2:] if drop_frame else timecode
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = _add_audio(container, path, audio_rate, audio_channels, audio_codec)
        for index in range(frame_count):
            frame = _video_frame(pattern(index), pix_fmt, colour_codes)
            frame.pts = 2 * index + int(vfr and index % 3 == 1)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            signal = audio or sine(channels=audio_channels)
            _write_audio(container, audio_stream, signal, frame_count / frame_rate)
    return path


def _block(bit: int, width: int, height: int) -> tuple[slice, slice]:
    row, col = divmod(bit, INDEX_GRID)
    block_h, block_w = height // INDEX_GRID, width // INDEX_GRID
    return slice(row * block_h, (row + 1) * block_h), slice(col * block_w, (col + 1) * block_w)


def _frame_pattern(frames: FramePattern | str, width: int, height: int) -> FramePattern:
    if callable(frames):
        return frames
    patterns: dict[str, FramePattern] = {
        "index": lambda index: index_pattern(index, width, height),
        "noise": lambda index: noise_pattern(index, width, height),
        "noise16": lambda index: noise_pattern(index, width, height, dtype=np.uint16),
    }
    return patterns[frames]


def _set_colour(target: object, codes: tuple[int, int, int, int]) -> None:
    target.color_primaries, target.color_trc, target.colorspace, target.color_range = codes


def _video_frame(pixels: np.ndarray, pix_fmt: str, colour_codes: tuple[int, int, int, int] | None) -> av.VideoFrame:
    source = av.VideoFrame.from_ndarray(pixels, format="rgb48le" if pixels.dtype == np.uint16 else "rgb24")
    if colour_codes is None:
        return source.reformat(format=pix_fmt)
    frame = source.reformat(format=pix_fmt, dst_colorspace=colour_codes[2], dst_color_range=colour_codes[3])
    _set_colour(frame, colour_codes)
    return frame


def _add_audio(
    container: av.container.OutputContainer, path: Path, rate: int | None, channels: int, codec: str | None
) -> av.audio.stream.AudioStream | None:
    if rate is None:
        return None
    codec = codec or ("aac" if path.suffix.lower() == ".mp4" else "pcm_s16le")
    stream = container.add_stream(codec, rate=rate)
    stream.layout = av.AudioLayout(f"{channels}c").name
    return stream


def _write_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    signal: AudioSignal,
    duration: Fraction,
) -> None:
    rate = stream.codec_context.sample_rate
    total = round(duration * rate)
    samples = np.asarray(signal(np.arange(total) / rate), dtype=np.float32)
    chunk = 1024
    for start in range(0, total, chunk):
        block = np.ascontiguousarray(samples[start : start + chunk].T)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=stream.layout.name)
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())

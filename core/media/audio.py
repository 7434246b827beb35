"""Sample-exact audio loading: any codec, rate and layout in; float32 at the rate you ask for out.

Time is the file's own clock (the one `MediaInfo.frame_time` uses), read from packet timestamps, so a codec's
priming samples (AAC puts ~1024 silent samples before time 0) never shift the audio against the picture, and a
stream that starts late is preceded by silence. The only rounding is the one conversion of the start time to a
sample position, done once.
"""

import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer

from keydub.core.errors import AudioError, InvalidParameterError, NoAudioStreamError
from keydub.core.media._container import media_path, open_input
from keydub.core.media.probe import AudioStreamInfo, describe_audio_stream


# Seek this far before the wanted start: decoders such as AAC need the previous frame to rebuild the first one,
# and the resampler's filter needs a few samples of history.
_SEEK_PREROLL = Fraction(1)


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int = 16000,
    start: Fraction = Fraction(0),
    duration: Fraction | None = None,
    *,
    stream: int | None = None,
    pad: bool = False,
) -> np.ndarray:
    """Load a window of a file's audio as mono float32 at `sample_rate`.

    Args:
        path (`str | os.PathLike`): any file with an audio stream (WAV, MOV, MP4, ...).
        sample_rate (`int`, defaults to 16000): output rate (16 kHz is what HuBERT and WavLM take).
        start (`Fraction`, defaults to 0): seconds on the file's clock of the first output sample; negative or
            before the stream begins gives leading silence.
        duration (`Fraction | None`, defaults to `None`): seconds to load; `None` loads to the end.
        stream (`int | None`, defaults to `None`): the file's stream index (`AudioStreamInfo.index`); `None` picks
            the first audio stream.
        pad (`bool`, defaults to `False`): when the window runs past the end of the audio, pad with zeros up to
            `duration`. Without it, only the samples that exist are returned and the caller decides.

    Returns:
        `np.ndarray`: shape `(round(duration * sample_rate),)` when the audio covers the window (or `pad`), float32,
        the mean of the channels.

    Raises:
        `MediaNotFoundError`, `UnsupportedMediaError`: the file is missing or not a media file.
        `NoAudioStreamError`: the file has no audio stream.
        `AudioError`: the audio cannot be decoded.
        `InvalidParameterError`: a non-positive rate, a negative duration, `pad` without `duration`, or `stream`
            that is not an audio stream.

    Example:
        ```py
        >>> speech = load_audio("dub_fr.wav", 16000, start=Fraction(1001, 24000) * 48, duration=Fraction(2))
        >>> speech.shape
        (32000,)
        ```
    """
    if duration is not None and duration < 0:
        raise InvalidParameterError(f"audio duration {duration} s is negative; pass a duration of 0 or more")
    if pad and duration is None:
        raise InvalidParameterError("pad=True needs a duration to pad up to; pass duration= as well")
    wanted = None if duration is None else round(Fraction(duration) * sample_rate)
    pieces: list[np.ndarray] = []
    count = 0
    if wanted != 0:
        for block in iter_audio(path, sample_rate=sample_rate, start=start, stream=stream):
            mono = block.mean(axis=0, dtype=np.float32)
            if wanted is not None:
                mono = mono[: wanted - count]
            pieces.append(mono)
            count += mono.size
            if count == wanted:
                break
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    if pad and count < wanted:
        samples = np.pad(samples, (0, wanted - count))
    return samples


def iter_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    start: Fraction = Fraction(0),
    stream: int | None = None,
) -> Iterator[np.ndarray]:
    """Stream a file's audio as planar float32 blocks, keeping every channel.

    Args:
        path (`str | os.PathLike`): any file with an audio stream.
        sample_rate (`int | None`, defaults to `None`): output rate; `None` keeps the stream's rate.
        start (`Fraction`, defaults to 0): seconds on the file's clock of the first sample yielded (see
            `load_audio`).
        stream (`int | None`, defaults to `None`): the file's stream index; `None` for the first audio stream.

    Yields:
        `np.ndarray`: blocks of shape `(channels, n)`, float32, contiguous in time, until the audio ends.

    Raises:
        See `load_audio`.
    """
    path = media_path(path)
    start = Fraction(start)
    if sample_rate is not None and sample_rate <= 0:
        raise InvalidParameterError(f"sample rate {sample_rate} is not positive; pass e.g. 16000")
    with open_input(path) as container:
        audio = _audio_stream(container, path, stream)
        rate = sample_rate or audio.codec_context.sample_rate
        end = _declared_end(container, audio)
        # Samples left before the declared end; None: until the decoder stops.
        budget = None if end is None else max(0, round((end - start) * rate))
        try:
            if start > _SEEK_PREROLL:
                container.seek(int((start - _SEEK_PREROLL) / audio.time_base), stream=audio, backward=True)
            for block in _resampled_from(container, audio, path, start, rate):
                if budget is not None:
                    block = block[:, :budget]
                    budget -= block.shape[1]
                if block.shape[1]:
                    yield block
                if budget == 0:
                    return
        except av.FFmpegError as error:
            raise AudioError(f"the audio of {path} could not be decoded ({error}); convert it to WAV first") from error


def _resampled_from(
    container: InputContainer, audio: AudioStream, path: Path, start: Fraction, rate: int
) -> Iterator[np.ndarray]:
    """Resampled blocks whose first sample is at `start` (silence first if the stream begins later)."""
    resampler = av.AudioResampler(format="fltp", rate=rate)
    offset: int | None = None
    for frame in _decoded_then_flush(container, audio, path):
        inputs = [frame]
        if offset is None and frame is not None:
            anchor, lead_in = _grid_anchor(frame, audio.time_base, rate)
            if lead_in is not None:
                inputs.insert(0, lead_in)
            # Samples to drop (or, negative, silence to add) so that the first one is at `start`.
            offset = round((start - anchor) * rate)
            if offset < 0:
                yield from _silence(frame.layout.nb_channels, -offset, rate)
                offset = 0
        for converted in (out for item in inputs for out in resampler.resample(item)):
            if converted is None:  # a pass-through resampler hands the flush marker back
                continue
            block = converted.to_ndarray()
            skipped = min(offset, block.shape[1])
            offset -= skipped
            yield block[:, skipped:]


def _silence(channels: int, count: int, rate: int) -> Iterator[np.ndarray]:
    """`count` samples of silence in blocks of at most one second: a dub offset of days costs no memory, since the
    consumer stops reading once it has the window it wants."""
    for start in range(0, count, rate):
        yield np.zeros((channels, min(rate, count - start)), dtype=np.float32)


def _declared_end(container: InputContainer, audio: AudioStream) -> Fraction | None:
    """The end time a MOV/MP4 edit list declares, which trims the encoder's padding after the last real sample.

    Other containers' durations are estimates (MPEG-TS) or absent (Matroska), so their audio runs to the end of
    the decoded data.
    """
    if not container.format.name.startswith("mov") or audio.duration is None:
        return None
    return (Fraction(audio.start_time or 0) + audio.duration) * audio.time_base


def audio_stream_info(path: str | os.PathLike[str], stream: int | None = None) -> AudioStreamInfo:
    """Describe one audio stream of any file (audio-only files included, unlike `probe`).

    Args:
        path (`str | os.PathLike`): the file.
        stream (`int | None`, defaults to `None`): the file's stream index; `None` for the first audio stream.

    Raises:
        See `load_audio`.
    """
    path = media_path(path)
    with open_input(path) as container:
        return describe_audio_stream(_audio_stream(container, path, stream), container)


def _audio_stream(container: InputContainer, path: Path, index: int | None) -> AudioStream:
    streams = list(container.streams.audio)
    if not streams:
        raise NoAudioStreamError(
            f"{path} has no audio stream; give the dub audio as a separate file (WAV, AIFF, ...) or pick a clip "
            "with sound"
        )
    if index is None:
        return streams[0]
    for stream in streams:
        if stream.index == index:
            return stream
    raise InvalidParameterError(
        f"stream {index} of {path} is not an audio stream; its audio streams are {[s.index for s in streams]}"
    )


def _grid_anchor(frame: av.AudioFrame, time_base: Fraction, rate: int) -> tuple[Fraction, av.AudioFrame | None]:
    """Where the resampled stream's first sample lies, and the silence to feed first so that it is on the grid.

    The resampler's output grid starts at its first input sample. After a seek that sample is wherever a packet
    began, off the output grid by a fraction of a sample; feeding up to `input_rate / gcd` samples of silence
    first moves the start back to a time that is on both grids, so the start time is the only thing rounded.
    """
    input_rate = frame.sample_rate
    period = input_rate // math.gcd(input_rate, rate)
    # Exact where the time base is 1/input_rate (MOV, MP4, WAV); otherwise as precise as the container's ticks.
    first_sample = round(frame.pts * time_base * input_rate)
    silence = first_sample % period
    if silence == 0:
        return Fraction(first_sample, input_rate), None
    lead_in = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=silence)
    for plane in lead_in.planes:
        plane.update(bytes(plane.buffer_size))
    lead_in.sample_rate = input_rate
    return Fraction(first_sample - silence, input_rate), lead_in


def _decoded_then_flush(container: InputContainer, audio: AudioStream, path: Path) -> Iterator[av.AudioFrame | None]:
    """Decoded frames in order, then one `None` (the resampler's flush)."""
    for packet in container.demux(audio):
        for frame in audio.decode(packet):
            if frame.pts is None:
                raise AudioError(f"the audio of {path} has no timestamps; convert it to WAV first")
            yield frame
    yield None

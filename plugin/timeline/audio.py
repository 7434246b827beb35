"""The dub audio under a picture clip: which stretches of which files play there, assembled into one buffer.

Audio is found by timeline time, not by links: a J or L cut, a line that starts in the previous shot or a
long-play stem all fall out of the same range maths. Times are exact `Fraction` seconds until the one place
they become sample indices (`sample_index`), where they are rounded once, half up.
"""

import bisect
import hashlib
import io
import math
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from keydub.core.errors import AudioError, OutputNotWritableError
from keydub.core.files import write_bytes_atomically
from keydub.core.media import load_audio
from keydub.plugin.cluster.path_map import PathMap
from keydub.plugin.jobs import AudioPiece
from keydub.plugin.timeline.clips import resolve_media_path, retime_description
from keydub.plugin.timeline.timecode import to_seconds
from keydub.plugin.timeline.tracks import TrackRef, placed_items


# The cached audio is 32-bit integer PCM: every decoder reads it, and its resolution (2^-31) is finer than the
# float32 buffer it stores, so the render hears what was hashed.
_WAV_SAMPLE_BYTES = 4
_WAV_FULL_SCALE = 2**31 - 1

# Below this peak (-60 dBFS) the dub under a clip is treated as silence: room tone and dither, not dialogue.
SILENCE_PEAK = 1e-3


def sample_index(seconds: Fraction, sample_rate: int) -> int:
    """The sample at `seconds`: `seconds * sample_rate` rounded half up (the single rounding of the audio path)."""
    return math.floor(seconds * sample_rate + Fraction(1, 2))


@dataclass(frozen=True)
class PlacedAudio:
    """An enabled clip of a dub track and where it plays, in seconds of track time (0 = the first frame).

    Args:
        start (`Fraction`), end (`Fraction`): its extent on the track.
        clip (`otio.schema.Clip`): the clip.
        label (`str`): `"<track>: <clip>"`, for plans and messages.
    """

    start: Fraction
    end: Fraction
    clip: otio.schema.Clip
    label: str


class DubTrackIndex:
    """The clips of one dub track, placed once, so that finding those under a window is a binary search.

    Args:
        ref (`TrackRef`): the audio track.
    """

    def __init__(self, ref: TrackRef) -> None:
        self.placed: list[PlacedAudio] = []
        for _, item, extent in placed_items(ref.track):
            if isinstance(item, otio.schema.Clip) and item.enabled:
                start = to_seconds(extent.start_time)
                self.placed.append(
                    PlacedAudio(start, start + to_seconds(extent.duration), item, f"{ref.label}: {item.name}")
                )
        # Clips of a track follow each other, so their ends are sorted too.
        self._ends = [placed.end for placed in self.placed]

    def overlapping(self, start: Fraction, end: Fraction) -> Iterator[PlacedAudio]:
        """The clips that play during `[start, end)`, in track order."""
        for placed in self.placed[bisect.bisect_right(self._ends, start) :]:
            if placed.start >= end:
                break
            yield placed


def pieces_under(
    tracks: Sequence[DubTrackIndex],
    window_start: Fraction,
    window_end: Fraction,
    base_dir: Path,
    relink: PathMap | None = None,
) -> list[AudioPiece]:
    """The stretches of audio clips on `tracks` that play during `[window_start, window_end)`.

    Args:
        tracks (`Sequence[DubTrackIndex]`): the dub dialogue tracks.
        window_start (`Fraction`), window_end (`Fraction`): seconds of track time (0 = the timeline's first frame).
            The window may reach before 0 (handles of the first clip); nothing plays there.
        base_dir (`Path`): the timeline file's folder, for relative media paths.
        relink (`PathMap | None`): the editor's folders as this machine mounts them.

    Returns:
        `list[AudioPiece]`: with `offset` relative to `window_start`, track by track, in track order.

    Raises:
        `AudioError`: an audio clip in the window is offline, retimed or not a file.
    """
    pieces = []
    for track in tracks:
        for placed in track.overlapping(window_start, window_end):
            first, last = max(placed.start, window_start), min(placed.end, window_end)
            clip, label = placed.clip, placed.label
            reference = clip.media_reference
            if not isinstance(reference, otio.schema.ExternalReference):
                raise AudioError(f"dub audio clip {label!r} has no media file ({type(reference).__name__}); relink it")
            retime = retime_description(clip)
            if retime is not None:
                raise AudioError(f"dub audio clip {label!r} is retimed ({retime}); bake the speed change first")
            path = resolve_media_path(reference.target_url, base_dir, relink)
            if not path.is_file():
                raise AudioError(f"dub audio clip {label!r} is offline: {path} not found; relink it")
            # Media time counts from the reference's available range (timecode-absolute in Resolve exports);
            # without one, from the file's first sample.
            origin = to_seconds(reference.available_range.start_time) if reference.available_range else Fraction(0)
            source_start = to_seconds(clip.trimmed_range().start_time) - origin
            pieces.append(
                AudioPiece(
                    path=path,
                    file_start=source_start + (first - placed.start),
                    duration=last - first,
                    offset=first - window_start,
                    label=label,
                )
            )
    return pieces


def assemble_audio(pieces: Sequence[AudioPiece], duration: Fraction, sample_rate: int) -> np.ndarray:
    """Mix `pieces` into one mono float32 buffer of `duration` seconds; silence where nothing plays.

    Pieces from several tracks that overlap are summed (dialogue split across tracks), then limited to [-1, 1].

    Args:
        pieces (`Sequence[AudioPiece]`): the audio, with offsets from the start of the buffer.
        duration (`Fraction`): seconds.
        sample_rate (`int`): samples per second of the result.

    Returns:
        `np.ndarray`: shape `(sample_index(duration),)`, float32.
    """
    buffer = np.zeros(sample_index(duration, sample_rate), dtype=np.float32)
    for piece in pieces:
        first = sample_index(piece.offset, sample_rate)
        last = min(sample_index(piece.offset + piece.duration, sample_rate), buffer.size)
        if last <= first:
            continue
        samples = load_audio(
            piece.path, sample_rate, start=piece.file_start, duration=Fraction(last - first, sample_rate)
        )
        # A file that ends early leaves the rest of the piece silent rather than shifting what follows.
        count = min(last - first, samples.size)
        buffer[first : first + count] += samples[:count]
    np.clip(buffer, -1.0, 1.0, out=buffer)
    return buffer


def audio_digest(samples: np.ndarray, sample_rate: int) -> str:
    """SHA-256 of a mono float32 buffer and its rate: the identity of the audio that drives a render."""
    digest = hashlib.sha256(f"pcm_f32le:{sample_rate}:".encode())
    digest.update(np.ascontiguousarray(samples, dtype="<f4").tobytes())
    return digest.hexdigest()


def is_silent(samples: np.ndarray) -> bool:
    """Whether a buffer holds no dialogue (its peak is below `SILENCE_PEAK`)."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write a mono float buffer as a 32-bit PCM WAV, atomically (temporary file in the folder, then renamed).

    Args:
        path (`Path`): the file to write; its folder is created when missing.
        samples (`np.ndarray`): mono float samples in [-1, 1].
        sample_rate (`int`): samples per second.

    Returns:
        `Path`: `path`.

    Raises:
        `OutputNotWritableError`: the folder cannot be created or written.
    """
    pcm = np.round(np.clip(samples, -1.0, 1.0).astype(np.float64) * _WAV_FULL_SCALE).astype("<i4")
    encoded = io.BytesIO()
    with wave.open(encoded, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(_WAV_SAMPLE_BYTES)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
    try:
        write_bytes_atomically(path, encoded.getvalue())
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write the dub audio cache in {path.parent} ({error.strerror}); "
            "choose an output folder you can write to"
        ) from error
    return path


def cached_wav(folder: Path, samples: np.ndarray, sample_rate: int, write: bool = True) -> tuple[Path, str]:
    """`(<folder>/<digest>.wav, digest)`: audio a render reads, named after its content so that equal audio is
    written once; written when missing unless `write` is false (a dry run only names it)."""
    digest = audio_digest(samples, sample_rate)
    path = folder / f"{digest}.wav"
    if write and not path.is_file():
        write_wav(path, samples, sample_rate)
    return path, digest

"""Shots composed side by side from the shared test media, and a dubbing timeline of them, for the cast tests.

The shared folder holds three people (`conftest.TESTDATA`): a woman speaking to camera with her own audio ("anna",
talking_1080x1920_25fps.mp4), a second woman facing the camera ("bea", talking_576x768_25fps_b.mp4) and a stylised
man ("cole", talking_704x1216_25fps_c.mp4). A shot is written here, in a temporary folder, from square crops around
each person's face (scaled, so one person can appear at different crops and sizes) placed side by side; the media
themselves are never copied into the project.
"""

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import opentimelineio as otio
from conftest import testdata_file
from media_fixtures import make_test_clip

from keydub.core.media import FrameReader
from keydub.core.media.audio import load_audio


RATE = Fraction(25)
AUDIO_RATE = 48_000


@dataclass(frozen=True)
class Person:
    """A person of the shared media: the file and where the face is (centre and size in source pixels, measured with
    the dlib backend on frame 50; each person stays about there for the whole clip)."""

    file: str
    centre: tuple[float, float]
    face_size: float


PEOPLE = {
    "anna": Person("talking_1080x1920_25fps.mp4", (556.5, 772.5), 219.0),
    "bea": Person("talking_576x768_25fps_b.mp4", (279.5, 251.5), 125.0),
    "cole": Person("talking_704x1216_25fps_c.mp4", (321.5, 399.5), 237.0),
}


@dataclass(frozen=True)
class Side:
    """One person's place in a composed shot: which frames of their clip, how loose the crop (in face sizes) and the
    side of the square it is scaled to."""

    person: str
    first_frame: int = 0
    crop: float = 2.5
    size: int = 320


def person_frames(side: Side, count: int) -> list[np.ndarray]:
    """`count` square crops around the person's face from `side.first_frame` on, scaled to `side.size`."""
    person = PEOPLE[side.person]
    half = person.face_size * side.crop / 2
    x0, y0 = int(person.centre[0] - half), int(person.centre[1] - half)
    x1, y1 = int(person.centre[0] + half), int(person.centre[1] + half)
    frames = []
    with FrameReader(testdata_file(person.file)) as reader:
        for frame in reader.read(side.first_frame, side.first_frame + count):
            crop = frame[max(0, y0) : y1, max(0, x0) : x1]
            frames.append(cv2.resize(crop, (side.size, side.size), interpolation=cv2.INTER_AREA))
    return frames


def compose_shot(
    path: Path,
    sides: list[Side],
    count: int,
    audio_from: Side | None = None,
    canvas: tuple[int, int] | None = None,
) -> Path:
    """Write an H.264 shot of `count` frames with `sides` left to right (padded to one height), with the audio of
    `audio_from`'s clip over the same frames (silence without it); `canvas` `(width, height)` centres them in a
    larger black frame."""
    columns = [person_frames(side, count) for side in sides]
    height = max(side.size for side in sides)
    width = sum(side.size for side in sides)
    frame_width, frame_height = canvas or (width, height)
    left, top = (frame_width - width) // 2, (frame_height - height) // 2

    def frame(index: int) -> np.ndarray:
        parts = [np.pad(c[index], ((0, height - c[index].shape[0]), (0, 0), (0, 0))) for c in columns]
        picture = np.zeros((frame_height, frame_width, 3), np.uint8)
        picture[top : top + height, left : left + width] = np.hstack(parts)
        return picture

    samples = None
    if audio_from is not None:
        start = Fraction(audio_from.first_frame) / RATE
        samples = load_audio(testdata_file(PEOPLE[audio_from.person].file), AUDIO_RATE, start, count / RATE, pad=True)

    def audio(times: np.ndarray) -> np.ndarray:
        indices = np.clip(np.round(times * AUDIO_RATE).astype(int), 0, len(samples) - 1)
        return samples[indices][:, None]

    return make_test_clip(
        path,
        width=frame_width,
        height=frame_height,
        frame_rate=RATE,
        frame_count=count,
        codec="h264",
        frames=frame,
        audio_rate=AUDIO_RATE if samples is not None else None,
        audio=audio if samples is not None else None,
    )


def write_dialogue_wav(path: Path, seconds: float, frequency: float = 220) -> Path:
    """A dub line: a 16 kHz tone, enough for the planner to see dialogue under every clip."""
    times = np.arange(round(seconds * 16_000)) / 16_000
    pcm = np.round(0.3 * np.sin(2 * np.pi * frequency * times) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(16_000)
        stream.writeframes(pcm.tobytes())
    return path


def dubbing_timeline(
    path: Path,
    shots: dict[str, tuple[Path, int]],
    dub_wav: Path,
    character_tracks: dict[str, list[tuple[Path, int, int]]] | None = None,
) -> Path:
    """Write `path` (.otio): the shots back to back on "V1" (name -> (file, frames)), `dub_wav` under all of them on
    "DX es", and an audio track per name of `character_tracks`, each with its lines `(wav, record frame, frames)`
    (in record order) and gaps between them."""
    rate = float(RATE)
    picture = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    total = 0
    for name, (file, frames) in shots.items():
        clip = otio.schema.Clip(
            name=name,
            media_reference=otio.schema.ExternalReference(target_url=str(file)),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(frames, rate)
            ),
        )
        picture.append(clip)
        total += frames
    dub = otio.schema.Track(
        name="DX es", kind=otio.schema.TrackKind.Audio, metadata={"keydub": {"role": "dub_dialogue"}}
    )
    dub.append(
        otio.schema.Clip(
            name="dx",
            media_reference=otio.schema.ExternalReference(target_url=str(dub_wav)),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(total, rate)
            ),
        )
    )
    tracks = [picture, dub]
    for name, lines in (character_tracks or {}).items():
        track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
        at = 0
        for wav, start, frames in lines:
            if start > at:
                track.append(otio.schema.Gap(source_range=_frames(0, start - at)))
            track.append(
                otio.schema.Clip(
                    name=wav.stem,
                    media_reference=otio.schema.ExternalReference(target_url=str(wav)),
                    source_range=_frames(0, frames),
                )
            )
            at = start + frames
        tracks.append(track)
    timeline = otio.schema.Timeline(name="cast test", global_start_time=otio.opentime.RationalTime(0, rate))
    timeline.tracks.extend(tracks)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def _frames(start: int, count: int) -> otio.opentime.TimeRange:
    rate = float(RATE)
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(count, rate))

"""Dubbing timelines written by the tests, shaped like DaVinci Resolve's OTIO exports, with their media.

Every source clip is a synthetic movie whose frames spell their own index (`media_fixtures.index_pattern`) and
carries a start timecode; every dub line is a 16 kHz WAV holding a tone of its own frequency and amplitude, so a
test can tell from the samples alone which line (and which sample of it) ended up where.

The WAVs are written with the standard library, not with `keydub.core.media`, so what the planner reads back is
checked against what was written independently.

`copy_renderer` stands in for `render_clip` where a test is about planning, the job store or resuming: it writes
a real file (the source frames of the request, losslessly, with the dub audio and the source timecode) through
the same media writer, so output timelines and timecodes can be checked for real.
"""

import os
import time
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
from media_fixtures import make_test_clip

from keydub.core.media import AudioSpec, VideoWriter, probe, read_frames
from keydub.core.progress import ProgressCallback, report
from keydub.core.render.request import RenderRequest, RenderResult


RATE = Fraction(24000, 1001)
START = 86400  # 01:00:00:00 at 24000/1001 (timecode counts 24 labels a second)
MODEL_SAMPLE_RATE = 16_000
SOURCE_FRAMES = 96
# Source clips: name -> start timecode frame (10:00:00:00, 11:00:00:00, 12:00:00:00 at 24 labels a second).
SOURCE_TIMECODES = {"A001": "10:00:00:00", "A002": "11:00:00:00", "A003": "12:00:00:00"}
SOURCE_STARTS = {"A001": 864000, "A002": 950400, "A003": 1036800}
WAV_SECONDS = 6


@dataclass(frozen=True)
class Tone:
    """A dub line: `amplitude * sin(2 pi frequency t)` written as 16-bit samples."""

    frequency: float
    amplitude: float


TONES = {
    "es_line1": Tone(220.0, 0.5),
    "es_line2": Tone(330.0, 0.3),
    "es_line3": Tone(440.0, 0.4),
    "fr_line1": Tone(550.0, 0.6),
    "premix_es": Tone(275.0, 0.45),
}


def rt(frames: int, rate: Fraction = RATE) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(float(frames), float(rate))


def tr(start: int, duration: int, rate: Fraction = RATE) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(rt(start, rate), rt(duration, rate))


def write_tone_wav(
    path: Path, tone: Tone, seconds: int = WAV_SECONDS, sample_rate: int = MODEL_SAMPLE_RATE
) -> np.ndarray:
    """Write a mono 16-bit WAV of `tone`; return its samples as float32 exactly as a decoder reads them back."""
    times = np.arange(seconds * sample_rate) / sample_rate
    pcm = np.round(tone.amplitude * np.sin(2 * np.pi * tone.frequency * times) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(pcm.tobytes())
    return pcm.astype(np.float32) / 32768


def write_sources(folder: Path, size: tuple[int, int] = (64, 48)) -> dict[str, Path]:
    """The picture sources A001-A003 (`.mov`, H.264, `size` pixels, 96 frames, timecoded); A004 is never written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, timecode in SOURCE_TIMECODES.items():
        paths[name] = make_test_clip(
            folder / f"{name}.mov",
            width=size[0],
            height=size[1],
            frame_rate=RATE,
            frame_count=SOURCE_FRAMES,
            codec="h264",
            timecode=timecode,
            audio_rate=48_000,
        )
    paths["A004"] = folder / "A004.mov"
    return paths


def video_clip(
    name: str,
    path: Path,
    source_start: int,
    duration: int,
    media_start: int,
    *,
    link_group: int | None = None,
    enabled: bool = True,
    keydub: dict | None = None,
) -> otio.schema.Clip:
    """A Resolve-style picture clip: `Clip.2`, one `DEFAULT_MEDIA` reference with a bare path and an available
    range, timecode-absolute source range."""
    metadata: dict = {}
    if link_group is not None:
        metadata["Resolve_OTIO"] = {"Link Group ID": link_group}
    if keydub is not None:
        metadata["keydub"] = keydub
    clip = otio.schema.Clip(name=name, source_range=tr(source_start, duration), metadata=metadata)
    reference = otio.schema.ExternalReference(target_url=str(path), available_range=tr(media_start, SOURCE_FRAMES))
    reference.name = path.name
    clip.set_media_references({"DEFAULT_MEDIA": reference}, "DEFAULT_MEDIA")
    clip.enabled = enabled
    return clip


def audio_clip(
    name: str,
    path: Path,
    source_start: int,
    duration: int,
    *,
    seconds: int = WAV_SECONDS,
    link_group: int | None = None,
) -> otio.schema.Clip:
    """A Resolve-style audio clip on a WAV: its available range starts at 0 (the file has no timecode)."""
    metadata = {"Resolve_OTIO": {"Channels": [{"Source Channel ID": 0, "Source Track ID": 0}]}}
    if link_group is not None:
        metadata["Resolve_OTIO"]["Link Group ID"] = link_group
    clip = otio.schema.Clip(name=name, source_range=tr(source_start, duration), metadata=metadata)
    available_frames = int(seconds * RATE)
    reference = otio.schema.ExternalReference(target_url=str(path), available_range=tr(0, available_frames))
    reference.name = path.name
    clip.set_media_references({"DEFAULT_MEDIA": reference}, "DEFAULT_MEDIA")
    return clip


def gap(duration: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=tr(0, duration))


def video_track(name: str, children: list) -> otio.schema.Track:
    track = otio.schema.Track(
        name=name, kind=otio.schema.TrackKind.Video, metadata={"Resolve_OTIO": {"Locked": False}}
    )
    track.extend(children)
    return track


def audio_track(name: str, children: list, keydub: dict | None = None) -> otio.schema.Track:
    metadata = {"Resolve_OTIO": {"Audio Type": "Mono", "Locked": False, "SoloOn": False}}
    if keydub is not None:
        metadata["keydub"] = keydub
    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio, metadata=metadata)
    track.extend(children)
    return track


def resolve_timeline(name: str, tracks: list[otio.schema.Track]) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(
        name=name, global_start_time=rt(START), metadata={"Resolve_OTIO": {"Resolve OTIO Meta Version": "1.0"}}
    )
    timeline.tracks.name = ""
    timeline.tracks.extend(tracks)
    return timeline


@dataclass(frozen=True)
class DubbingFixture:
    """A written timeline and what the tests know about it."""

    path: Path
    sources: dict[str, Path]
    lines: dict[str, Path]
    samples: dict[str, np.ndarray]


def write_dubbing_timeline(folder: Path) -> DubbingFixture:
    """The full dubbing timeline, written to `folder/episode.otio` with its media in `folder/media`.

    Picture track "Video 1" (record frames from the timeline start, source frames timecode-absolute):

    | # | clip | record | source | note |
    |---|---|---|---|---|
    | 0 | sh010 | 0-30 | A001 +20 | dissolve (4+4 frames) into sh020; L cut: es_line1 runs on into sh020 |
    | 2 | sh020 | 30-54 | A002 +30 | J cut: es_line2 starts inside and runs into the gap |
    | 3 | gap | 54-64 | | |
    | 4 | sh030_off | 64-76 | A003 +10 | disabled |
    | 5 | sh040_missing | 76-88 | A004 | the file does not exist |
    | 6 | sh050_retimed | 88-100 | A001 +60 | LinearTimeWarp x2 |
    | 7 | sh060_wide | 100-130 | A003 +40 | no dialogue under it (es_line3 only under its tail handle) |
    | 8 | sh070_fr | 130-154 | A002 +60 | its metadata takes the audio from "DX fr-FR" |

    "Audio 1" holds the production sound linked to sh010/sh020. "DX es-419": es_line1 at 6-40 (from frame 12 of
    the WAV), es_line2 at 44-60 (from 0), es_line3 at 132-150 (from 0). "DX fr-FR": fr_line1 at 128-154 (from 24).
    """
    media = folder / "media"
    sources = write_sources(media)
    lines, samples = {}, {}
    for line in ("es_line1", "es_line2", "es_line3", "fr_line1"):
        lines[line] = media / f"{line}.wav"
        samples[line] = write_tone_wav(lines[line], TONES[line])

    a001, a002, a003 = SOURCE_STARTS["A001"], SOURCE_STARTS["A002"], SOURCE_STARTS["A003"]
    retimed = video_clip("sh050_retimed", sources["A001"], a001 + 60, 12, a001)
    retimed.effects.append(otio.schema.LinearTimeWarp(name="Retime", time_scalar=2.0))
    picture = video_track(
        "Video 1",
        [
            video_clip("sh010", sources["A001"], a001 + 20, 30, a001, link_group=1),
            otio.schema.Transition(
                name="Cross Dissolve",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=rt(4),
                out_offset=rt(4),
            ),
            video_clip("sh020", sources["A002"], a002 + 30, 24, a002, link_group=2),
            gap(10),
            video_clip("sh030_off", sources["A003"], a003 + 10, 12, a003, enabled=False),
            video_clip("sh040_missing", sources["A004"], 0, 12, 0),
            retimed,
            video_clip("sh060_wide", sources["A003"], a003 + 40, 30, a003),
            video_clip(
                "sh070_fr",
                sources["A002"],
                a002 + 60,
                24,
                a002,
                keydub={"audio": {"track": "DX fr-FR"}, "face": {"point": [32.0, 20.0], "frame": 70}},
            ),
        ],
    )
    production = audio_track(
        "Audio 1",
        [
            audio_clip("A001.mov", sources["A001"], a001 + 20, 30, link_group=1),
            audio_clip("A002.mov", sources["A002"], a002 + 30, 24, link_group=2),
        ],
    )
    dub_es = audio_track(
        "DX es-419",
        [
            gap(6),
            audio_clip("es_line1", lines["es_line1"], 12, 34),
            gap(4),
            audio_clip("es_line2", lines["es_line2"], 0, 16),
            gap(72),
            audio_clip("es_line3", lines["es_line3"], 0, 18),
        ],
        keydub={"role": "dub_dialogue", "lang": "es-419"},
    )
    dub_fr = audio_track(
        "DX fr-FR",
        [gap(128), audio_clip("fr_line1", lines["fr_line1"], 24, 26)],
        keydub={"role": "dub_dialogue", "lang": "fr-FR"},
    )
    timeline = resolve_timeline("episode101", [picture, production, dub_es, dub_fr])
    path = folder / "episode.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return DubbingFixture(path=path, sources=sources, lines=lines, samples=samples)


def write_three_clip_timeline(
    folder: Path,
    keydub: dict[str, dict] | None = None,
    durations: tuple[int, int, int] = (20, 16, 18),
    size: tuple[int, int] = (64, 48),
) -> DubbingFixture:
    """Three dialogue clips over one long-play dub stem, written to `folder/three.otio`.

    "Video 1" with the default `durations`: sh010 (A001 +20, 20 frames) at 0-20, sh020 (A002 +30, 16 frames) at
    20-36, a 4-frame gap, sh030 (A003 +40, 18 frames) at 40-58. "DX es-419": premix_es.wav from 0 under all of
    it. `keydub` gives clip metadata by clip name. The media (in `folder/media`, `size` pixels) is written once,
    so that rewriting the timeline with other settings keeps the sources' identity.
    """
    keydub = keydub or {}
    media = folder / "media"
    sources = (
        write_sources(media, size)
        if not (media / "A001.mov").is_file()
        else {name: media / f"{name}.mov" for name in ("A001", "A002", "A003", "A004")}
    )
    premix = media / "premix_es.wav"
    samples = {"premix_es": write_tone_wav(premix, TONES["premix_es"])}
    a001, a002, a003 = SOURCE_STARTS["A001"], SOURCE_STARTS["A002"], SOURCE_STARTS["A003"]
    first, second, third = durations
    picture = video_track(
        "Video 1",
        [
            video_clip("sh010", sources["A001"], a001 + 20, first, a001, keydub=keydub.get("sh010")),
            video_clip("sh020", sources["A002"], a002 + 30, second, a002, keydub=keydub.get("sh020")),
            gap(4),
            video_clip("sh030", sources["A003"], a003 + 40, third, a003, keydub=keydub.get("sh030")),
        ],
    )
    dub = audio_track("DX es-419", [audio_clip("premix_es", premix, 0, first + second + 4 + third)])
    timeline = resolve_timeline("three", [picture, dub])
    path = folder / "three.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return DubbingFixture(path=path, sources=sources, lines={"premix_es": premix}, samples=samples)


# Seconds the slow stand-in waits per frame (set in the environment of a batch subprocess the test will kill).
SLOW_RENDER_ENV = "KEYDUB_TEST_FRAME_DELAY"


def copy_renderer(request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
    """Stand-in for `render_clip`: frames `[start_frame, end_frame)` of the source copied into `request.output`
    with the request's codec, the dub audio under them and the source timecode of `start_frame`."""
    info = probe(request.video)
    end = request.end_frame if request.end_frame is not None else info.frame_count
    total = end - request.start_frame
    delay = float(os.environ.get(SLOW_RENDER_ENV, "0"))
    with VideoWriter(
        request.output,
        like=info,
        codec=request.options.codec,
        overwrite=request.overwrite,
        audio=AudioSpec.from_file(request.audio),
        first_source_frame=request.start_frame,
    ) as writer:
        for done, frame in enumerate(read_frames(request.video, request.start_frame, end, info=info), start=1):
            writer.write(frame)
            report(progress, "copy", done, total)
            time.sleep(delay)
    return RenderResult(
        output=request.output,
        frame_count=total,
        passed_through=(),
        report={"renderer": "copy", "frames_copied": total},
    )

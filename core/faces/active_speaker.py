"""Who speaks: the face whose mouth moves with the original dialogue's voice activity, stretch by stretch.

The original (production) dialogue says *when* someone speaks (a voice-activity detector); the faces say *who*:
the speaker's mouth moves while the voice is on. For each face, the articulation on each frame is how much its
mouth opening changes around that frame: the standard deviation of the mouth aspect ratio (MAR, `keydub.core.metrics`)
over 0.2 s, about one syllable. A face's score on a stretch of speech is its voice-weighted mean articulation there,
less its mean articulation where the shot is silent (when the shot has at least 0.5 s of silence to measure it on):
a mouth that moves whether or not anyone speaks (chewing, a laugh, a silent listener's mimicry) gains nothing.

Each stretch of speech (a run of voice activity, split into turns of at most 4 s so that a change of speaker
without a pause still shows) goes to the face with the highest score, with a confidence in [0, 1]:

    confidence = 1 - max(second best score, STILL_MOUTH) / best score

so 0.5 means the speaker's mouth moved twice as much as any other face's, and twice as much as a still mouth's
landmarks jitter. `STILL_MOUTH` (0.01 MAR) is about six times the articulation of a still mouth measured on our
test media (0.0003-0.0017 with dlib landmarks) and under half that of a talking one (0.024-0.054 per stretch). A
stretch whose best score is below `STILL_MOUTH` is speech with no visible speaker (off screen, voice-over): it goes
to nobody. Turns under `UNSURE_BELOW` (0.5) are unsure: a batch skips them and the panel asks.
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from keydub.core.audio.vad import SPEECH_THRESHOLD
from keydub.core.errors import InvalidParameterError
from keydub.core.faces.tracking import FaceTrack
from keydub.core.metrics import mar_series


UNSURE_BELOW = 0.5
"""Confidence under which a turn's speaker is unsure."""
STILL_MOUTH = 0.01
"""Articulation (MAR standard deviation over 0.2 s) that a still mouth's landmark jitter stays under."""
ARTICULATION_WINDOW = Fraction(1, 5)
"""Seconds over which articulation is measured: about one syllable."""
MIN_SPEECH = Fraction(1, 4)
"""Shorter runs of voice are dropped (a cough, a click); Silero's `min_speech_duration_ms` default."""
MIN_SILENCE = Fraction(1, 5)
"""Shorter pauses do not end a run of speech (a breath between words)."""
MAX_TURN = Fraction(4)
"""Longer runs of speech are cut into equal turns of at most this many seconds."""
MIN_SILENCE_BASELINE = Fraction(1, 2)
"""Seconds of silence with the face on screen needed to measure its articulation when nobody speaks."""
MIN_PRESENCE = 0.5
"""Share of a turn's frames a face must be on to be a candidate speaker."""


@dataclass(frozen=True)
class SpeakerTurn:
    """One stretch of speech and the face found speaking in it.

    Args:
        start, end (`int`): frames `[start, end)` of the analysed range.
        track_id (`int | None`): the speaking face's track, `None` when no visible face speaks.
        confidence (`float`): in [0, 1], see the module docstring.
        scores (`tuple[tuple[int, float], ...]`): `(track_id, score)` of every candidate face, best first.
    """

    start: int
    end: int
    track_id: int | None
    confidence: float
    scores: tuple[tuple[int, float], ...]

    @property
    def is_sure(self) -> bool:
        return self.confidence >= UNSURE_BELOW

    def to_dict(self, first_frame: int = 0) -> dict[str, Any]:
        """Plain data with frames offset by `first_frame` (the range's first source frame)."""
        return {
            "range": [first_frame + self.start, first_frame + self.end],
            "track_id": self.track_id,
            "confidence": round(self.confidence, 4),
            "sure": self.is_sure,
            "scores": {str(track_id): round(score, 5) for track_id, score in self.scores},
        }


@dataclass(frozen=True)
class ActiveSpeakers:
    """The speaker of every stretch of speech of a range.

    Args:
        frame_count (`int`): frames in the range.
        voice (`np.ndarray`): `(frame_count,)` speech probability of each frame.
        turns (`tuple[SpeakerTurn, ...]`): the stretches of speech, in order.
    """

    frame_count: int
    voice: np.ndarray
    turns: tuple[SpeakerTurn, ...]

    def segments_of(self, track_id: int) -> list[SpeakerTurn]:
        """The turns a face speaks (sure or not), in order; empty for a face that speaks nowhere."""
        return [turn for turn in self.turns if turn.track_id == track_id]

    def speaking_tracks(self) -> list[int]:
        """The tracks that speak somewhere, in order of first turn."""
        return list(dict.fromkeys(turn.track_id for turn in self.turns if turn.track_id is not None))

    def to_dict(self, first_frame: int = 0) -> dict[str, Any]:
        return {
            "speech_frames": int((self.voice > SPEECH_THRESHOLD).sum()),
            "frame_count": self.frame_count,
            "unsure_below": UNSURE_BELOW,
            "turns": [turn.to_dict(first_frame) for turn in self.turns],
        }


def mouth_articulation(landmarks: np.ndarray, frame_rate: Fraction) -> np.ndarray:
    """How much the mouth opening changes around each frame: the MAR's standard deviation over 0.2 s.

    Args:
        landmarks (`np.ndarray`): `(n, 68, 2)` landmarks, NaN where the face is absent.
        frame_rate (`Fraction`): frames per second.

    Returns:
        `np.ndarray`: `(n,)` float64, NaN where the face is absent (or fewer than two of the window's frames have it).
    """
    mar = mar_series(landmarks)
    half = max(1, round(ARTICULATION_WINDOW * Fraction(frame_rate) / 2))
    padded = np.pad(mar, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    enough = np.isfinite(windows).sum(axis=1) >= 2
    articulation = np.full(len(mar), np.nan)
    with np.errstate(invalid="ignore"):
        articulation[enough] = np.nanstd(windows[enough], axis=1)
    articulation[~np.isfinite(mar)] = np.nan
    return articulation


def speech_segments(voice: np.ndarray, frame_rate: Fraction) -> list[tuple[int, int]]:
    """Runs `[start, end)` of frames with speech: pauses under 0.2 s bridged, runs under 0.25 s dropped, runs over
    4 s cut into equal turns."""
    rate = Fraction(frame_rate)
    speech = np.asarray(voice) > SPEECH_THRESHOLD
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    runs = [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2], strict=True)]
    merged: list[list[int]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < MIN_SILENCE * rate:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    longest = max(1, int(MAX_TURN * rate))
    segments = []
    for start, end in merged:
        if end - start < MIN_SPEECH * rate:
            continue
        pieces = -(-(end - start) // longest)
        bounds = np.linspace(start, end, pieces + 1).round().astype(int)
        segments += [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return segments


def find_active_speakers(tracks: list[FaceTrack], voice: np.ndarray, frame_rate: Fraction) -> ActiveSpeakers:
    """The speaking face of every stretch of speech of a range.

    Args:
        tracks (`list[FaceTrack]`): the range's face tracks, `first_frame` relative to the range's start (as
            `ClipAnalysis.tracks_in_range` gives them).
        voice (`np.ndarray`): `(frame_count,)` speech probability of each frame of the range (`voice_activity`).
        frame_rate (`Fraction`): frames per second.

    Returns:
        `ActiveSpeakers`: one turn per stretch of speech.
    """
    voice = np.asarray(voice, dtype=np.float64)
    if voice.ndim != 1 or not np.isfinite(voice).all():
        raise InvalidParameterError(f"voice activity must be one finite value per frame, got shape {voice.shape}")
    frame_count = len(voice)
    articulation = {track.track_id: _range_articulation(track, frame_count, frame_rate) for track in tracks}
    baseline = {track_id: _silence_baseline(values, voice, frame_rate) for track_id, values in articulation.items()}
    turns = []
    for start, end in speech_segments(voice, frame_rate):
        weights = voice[start:end]
        scores = []
        for track_id, values in articulation.items():
            window = values[start:end]
            present = np.isfinite(window)
            if present.mean() < MIN_PRESENCE or weights[present].sum() <= 0:
                continue
            score = float(np.average(window[present], weights=weights[present])) - baseline[track_id]
            scores.append((track_id, score))
        scores.sort(key=lambda item: -item[1])
        turns.append(_turn(start, end, scores))
    return ActiveSpeakers(frame_count=frame_count, voice=voice, turns=tuple(turns))


def _turn(start: int, end: int, scores: list[tuple[int, float]]) -> SpeakerTurn:
    best = scores[0][1] if scores else 0.0
    if best <= STILL_MOUTH:
        # Nobody visible moves their mouth more than a still mouth: the voice is off screen.
        return SpeakerTurn(start, end, None, 1.0 - max(best, 0.0) / STILL_MOUTH, tuple(scores))
    rival = max(scores[1][1] if len(scores) > 1 else 0.0, STILL_MOUTH)
    return SpeakerTurn(start, end, scores[0][0], 1.0 - rival / best, tuple(scores))


def _range_articulation(track: FaceTrack, frame_count: int, frame_rate: Fraction) -> np.ndarray:
    """The track's articulation on every frame of the range, NaN where it is absent."""
    landmarks = np.full((frame_count, 68, 2), np.nan, dtype=np.float32)
    frames = track.first_frame + np.flatnonzero(track.present)
    inside = (frames >= 0) & (frames < frame_count)
    landmarks[frames[inside]] = track.landmarks[track.present][inside]
    return mouth_articulation(landmarks, frame_rate)


def _silence_baseline(articulation: np.ndarray, voice: np.ndarray, frame_rate: Fraction) -> float:
    """The face's mean articulation where nobody speaks, 0 without enough such frames to measure it."""
    silent = (voice <= SPEECH_THRESHOLD) & np.isfinite(articulation)
    if silent.sum() < MIN_SILENCE_BASELINE * Fraction(frame_rate):
        return 0.0
    return float(articulation[silent].mean())

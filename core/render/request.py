"""What a render is asked for and what it returns: plain data shared by the CLI, the batch timeline and the panel.

Kept free of heavy imports so that building a command line or a job does not load the engine.
"""

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from keydub.core.plain_data import from_plain, to_plain
from keydub.core.render.options import RenderOptions


@dataclass(frozen=True)
class FaceChoice:
    """Which face to regenerate: the largest track by default, else a click or a track id.

    Args:
        point (`tuple[float, float] | None`): a source-pixel `(x, y)` inside the wanted face.
        frame (`int | None`): the source frame index the point refers to (default: the first frame of the range).
        track_id (`int | None`): a track id as printed by `keydub inspect`.
    """

    point: tuple[float, float] | None = None
    frame: int | None = None
    track_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaceChoice":
        return from_plain(cls, data)


@dataclass(frozen=True)
class Speaker:
    """One face of a shot and the dub its lips follow, when a shot has several speakers (or a mixed dub).

    Args:
        face (`FaceChoice`): which face (a click or a track id; a speaker's face must be named).
        audio (`Path | None`): its own dub stem; `None` for the request's `audio` (a mixed dub).
        audio_offset (`Fraction | None`): seconds its stem is delayed against the picture; `None` for the
            request's `audio_offset`.
        frames (`tuple[tuple[int, int], ...] | None`): the source frame ranges `[start, end)` where this face is
            lip-synced; `None` for wherever it is present (or, with `active_speaker`, wherever it speaks).
        name (`str`): the character's name, named in the report, QC and markers ("" for none).
        consent (`str`): a free-text consent reference for this person ("" for none), kept in the usage record.
    """

    face: FaceChoice
    audio: Path | None = None
    audio_offset: Fraction | None = None
    frames: tuple[tuple[int, int], ...] | None = None
    name: str = ""
    consent: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Speaker":
        return from_plain(cls, data)


@dataclass(frozen=True)
class RenderRequest:
    """Everything that decides a render's output: its inputs and its `RenderOptions`. Pure data: JSON round-trips
    through `to_dict`/`from_dict`.

    Args:
        video (`Path`): the source clip; never modified.
        audio (`Path | None`): the dub audio driving the lips (any codec, rate and layout) and the output's sound;
            `None` only when every speaker has its own stem (the output then carries the source's sound).
        output (`Path`): the file to write (atomically; never over an existing file unless `overwrite`).
        start_frame (`int`, defaults to 0): first source frame to render, handles included.
        end_frame (`int | None`): one past the last source frame to render; `None` for the clip's end.
        audio_offset (`Fraction`, defaults to 0): seconds the dub is delayed against the picture (negative: earlier).
        face (`FaceChoice`): which face to regenerate (when there are no `speakers`).
        occluders (`tuple[dict, ...]`): occlusion prompts as plain dicts (see `keydub.core.occlusion`).
        overwrite (`bool`): replace an existing output file.
        report (`Path | None`): where to write the JSON report.
        options (`RenderOptions`): how to render (weights, device, sampler settings, codec, ...).
        speakers (`tuple[Speaker, ...]`): several faces, each with its own dub or frames, generated in one pass into
            one output; empty for the one `face` driven by `audio`.
        active_speaker (`bool`): lip-sync each face only where it speaks in the original dialogue (every face of
            the shot, or each of `speakers`); where no face is sure to be the speaker, nothing changes.
        original_audio (`Path | None`): the original dialogue for `active_speaker`, on the clip's clock; `None`
            for the clip's own sound.
        consent (`str`): a consent reference for the face when there are no `speakers` ("" for none).
        placed_as (`Path | None`): where `output` goes once rendered, when it is rendered elsewhere first (a
            batch's staging folder): the usage record is kept in its folder and names it. `None`: `output` stays.
    """

    video: Path
    audio: Path | None
    output: Path
    start_frame: int = 0
    end_frame: int | None = None
    audio_offset: Fraction = Fraction(0)
    face: FaceChoice = field(default_factory=FaceChoice)
    occluders: tuple[dict[str, Any], ...] = ()
    overwrite: bool = False
    report: Path | None = None
    options: RenderOptions = field(default_factory=RenderOptions)
    speakers: tuple[Speaker, ...] = ()
    active_speaker: bool = False
    original_audio: Path | None = None
    consent: str = ""
    placed_as: Path | None = None

    def face_speakers(self) -> tuple[Speaker, ...]:
        """Every face to regenerate, each with its own audio and offset filled in: `speakers`, or the one `face`."""
        speakers = self.speakers or (Speaker(self.face, consent=self.consent),)
        return tuple(
            replace(
                speaker,
                audio=self.audio if speaker.audio is None else speaker.audio,
                audio_offset=self.audio_offset if speaker.audio_offset is None else speaker.audio_offset,
            )
            for speaker in speakers
        )

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RenderRequest":
        return from_plain(cls, data)

    def with_options(self, **changes: Any) -> "RenderRequest":
        """This request with some options changed (checked), e.g. `request.with_options(device="cuda")`."""
        return replace(self, options=replace(self.options, **changes))


@dataclass(frozen=True)
class RenderResult:
    """What a render produced.

    Args:
        output (`Path`): the written file.
        frame_count (`int`): frames written (always the number of source frames in the range).
        passed_through (`tuple[tuple[int, str], ...]`): source frame indices left unchanged, with the reason.
        report (`dict`): the JSON report (also written to `request.report` when set).
    """

    output: Path
    frame_count: int
    passed_through: tuple[tuple[int, str], ...]
    report: dict[str, Any]

"""What a render is asked for and what it returns: plain data shared by the CLI, the batch timeline and the panel.

Kept free of heavy imports so that building a command line or a job does not load the engine.
"""

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from keydub.core.plain_data import from_plain, to_plain


# The landmark detectors a render can use (`keydub.core.faces.get_landmark_backend`): face-alignment is the paper's.
LANDMARK_BACKENDS = ("face-alignment", "dlib")


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
class RenderRequest:
    """Everything that decides a render's output. Pure data: JSON round-trips through `to_dict`/`from_dict`.

    Args:
        video (`Path`): the source clip; never modified.
        audio (`Path`): the dub audio driving the lips (any codec, rate and layout).
        output (`Path`): the file to write (atomically; never over an existing file unless `overwrite`).
        start_frame (`int`, defaults to 0): first source frame to render, handles included.
        end_frame (`int | None`): one past the last source frame to render; `None` for the clip's end.
        audio_offset (`Fraction`, defaults to 0): seconds the dub is delayed against the picture (negative: earlier).
        face (`FaceChoice`): which face to regenerate.
        identity (`str | int`, defaults to `"first"`): the identity frame: `"first"` (official), `"auto"` (a frontal
            closed-mouth frame) or a frame index relative to `start_frame`.
        occluders (`tuple[dict, ...]`): occlusion prompts as plain dicts (see `keydub.core.occlusion`).
        weights, vae, hubert, wavlm (`str | None`): hub ids or local folders overriding the default weights.
        device (`str`, defaults to `"auto"`): `"auto"` (CUDA when present), `"cpu"`, `"cuda"` or `"cuda:N"`.
        dtype (`str`, defaults to `"auto"`): `"auto"` (bfloat16 on CUDA, float32 on CPU), `"float32"`,
            `"bfloat16"` or `"float16"`: the precision of the U-Nets (the VAE always runs in float32).
        steps (`int`, defaults to 10), audio_guidance (`float`, 5.0), ref_guidance (`float`, 2.0), seed (`int`, 0):
            sampler settings; the defaults are the official ones.
        codec (`str`, defaults to `"prores"`): `"prores"` (422 HQ 10-bit), `"h264"` or `"ffv1"`.
        keep_source_audio (`bool`): write the source's audio instead of the dub.
        overwrite (`bool`): replace an existing output file.
        landmark_backend (`str`, defaults to `"face-alignment"`): `"face-alignment"` or `"dlib"`.
        report (`Path | None`): where to write the JSON report.
    """

    video: Path
    audio: Path
    output: Path
    start_frame: int = 0
    end_frame: int | None = None
    audio_offset: Fraction = Fraction(0)
    face: FaceChoice = field(default_factory=FaceChoice)
    identity: str | int = "first"
    occluders: tuple[dict[str, Any], ...] = ()
    weights: str | None = None
    vae: str | None = None
    hubert: str | None = None
    wavlm: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    steps: int = 10
    audio_guidance: float = 5.0
    ref_guidance: float = 2.0
    seed: int = 0
    codec: str = "prores"
    keep_source_audio: bool = False
    overwrite: bool = False
    landmark_backend: str = "face-alignment"
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RenderRequest":
        return from_plain(cls, data)


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

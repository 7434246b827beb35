"""A job: everything that decides one clip's render, as plain data, and the hash that says when to re-render.

A `ClipJob` is built by the timeline planner (or the panel) and stored as JSON in the job store. Its
`content_hash()` covers exactly what changes the rendered pixels and sound: the source file's identity, the frame
range (handles included) and its timecode, the driving audio's samples, the face choice, the occlusion prompts,
the weights and sampler parameters and the output format. Two jobs with the same hash produce the same file, so
a batch re-run renders only clips whose hash changed.
"""

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.core.plain_data import from_plain, to_plain
from keydub.core.render.request import FaceChoice, RenderRequest


# Bumped whenever the meaning of a hashed field changes, so that renders made under the old meaning are redone.
JOB_FORMAT = 1

# Request fields a job fills in from the timeline; every other `RenderRequest` field is a render option.
_PER_CLIP_FIELDS = frozenset(
    {"video", "audio", "output", "start_frame", "end_frame", "audio_offset", "face", "occluders", "report"}
)
RENDER_OPTION_NAMES = frozenset(f.name for f in fields(RenderRequest)) - _PER_CLIP_FIELDS

# Options that change where or whether a render runs but not what it produces: moving a batch to another box
# or allowing a file to be replaced must not invalidate finished renders.
_OUTPUT_NEUTRAL_OPTIONS = frozenset({"device", "overwrite"})

# Container per codec: ProRes and H.264 go in QuickTime (a `tmcd` track carries the start timecode); FFV1 is not
# allowed in QuickTime, Matroska carries it with a TIMECODE tag.
CONTAINER_BY_CODEC = {"prores": ".mov", "h264": ".mov", "ffv1": ".mkv"}


def _is_whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_optional_text(value: Any) -> bool:
    return value is None or (isinstance(value, str) and bool(value))


# What each render option accepts, as (check, what to write in the message).
_OPTION_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "weights": (_is_optional_text, "a hub id or a local folder"),
    "vae": (_is_optional_text, "a hub id or a local folder"),
    "hubert": (_is_optional_text, "a hub id or a local folder"),
    "wavlm": (_is_optional_text, "a hub id or a local folder"),
    "device": (lambda v: isinstance(v, str) and bool(v), "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    "dtype": (lambda v: v in ("auto", "float32", "float16", "bfloat16"), "auto, float32, float16 or bfloat16"),
    # The Align-Your-Steps schedule KeySync was tuned with starts at 10 steps and cannot be shortened.
    "steps": (lambda v: _is_whole(v, 10), "a whole number >= 10 (the official value is 10)"),
    "audio_guidance": (_is_real, "a number"),
    "ref_guidance": (_is_real, "a number"),
    "seed": (lambda v: _is_whole(v, 0), "a whole number >= 0"),
    "identity": (lambda v: v in ("first", "auto") or _is_whole(v, 0), "'first', 'auto' or a frame number >= 0"),
    "codec": (lambda v: v in CONTAINER_BY_CODEC, ", ".join(CONTAINER_BY_CODEC)),
    "keep_source_audio": (lambda v: isinstance(v, bool), "true or false"),
    "overwrite": (lambda v: isinstance(v, bool), "true or false"),
    "landmark_backend": (lambda v: v in ("face-alignment", "dlib"), "face-alignment or dlib"),
}


def check_render_options(options: Mapping[str, Any], where: str = "render options") -> None:
    """Check render options (named as `RenderRequest` fields) before any work starts.

    Args:
        options (`Mapping[str, Any]`): e.g. `{"steps": 10, "codec": "prores"}`.
        where (`str`): where the options came from, for the message.

    Raises:
        `InvalidParameterError`: an unknown option, or a value of the wrong kind (the message names both).
    """
    unknown = sorted(set(options) - RENDER_OPTION_NAMES)
    if unknown:
        raise InvalidParameterError(
            f"{where}: unknown option(s) {', '.join(unknown)}; known options: {', '.join(sorted(RENDER_OPTION_NAMES))}"
        )
    for name, value in options.items():
        check, expected = _OPTION_CHECKS.get(name, (lambda _: True, ""))
        if not check(value):
            raise InvalidParameterError(f"{where}: {name} must be {expected}, not {value!r}")


@dataclass(frozen=True)
class SourceFile:
    """Identity of a source media file: its absolute path, size and modification time.

    A re-encoded or replaced file at the same path changes size or mtime, so its clips are rendered again.

    Args:
        path (`Path`): absolute path of the file.
        size (`int`): size in bytes.
        mtime_ns (`int`): modification time in nanoseconds.
    """

    path: Path
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> "SourceFile":
        """The identity of the file at `path` as it is now (the file must exist)."""
        info = os.stat(path)
        return cls(path=Path(path), size=info.st_size, mtime_ns=info.st_mtime_ns)


@dataclass(frozen=True)
class AudioPiece:
    """One stretch of dub audio under a clip: `duration` seconds of `path` from `file_start`, played `offset`
    seconds after the first rendered frame (handles included). Gaps between pieces are silence.

    Args:
        path (`Path`): the audio (or audio/video) file.
        file_start (`Fraction`): seconds from the first sample of the file.
        duration (`Fraction`): seconds.
        offset (`Fraction`): seconds from the start of the render window.
        label (`str`): where the piece came from, for plans and reports, e.g. `"DX es-419: line_012"`.
    """

    path: Path
    file_start: Fraction
    duration: Fraction
    offset: Fraction
    label: str = ""


@dataclass(frozen=True)
class ClipJob:
    """Everything that decides one clip's render. Pure data: `to_dict`/`from_dict` round-trip through JSON.

    Args:
        job_id (`str`): stable key of the clip in its batch (e.g. `"DX es-419/Video 1@01:00:04:12"`).
        name (`str`): the clip's name in the timeline, for people.
        source (`SourceFile`): the picture media.
        frame_rate (`Fraction`): the media's exact frame rate.
        start_frame (`int`): first frame to render, counted from the first frame of the file, handles included.
        end_frame (`int`): one past the last frame to render.
        timecode_start (`int`): source timecode of `start_frame`, as an absolute frame number at `frame_rate`.
        audio_pieces (`tuple[AudioPiece, ...]`): the dub audio under the clip and its handles.
        audio_file (`Path`): the assembled driving audio (a WAV named after its content hash).
        audio_sha256 (`str`): hash of the assembled samples.
        audio_sample_rate (`int`): rate of the assembled audio.
        face (`FaceChoice`): which face to regenerate.
        occluders (`tuple[dict, ...]`): occlusion prompts as plain dicts.
        options (`dict[str, Any]`): render options, named as `RenderRequest` fields (codec, weights, steps, ...).
    """

    job_id: str
    name: str
    source: SourceFile
    frame_rate: Fraction
    start_frame: int
    end_frame: int
    timecode_start: int
    audio_pieces: tuple[AudioPiece, ...]
    audio_file: Path
    audio_sha256: str
    audio_sample_rate: int
    face: FaceChoice = field(default_factory=FaceChoice)
    occluders: tuple[dict[str, Any], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_render_options(self.options, where=f"job {self.job_id!r}")
        if not 0 <= self.start_frame < self.end_frame:
            raise InvalidParameterError(
                f"job {self.job_id!r}: frame range [{self.start_frame}, {self.end_frame}) is empty or negative"
            )

    @property
    def frame_count(self) -> int:
        """Number of frames the render writes (handles included)."""
        return self.end_frame - self.start_frame

    @property
    def codec(self) -> str:
        return self.options.get("codec", RenderRequest.codec)

    def content_hash(self) -> str:
        """SHA-256 over everything that changes the output, as canonical JSON.

        The audio counts by its assembled samples (`audio_sha256`), not by where they came from: the same dub
        moved to another file or track drives the same lips.
        """
        identity = {
            "format": JOB_FORMAT,
            "source": to_plain(self.source),
            "frame_rate": str(self.frame_rate),
            "frames": [self.start_frame, self.end_frame],
            "timecode_start": self.timecode_start,
            "audio": [self.audio_sha256, self.audio_sample_rate],
            "face": to_plain(self.face),
            "occluders": list(self.occluders),
            "options": {k: v for k, v in self.options.items() if k not in _OUTPUT_NEUTRAL_OPTIONS},
        }
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def output_name(self) -> str:
        """File name of this job's render: the clip name made filesystem-safe, the hash, the codec's container."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._") or "clip"
        return f"{stem[:60]}_{self.content_hash()[:12]}{CONTAINER_BY_CODEC.get(self.codec, '.mov')}"

    def render_request(self, output: Path) -> RenderRequest:
        """The engine request that renders this job into `output`."""
        return RenderRequest(
            video=self.source.path,
            audio=self.audio_file,
            output=output,
            start_frame=self.start_frame,
            end_frame=self.end_frame,
            face=self.face,
            occluders=self.occluders,
            **self.options,
        )

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClipJob":
        return from_plain(cls, data)

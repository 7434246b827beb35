"""A job: everything that decides one clip's render, as plain data, and the hash that says when to re-render.

A `ClipJob` is built by the timeline planner (or the panel) and stored as JSON in the job store. Its
`content_hash()` covers exactly what changes the rendered pixels and sound: the source file's identity, the frame
range (handles included) and its timecode, the driving audio's samples, the face choice, the occlusion prompts,
the weights and sampler parameters and the output format. Two jobs with the same hash produce the same file, so
a batch re-run renders only clips whose hash changed.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from keydub.core.codecs import CODECS
from keydub.core.errors import InvalidParameterError
from keydub.core.plain_data import from_plain, to_plain
from keydub.core.render.options import RenderOptions
from keydub.core.render.request import FaceChoice, RenderRequest, Speaker


# Bumped whenever the meaning of a hashed field changes, so that renders made under the old meaning are redone.
JOB_FORMAT = 1


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
        options (`RenderOptions`): how to render; a mapping of option names (an older job's JSON) is read into one,
            the options it leaves out at their defaults.
        speakers (`tuple[Speaker, ...]`): several faces, each with its own dub stem (a WAV named after its content
            hash, as `audio_file` is), instead of the one `face`; empty for that one face.
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
    options: RenderOptions = field(default_factory=RenderOptions)
    speakers: tuple[Speaker, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.options, RenderOptions):
            object.__setattr__(self, "options", RenderOptions.from_dict(self.options, where=f"job {self.job_id!r}"))
        if not 0 <= self.start_frame < self.end_frame:
            raise InvalidParameterError(
                f"job {self.job_id!r}: frame range [{self.start_frame}, {self.end_frame}) is empty or negative"
            )

    @property
    def frame_count(self) -> int:
        """Number of frames the render writes (handles included)."""
        return self.end_frame - self.start_frame

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
            "options": self.options.hashed(),
        }
        if self.speakers:  # left out without speakers, so that one-face jobs keep their hashes
            # A stem counts by its samples too: its file is named after their hash.
            identity["speakers"] = [{**to_plain(s), "audio": s.audio and s.audio.stem} for s in self.speakers]
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def output_name(self) -> str:
        """File name of this job's render: the clip name made filesystem-safe, the hash, the codec's container."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._") or "clip"
        return f"{stem[:60]}_{self.content_hash()[:12]}{CODECS[self.options.codec].container}"

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
            options=self.options,
            speakers=self.speakers,
        )

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClipJob":
        return from_plain(cls, data)

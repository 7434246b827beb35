"""What the editor decided for each clip, kept with the jobs of the output folder so that nothing is lost.

`<out>/.keydub/panel/sessions.json` holds how the folder was opened (a video + dub, or a timeline and its dub
track), the render options, and one `ClipSession` per clip; brush masks are PNGs in `<out>/.keydub/panel/masks/`.
`<out>/.keydub/panel/cast.json` holds the cast (as `cast.toml` lays it out, paths absolute) and each shot's
overrides (a face given to another character, or to nobody).
The file is rewritten atomically after every change, so a crash loses at most the change being made.
"""

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keydub.core.errors import InvalidParameterError, JobStoreError
from keydub.core.files import write_json_atomically
from keydub.core.plain_data import from_plain, to_plain
from keydub.core.render.options import RenderOptions
from keydub.core.render.request import FaceChoice
from keydub.plugin.cast.cast_file import Cast


# Bumped when the meaning of a stored field changes; a newer file is refused rather than misread.
SESSION_FORMAT = 1
PANEL_FOLDER = Path(".keydub", "panel")
# clip id -> face track id -> the character the editor gave that face in that shot (`None`: nobody).
ShotOverrides = dict[str, dict[int, str | None]]


@dataclass(frozen=True)
class ClipSession:
    """One clip as the editor works on it. Pure data: `to_dict` / `from_dict` round-trip through JSON.

    Args:
        clip_id (`str`): the clip's key in its timeline (`PlannedClip.clip_id`).
        name (`str`): the clip's name.
        video (`Path`): the picture media.
        start_frame (`int`), end_frame (`int`): the range to render, `[start, end)` in frames of the file
            (handles not included; they are a render option of the folder).
        dub (`str`): where the dub audio comes from, for people (a file name or the dub track's name).
        record_in (`str | None`), record_out (`str | None`): record timecodes of the clip on its timeline.
        face (`FaceChoice`): the chosen face (`point` in source pixels, `frame` a frame of the file).
        occluders (`tuple[dict, ...]`): occlusion prompts as `OcclusionPrompt.to_dict()` gives them.
        params (`dict[str, Any]`): render options for this clip only (`keydub.plugin.timeline.clips.PER_CLIP_PARAMS`).
    """

    clip_id: str
    name: str
    video: Path
    start_frame: int
    end_frame: int
    dub: str = ""
    record_in: str | None = None
    record_out: str | None = None
    face: FaceChoice = field(default_factory=FaceChoice)
    occluders: tuple[dict[str, Any], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.start_frame < self.end_frame:
            raise InvalidParameterError(
                f"clip {self.name!r}: range [{self.start_frame}, {self.end_frame}) is empty "
                "or negative; set the in point before the out point"
            )
        RenderOptions().with_params(self.params, where=f"clip {self.name!r}")

    @property
    def has_face(self) -> bool:
        """Whether the editor chose a face (else a render takes the largest one)."""
        return self.face.point is not None or self.face.track_id is not None

    def with_changes(self, **changes: Any) -> "ClipSession":
        """A copy with some fields replaced (checked again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClipSession":
        return from_plain(cls, data)


@dataclass(frozen=True)
class OpenedSource:
    """How an output folder was opened, so that reopening it finds the same clips.

    Args:
        video (`Path | None`), dub (`Path | None`): a single clip and its dub audio.
        timeline (`Path | None`), dub_tracks (`tuple[str, ...]`): or an OTIO timeline and its dub track(s).
    """

    video: Path | None = None
    dub: Path | None = None
    timeline: Path | None = None
    dub_tracks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OpenedSource":
        return from_plain(cls, data)


class SessionStore:
    """The panel's file in an output folder: the opened source, the render options and every clip's session.

    Args:
        out_dir (`Path`): the output folder (the job store's folder).
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir).absolute()
        self.path = self.out_dir / PANEL_FOLDER / "sessions.json"
        self.masks = self.out_dir / PANEL_FOLDER / "masks"
        self.cast_path = self.out_dir / PANEL_FOLDER / "cast.json"

    def load(self) -> tuple[OpenedSource | None, dict[str, Any], dict[str, ClipSession]]:
        """`(source, render_options, sessions by clip id)`; nothing stored reads as `(None, {}, {})`.

        Raises:
            `JobStoreError`: the file is damaged or from a newer Keydub.
        """
        if not self.path.is_file():
            return None, {}, {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format", 0) > SESSION_FORMAT:
                raise JobStoreError(
                    f"{self.path} was written by a newer Keydub (format {data['format']}); update "
                    "Keydub or open another output folder"
                )
            sessions = [ClipSession.from_dict(item) for item in data.get("sessions", [])]
            return (
                OpenedSource.from_dict(data.get("source") or {}),
                dict(data.get("render_options") or {}),
                {session.clip_id: session for session in sessions},
            )
        except (ValueError, KeyError, TypeError, InvalidParameterError) as error:
            raise JobStoreError(
                f"the panel sessions {self.path} cannot be read ({error}); delete the file to start "
                "the clips over (renders and the job store are kept)"
            ) from error

    def save(self, source: OpenedSource, render_options: dict[str, Any], sessions: list[ClipSession]) -> None:
        """Write everything, atomically."""
        write_json_atomically(
            self.path,
            {
                "format": SESSION_FORMAT,
                "source": source.to_dict(),
                "render_options": render_options,
                "sessions": [session.to_dict() for session in sessions],
            },
        )

    def load_cast(self, source: OpenedSource) -> tuple[Cast, ShotOverrides]:
        """The stored cast and, when it was stored for `source`, its shots' overrides (clip ids are the source's);
        nothing stored reads as an empty cast.

        Raises:
            `JobStoreError`: the file is damaged or from a newer Keydub.
        """
        if not self.cast_path.is_file():
            return Cast(), {}
        where = f"the panel cast {self.cast_path}"
        try:
            data = json.loads(self.cast_path.read_text(encoding="utf-8"))
            if data.get("format", 0) > SESSION_FORMAT:
                raise JobStoreError(f"{where} was written by a newer Keydub (format {data['format']}); update Keydub")
            cast = Cast.from_dict(data["cast"], self.cast_path.parent, where)
            if OpenedSource.from_dict(data.get("source") or {}) != source:
                return cast, {}
            overrides = {
                str(clip_id): {int(track_id): None if name is None else str(name) for track_id, name in faces.items()}
                for clip_id, faces in data.get("overrides", {}).items()
            }
            return cast, overrides
        except (ValueError, KeyError, TypeError, AttributeError, InvalidParameterError) as error:
            raise JobStoreError(
                f"{where} cannot be read ({error}); delete the file to start the cast over, or open a cast.toml"
            ) from error

    def save_cast(self, source: OpenedSource, cast: Cast, overrides: ShotOverrides) -> None:
        """Write the cast and the overrides of `source`'s shots, atomically."""
        write_json_atomically(
            self.cast_path,
            {
                "format": SESSION_FORMAT,
                "source": source.to_dict(),
                "cast": cast.to_dict(),
                "overrides": {
                    clip_id: {str(track_id): name for track_id, name in faces.items()}
                    for clip_id, faces in overrides.items()
                    if faces
                },
            },
        )

    def brush_mask_path(self, clip_id: str, object_id: int, frame: int) -> Path:
        """Where a brush mask of `clip_id` for occluder `object_id` on source frame `frame` is kept."""
        safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in clip_id).strip("._") or "clip"
        return self.masks / safe / f"occluder{object_id}_frame{frame}.png"

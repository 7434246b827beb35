"""What a timeline clip says about itself: Keydub's per-clip settings, its media file, and whether v1 can render it.

Per-clip settings live in the clip's `metadata["keydub"]`, written by the panel, the Resolve bridge or by hand:

```json
{"keydub": {
    "enabled": true,
    "id": "a stable id that survives re-edits (optional)",
    "face": {"point": [812.0, 455.5], "frame": 120},
    "occluders": [{"frame": 130, "points": [[900, 700]], "labels": [1]}],
    "audio": {"track": "DX fr-FR"},
    "params": {"seed": 7, "steps": 12}
}}
```

`audio` is one of `{"track": NAME}`, `{"tracks": [NAME, ...]}`, `{"lang": "fr-FR"}` or
`{"file": PATH, "start": SECONDS}` (the file's time, in seconds as a number or a fraction string, at the clip's
first recorded frame). Frame numbers in `face` and `occluders` count from the first frame of the media file.
"""

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import check_option, per_clip_options
from keydub.core.render.request import FaceChoice
from keydub.plugin.timeline.tracks import keydub_metadata


# Render options a clip may override (`OptionSpec.is_per_clip`); the rest (weights, device, codec...) are the same
# for the whole batch.
PER_CLIP_PARAMS = frozenset(per_clip_options())

# Effects that change a clip's speed. v1 renders frames 1:1 with the source, so these clips are refused.
_RETIME_WORDS = ("retime", "speed", "timewarp", "time warp")


@dataclass(frozen=True)
class AudioOverride:
    """A clip's own choice of dub audio, overriding the batch's dub tracks.

    Args:
        tracks (`tuple[str, ...]`): audio track names to take the dialogue from.
        language (`str | None`): take the audio track(s) in this language.
        file (`Path | None`): take the audio from this file instead of the timeline.
        file_start (`Fraction`): with `file`, its time in seconds at the clip's first recorded frame.
    """

    tracks: tuple[str, ...] = ()
    language: str | None = None
    file: Path | None = None
    file_start: Fraction = Fraction(0)


@dataclass(frozen=True)
class ClipSettings:
    """Keydub's settings for one clip, read from `metadata["keydub"]`.

    Args:
        enabled (`bool`): `False` leaves the clip alone (a reaction shot, a wide shot without a readable mouth).
        clip_id (`str | None`): a stable id stamped by the panel; `None` to key the clip by track and position.
        face (`FaceChoice`): which face to regenerate.
        occluders (`tuple[dict, ...]`): occlusion prompts.
        audio (`AudioOverride | None`): the clip's own dub audio.
        params (`dict[str, Any]`): render options for this clip only (names in `PER_CLIP_PARAMS`).
    """

    enabled: bool = True
    clip_id: str | None = None
    face: FaceChoice = field(default_factory=FaceChoice)
    occluders: tuple[dict[str, Any], ...] = ()
    audio: AudioOverride | None = None
    params: dict[str, Any] = field(default_factory=dict)


def read_clip_settings(clip: otio.schema.Clip, base_dir: Path) -> ClipSettings:
    """Parse and check a clip's `metadata["keydub"]`.

    Args:
        clip (`otio.schema.Clip`): the picture clip.
        base_dir (`Path`): folder relative audio-file paths are resolved against (the timeline file's folder).

    Raises:
        `InvalidParameterError`: a setting has the wrong type or an unknown name (the message names the clip).
    """
    data = keydub_metadata(clip)
    where = f"clip {clip.name!r}: metadata keydub"
    known = {"enabled", "id", "face", "occluders", "audio", "params"}
    # Keys the panel writes back as provenance on output clips are tolerated on input clips too.
    unknown = sorted(set(data) - known - {"job_id", "job_hash", "status", "output", "qc"})
    if unknown:
        raise InvalidParameterError(
            f"{where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidParameterError(f"{where}.enabled must be true or false, not {enabled!r}")
    clip_id = data.get("id")
    if clip_id is not None and not (isinstance(clip_id, str) and clip_id):
        raise InvalidParameterError(f"{where}.id must be a non-empty string, not {clip_id!r}")
    occluders = data.get("occluders", [])
    if not (isinstance(occluders, list) and all(isinstance(item, dict) for item in occluders)):
        raise InvalidParameterError(f"{where}.occluders must be a list of prompt objects")
    params = data.get("params", {})
    if not isinstance(params, dict) or set(params) - PER_CLIP_PARAMS:
        raise InvalidParameterError(f"{where}.params may only set {', '.join(sorted(PER_CLIP_PARAMS))}")
    for name, value in params.items():
        try:
            check_option(name, value)
        except InvalidParameterError as error:
            raise InvalidParameterError(f"{where}.params: {error}") from None
    return ClipSettings(
        enabled=enabled,
        clip_id=clip_id,
        face=_face(data.get("face"), where),
        occluders=tuple(occluders),
        audio=_audio_override(data.get("audio"), where, base_dir),
        params=params,
    )


def _face(value: Any, where: str) -> FaceChoice:
    if value is None:
        return FaceChoice()
    if not isinstance(value, dict) or set(value) - {"point", "frame", "track_id"}:
        raise InvalidParameterError(f"{where}.face must be an object with point [x, y], frame and/or track_id")
    point = value.get("point")
    if point is not None and not (
        isinstance(point, list) and len(point) == 2 and all(_is_number(c) and math.isfinite(c) for c in point)
    ):
        raise InvalidParameterError(f"{where}.face.point must be [x, y] in source pixels, not {point!r}")
    for key in ("frame", "track_id"):
        number = value.get(key)
        if number is not None and not (isinstance(number, int) and not isinstance(number, bool) and number >= 0):
            raise InvalidParameterError(f"{where}.face.{key} must be a whole number >= 0, not {number!r}")
    return FaceChoice.from_dict(value)


def _audio_override(value: Any, where: str, base_dir: Path) -> AudioOverride | None:
    if value is None:
        return None
    keys = set(value) if isinstance(value, dict) else set()
    if keys == {"track"} and isinstance(value["track"], str):
        return AudioOverride(tracks=(value["track"],))
    if (
        keys == {"tracks"}
        and isinstance(value["tracks"], list)
        and value["tracks"]
        and all(isinstance(name, str) for name in value["tracks"])
    ):
        return AudioOverride(tracks=tuple(value["tracks"]))
    if keys == {"lang"} and isinstance(value["lang"], str):
        return AudioOverride(language=value["lang"])
    if keys in ({"file"}, {"file", "start"}) and isinstance(value["file"], str):
        return AudioOverride(
            file=resolve_media_path(value["file"], base_dir),
            file_start=_seconds(value.get("start", 0), f"{where}.audio.start"),
        )
    raise InvalidParameterError(
        f'{where}.audio must be {{"track": NAME}}, {{"tracks": [NAMES]}}, '
        f'{{"lang": LANG}} or {{"file": PATH, "start": SECONDS}}, not {value!r}'
    )


def _seconds(value: Any, where: str) -> Fraction:
    """A non-negative time in seconds, written as a number or a fraction string, exactly."""
    try:
        # Through `str`, so that 0.1 written in JSON means one tenth, not the double nearest to it.
        seconds = Fraction(str(value)) if _is_number(value) or isinstance(value, str) else None
    except (ValueError, ZeroDivisionError):
        seconds = None
    if seconds is None or seconds < 0:
        raise InvalidParameterError(f'{where} must be seconds >= 0 (e.g. 12.5 or "1001/24"), not {value!r}')
    return seconds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def resolve_media_path(target_url: str, base_dir: Path) -> Path:
    """The file a media reference points to: `file://` URLs decoded, relative paths taken from `base_dir`.

    Resolve writes bare absolute paths; other tools write `file://` URLs. A relative path is resolved against the
    timeline file's folder, never against the working directory.

    Raises:
        `InvalidParameterError`: the path is empty, uses a scheme other than `file`, or contains `..` (which would
            make the same timeline point at different files depending on where it is read).
    """
    parsed = urlparse(target_url)
    if parsed.scheme == "file":
        text = unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise InvalidParameterError(
            f"media path {target_url!r} is a {parsed.scheme}: URL; Keydub reads local files "
            "only: copy the media locally and relink it"
        )
    else:
        text = target_url  # a bare path (a one-letter "scheme" is a Windows drive)
    if not text:
        raise InvalidParameterError("a clip has an empty media path; relink the clip in your editor and export again")
    if PureWindowsPath(text).drive and os.name != "nt":
        raise InvalidParameterError(
            f"media path {target_url!r} is a Windows path; relink the media on this machine "
            "and export the timeline again"
        )
    parts = PureWindowsPath(text).parts if "\\" in text else PurePosixPath(text).parts
    if ".." in parts:
        raise InvalidParameterError(
            f"media path {target_url!r} contains '..'; relink the clip to the file's full "
            "path in your editor and export again"
        )
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def media_path_problems(clips: Iterable[tuple[str, otio.schema.Clip]], base_dir: Path) -> list[str]:
    """Media paths that no clip could be rendered from, whatever the clip: `..` in the path, a missing folder.

    A missing file in an existing folder is one offline clip (skipped with a reason); a missing folder usually
    means a drive is not mounted on this machine, which would quietly skip everything, so it is reported up
    front together with every other path problem.

    Args:
        clips (`Iterable[tuple[str, otio.schema.Clip]]`): clips with a label for the message.
        base_dir (`Path`): the timeline file's folder.

    Returns:
        `list[str]`: one line per problem, naming the clip.
    """
    problems = []
    for label, clip in clips:
        reference = clip.media_reference
        if not isinstance(reference, otio.schema.ExternalReference):
            continue
        try:
            path = resolve_media_path(reference.target_url, base_dir)
        except InvalidParameterError as error:
            problems.append(f"{label}: {error}")
            continue
        if not path.parent.is_dir():
            problems.append(f"{label}: folder {path.parent} does not exist")
    return problems


def unrenderable_reason(clip: otio.schema.Clip, settings: ClipSettings) -> str | None:
    """Why v1 leaves `clip` alone, or `None` when it can be rendered (media still to be checked)."""
    if not clip.enabled:
        return "disabled in the timeline"
    if not settings.enabled:
        return "turned off in its Keydub settings (metadata keydub.enabled is false)"
    reference = clip.media_reference
    if isinstance(reference, otio.schema.GeneratorReference):
        return "a generator (title, solid, ...) has no camera picture to dub"
    if isinstance(reference, otio.schema.MissingReference):
        return "media offline (the timeline has no file for this clip); relink it in your editor"
    if isinstance(reference, otio.schema.ImageSequenceReference):
        return "image sequences are not supported yet; render the sequence to a movie file and relink"
    if not isinstance(reference, otio.schema.ExternalReference):
        return f"unsupported media reference {type(reference).__name__}"
    retime = retime_description(clip)
    if retime is not None:
        return f"retimed ({retime}); Keydub renders at the source speed only: bake the speed change first"
    return None


def range_problem(clip: otio.schema.Clip) -> str | None:
    """What makes `clip`'s source range (or its media's available range) nonsense, or `None` when it is usable.

    A zero or negative duration, a rate that is zero, negative or not a number, or a time that is not finite are
    edits no editor makes; they come from a damaged or hand-written file and are reported, never taken for a clip
    without dialogue.
    """
    ranges = [("source range", clip.source_range)]
    reference = clip.media_reference
    if reference is not None and getattr(reference, "available_range", None) is not None:
        ranges.append(("media's available range", reference.available_range))
    for what, time_range in ranges:
        if time_range is None:
            continue
        for part, value in (("start", time_range.start_time), ("duration", time_range.duration)):
            if not (math.isfinite(value.rate) and value.rate > 0):
                return f"its {what} has a {part} at a rate of {value.rate:g} fps"
            if not math.isfinite(value.value):
                return f"its {what} has a {part} of {value.value:g} frames"
        frames = time_range.duration.value
        if frames <= 0:
            what_length = "zero" if frames == 0 else "a negative"
            return f"its {what} has {what_length} duration ({frames:g} frames at {time_range.duration.rate:g} fps)"
    return None


def retime_description(item: otio.schema.Clip) -> str | None:
    """A short description of the first speed-changing effect on `item`, or `None`."""
    for effect in item.effects:
        if isinstance(effect, otio.schema.LinearTimeWarp):
            return f"speed x{effect.time_scalar:g}"
        if isinstance(effect, otio.schema.TimeEffect):
            return effect.effect_name or type(effect).__name__
        resolve_name = effect.metadata.get("Resolve_OTIO", {})
        names = [effect.effect_name, effect.name]
        if isinstance(resolve_name, Mapping):
            names.append(str(resolve_name.get("Effect Name", "")))
        for name in names:
            if name and any(word in name.casefold() for word in _RETIME_WORDS):
                return name
    return None

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
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import check_option, per_clip_options
from keydub.core.render.request import FaceChoice
from keydub.plugin.cluster.path_map import PathMap, is_windows_path
from keydub.plugin.timeline.tracks import keydub_metadata


# Render options a clip may override (`OptionSpec.is_per_clip`); the rest (weights, device, codec...) are the same
# for the whole batch.
PER_CLIP_PARAMS = frozenset(per_clip_options())

# Files that hold one picture: a still on a timeline has nothing that moves, so nothing to dub. (A numbered
# image sequence comes as an `ImageSequenceReference`.)
STILL_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".psd", ".tga", ".exr", ".dpx", ".webp", ".heic"}
)

# Resolve writes its whole Inspector block (Transform, Cropping, Dynamic Zoom, Retime and Scaling...) as
# `Resolve Effect`s when one value changes, and a speed change as a `LinearTimeWarp` beside them. A speed
# parameter in that block is read where Resolve writes one (its id names the speed); at its default it is 100 %.
_RESOLVE_METADATA = "Resolve_OTIO"
_SPEED_PARAMETER_WORD = "speed"


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


def read_clip_settings(clip: otio.schema.Clip, base_dir: Path, relink: PathMap | None = None) -> ClipSettings:
    """Parse and check a clip's `metadata["keydub"]`.

    Args:
        clip (`otio.schema.Clip`): the picture clip.
        base_dir (`Path`): folder relative audio-file paths are resolved against (the timeline file's folder).
        relink (`PathMap | None`): the editor's folders as this machine mounts them.

    Raises:
        `InvalidParameterError`: a setting has the wrong type or an unknown name (the message names the clip).
    """
    data = keydub_metadata(clip)
    where = f"clip {clip.name!r}: metadata keydub"
    known = {"enabled", "id", "face", "occluders", "audio", "params"}
    # Keys the panel writes back as provenance on output clips are tolerated on input clips too.
    unknown = sorted(set(data) - known - {"job_id", "job_hash", "status", "output", "qc", "label", "manifest_id"})
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
        audio=_audio_override(data.get("audio"), where, base_dir, relink),
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


def _audio_override(value: Any, where: str, base_dir: Path, relink: PathMap | None) -> AudioOverride | None:
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
            file=resolve_media_path(value["file"], base_dir, relink),
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


def media_path_text(target_url: str) -> str:
    """The path a media reference names, as the editor's machine wrote it.

    `file://` URLs are decoded, with the Windows forms the XML adapters write: a drive
    (`file:///C:/media/a.mov`, `file://localhost/D%3a/media/a.mov`) becomes `C:/media/a.mov`, and a host other
    than `localhost` (`file://server/share/a.mov`) a UNC path, `\\\\server\\share\\a.mov`. A bare path is
    returned as it is.

    Raises:
        `InvalidParameterError`: the reference is a URL of another scheme (http, s3...).
    """
    parsed = urlparse(target_url)
    if parsed.scheme != "file":
        if parsed.scheme and len(parsed.scheme) > 1:
            raise InvalidParameterError(
                f"media path {target_url!r} is a {parsed.scheme}: URL; Keydub reads local files "
                "only: copy the media locally and relink it"
            )
        return target_url  # a bare path (a one-letter "scheme" is a Windows drive)
    path = unquote(parsed.path)
    if parsed.netloc and parsed.netloc.casefold() != "localhost":
        return str(PureWindowsPath(f"//{parsed.netloc}{path}"))
    if _URL_DRIVE.match(path):
        return f"{path[1]}:{path[3:]}"
    if path.startswith("//"):  # file:////server/share/a.mov
        return str(PureWindowsPath(path))
    return path


# The path part of a `file:` URL on a Windows drive: `/C:/...` or `/C|/...` (an old form some tools still write).
_URL_DRIVE = re.compile(r"^/[A-Za-z][:|]")


def resolve_media_path(target_url: str, base_dir: Path, relink: PathMap | None = None) -> Path:
    """The file a media reference points to on this machine.

    The editor's path (`media_path_text`) is mapped by `relink` (`--relink FROM=TO`, the farm's `--path-map`
    rules) onto this machine's mounts; a relative path is then resolved against `base_dir` (the timeline file's
    folder), never against the working directory.

    Raises:
        `InvalidParameterError`: the path is empty, uses a scheme other than `file`, is a Windows path on
            another system (nothing maps it), or contains `..` (which would make the same timeline point at
            different files depending on where it is read).
    """
    text = media_path_text(target_url)
    if not text:
        raise InvalidParameterError("a clip has an empty media path; relink the clip in your editor and export again")
    if relink is not None:
        text = relink.to_node(text)
    if is_windows_path(text) and os.name != "nt":
        raise InvalidParameterError(
            f"media path {text} is a Windows path; map its folder onto this machine with --relink "
            f"'{windows_folder(text)}=/path/on/this/machine'"
        )
    parts = PureWindowsPath(text).parts if "\\" in text else PurePosixPath(text).parts
    if ".." in parts:
        raise InvalidParameterError(
            f"media path {target_url!r} contains '..'; relink the clip to the file's full "
            "path in your editor and export again"
        )
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def windows_folder(path_text: str) -> str:
    """The folder of a Windows path, as written in messages and `--relink` examples."""
    return str(PureWindowsPath(path_text).parent)


def media_path_problems(
    clips: Iterable[tuple[str, otio.schema.Clip]], base_dir: Path, relink: PathMap | None = None
) -> list[str]:
    """Media paths that no clip could be rendered from, one line per folder with the count of its clips.

    A missing file in an existing folder is one offline clip (skipped with a reason); a missing folder usually
    means a drive is not mounted on this machine (or needs `--relink`), which would quietly skip everything, so
    it is reported up front, summarised by folder, together with every other path problem.

    Args:
        clips (`Iterable[tuple[str, otio.schema.Clip]]`): clips with a label for the message.
        base_dir (`Path`): the timeline file's folder.
        relink (`PathMap | None`): the editor's folders as this machine mounts them.

    Returns:
        `list[str]`: one line per folder (or per clip, for a path that is wrong in itself).
    """
    problems = []
    missing: dict[str, list[str]] = {}
    for label, clip in clips:
        reference = clip.media_reference
        if not isinstance(reference, otio.schema.ExternalReference):
            continue
        try:
            text = media_path_text(reference.target_url)
            mapped = relink.to_node(text) if relink is not None and text else text
            if is_windows_path(mapped) and os.name != "nt":
                missing.setdefault(f"{windows_folder(mapped)} (a Windows folder: map it with --relink)", []).append(
                    label
                )
                continue
            path = resolve_media_path(reference.target_url, base_dir, relink)
        except InvalidParameterError as error:
            problems.append(f"{label}: {error}")
            continue
        if not path.parent.is_dir():
            missing.setdefault(f"{path.parent} (does not exist)", []).append(label)
    for folder, labels in missing.items():
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        problems.append(f"folder {folder}: {len(labels)} clip(s): {shown}")
    return problems


def unrenderable_reason(clip: otio.schema.Clip, settings: ClipSettings) -> str | None:
    """Why v1 leaves `clip` alone (one line saying what it is), or `None` when it can be rendered (media and
    ranges still to be checked)."""
    if not clip.enabled:
        return "disabled in the timeline"
    if not settings.enabled:
        return "turned off in its Keydub settings (metadata keydub.enabled is false)"
    # A speed change first: relinking an offline clip would not make it renderable.
    retime = retime_description(clip)
    if retime is not None:
        return f"retimed ({retime}); Keydub renders at the source speed only: bake the speed change first"
    reference = clip.media_reference
    if isinstance(reference, otio.schema.GeneratorReference):
        kind = f" ({reference.generator_kind})" if reference.generator_kind else ""
        return f"a generator{kind}: a title, solid or other generated picture has no camera picture to dub"
    if isinstance(reference, otio.schema.MissingReference):
        return "media offline (the timeline has no file for this clip); relink it in your editor"
    if isinstance(reference, otio.schema.ImageSequenceReference):
        return "image sequences are not supported yet; render the sequence to a movie file and relink"
    if not isinstance(reference, otio.schema.ExternalReference):
        return f"unsupported media reference {type(reference).__name__}"
    suffix = PurePosixPath(reference.target_url.replace("\\", "/")).suffix.casefold()
    if suffix in STILL_SUFFIXES:
        return f"a still image ({suffix[1:].upper()}): one picture, no mouth moving to dub"
    return empty_range(clip)


def empty_range(clip: otio.schema.Clip) -> str | None:
    """What makes `clip` hold no picture to render (a zero-length range, media at 0 fps), or `None`.

    Exporters write these for what has no frames of its own: Kdenlive gives a still's media range at 0 fps, the
    FCP 7 XML adapter gives a Premiere title a zero-length range. The clip is skipped, not the timeline refused.
    """
    for what, time_range in _ranges(clip):
        if time_range.duration.rate == 0 or time_range.start_time.rate == 0:
            return f"its {what} is at 0 fps (a still or generated picture, no frames to render)"
        if time_range.duration.value == 0:
            return f"its {what} is zero frames long (nothing on it to render)"
    return None


def range_problem(clip: otio.schema.Clip) -> str | None:
    """What makes `clip`'s source range (or its media's available range) nonsense, or `None` when it is usable.

    A negative duration, a negative rate or one that is not a number, or a time that is not finite are edits no
    editor makes; they come from a damaged or hand-written file and are reported, never taken for a clip
    without dialogue. (A zero-length range or one at 0 fps is `empty_range`'s: skipped, not refused.)
    """
    for what, time_range in _ranges(clip):
        for part, value in (("start", time_range.start_time), ("duration", time_range.duration)):
            if not (math.isfinite(value.rate) and value.rate >= 0):
                return f"its {what} has a {part} at a rate of {value.rate:g} fps"
            if not math.isfinite(value.value):
                return f"its {what} has a {part} of {value.value:g} frames"
        frames = time_range.duration.value
        if frames < 0:
            return f"its {what} has a negative duration ({frames:g} frames at {time_range.duration.rate:g} fps)"
    return None


def _ranges(clip: otio.schema.Clip) -> list[tuple[str, otio.opentime.TimeRange]]:
    ranges = [("source range", clip.source_range)]
    reference = clip.media_reference
    if reference is not None and getattr(reference, "available_range", None) is not None:
        ranges.append(("media's available range", reference.available_range))
    return [(what, time_range) for what, time_range in ranges if time_range is not None]


def retime_description(item: otio.schema.Clip) -> str | None:
    """A short description of the first effect that changes `item`'s speed, or `None`.

    Only real speed changes count: a `LinearTimeWarp` whose scalar is not 1, a `FreezeFrame`, another
    `TimeEffect` (a speed ramp), or a Resolve speed parameter away from its default. Resolve's Inspector block
    ("Retime and Scaling" among Transform, Cropping, Dynamic Zoom...) at 100 % is no retime: transforms are the
    editor's, applied on top of the render.
    """
    for effect in item.effects:
        if isinstance(effect, otio.schema.FreezeFrame):
            return "freeze frame"
        if isinstance(effect, otio.schema.LinearTimeWarp):
            if effect.time_scalar != 1:
                return f"speed x{effect.time_scalar:g}"
            continue
        if isinstance(effect, otio.schema.TimeEffect):
            return effect.effect_name or effect.name or type(effect).__name__
        speed = _resolve_speed(effect)
        if speed is not None and speed != 1:
            return f"speed {float(speed) * 100:g} % in Resolve's {_resolve_effect_name(effect)}"
    return None


def _resolve_speed(effect: otio.schema.Effect) -> Fraction | None:
    """A Resolve effect's speed as a fraction of normal (value over default), when it carries a speed parameter."""
    block = effect.metadata.get(_RESOLVE_METADATA)
    parameters = block.get("Parameters") if isinstance(block, Mapping) else None
    if not isinstance(parameters, Sequence) or isinstance(parameters, str):
        return None
    for parameter in parameters:
        if not isinstance(parameter, Mapping):
            continue
        if _SPEED_PARAMETER_WORD not in str(parameter.get("Parameter ID", "")).casefold():
            continue
        value, default = parameter.get("Parameter Value"), parameter.get("Default Parameter Value")
        if _is_number(value) and _is_number(default) and default > 0 and math.isfinite(value):
            return Fraction(str(value)) / Fraction(str(default))
    return None


def _resolve_effect_name(effect: otio.schema.Effect) -> str:
    block = effect.metadata.get(_RESOLVE_METADATA)
    name = block.get("Effect Name") if isinstance(block, Mapping) else None
    return str(name or effect.effect_name or "effect")

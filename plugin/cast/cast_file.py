"""`cast.toml`: the characters of a timeline, each with a name, a dub track (or none) and reference faces.

```toml
# Keydub cast (docs/guides/cast.md)
version = 1

[[character]]
name = "Anna"
dub_track = "DX es ANNA"          # the audio track with this character's dub; leave it out for none
consent = "release 2026-031, signed 2026-03-02"  # the consent reference for this person; leave it out for none

[[character.reference]]           # a face clicked on a clip's frame
clip = "media/A001.mov"           # relative to this file's folder
frame = 120                       # frame of the clip file, from 0
point = [640.0, 360.0]            # a point inside the face, in source pixels

[[character.reference]]           # or a picture of the face
image = "refs/anna.png"
```

Optional top-level keys: `recognition` (the face-recognition backend, default `"dlib-resnet"`) and
`match_distance` (the largest embedding distance that still matches a character, default the backend's own
same-person distance). Everything else is refused, with one line that names the file, the place and the fix: a
hand-edited or hostile file never half-loads.
"""

import hashlib
import json
import math
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from keydub.core.errors import InvalidParameterError
from keydub.core.face_backends import DEFAULT_RECOGNITION, RECOGNITION_BACKENDS
from keydub.core.files import check_output_file, write_text_atomically


CAST_VERSION = 1
# A cast of a feature is a few dozen characters with a handful of references each; these bounds stop a file
# that is not one long before it costs memory or time.
MAX_CAST_BYTES = 1 * 2**20
MAX_CHARACTERS = 1000
MAX_REFERENCES = 100
MAX_NAME_LENGTH = 100
MAX_PATH_LENGTH = 4096
# A consent reference is a contract number, a file name or a short sentence, not the contract itself.
MAX_CONSENT_LENGTH = 500

_TOP_KEYS = {"version", "recognition", "match_distance", "character"}
_CHARACTER_KEYS = {"name", "dub_track", "consent", "reference"}
_REFERENCE_KEYS = {"clip", "frame", "point", "image"}


@dataclass(frozen=True)
class ReferenceFace:
    """A face that shows what a character looks like: a click on a clip's frame, or a picture.

    Args:
        clip (`Path | None`): the clip file clicked on (absolute).
        frame (`int | None`): the clip file's frame, from 0.
        point (`tuple[float, float] | None`): the click, in source pixels.
        image (`Path | None`): a picture of the face (absolute); the largest face in it is used.
    """

    clip: Path | None = None
    frame: int | None = None
    point: tuple[float, float] | None = None
    image: Path | None = None

    def __post_init__(self) -> None:
        is_click = self.clip is not None and self.frame is not None and self.point is not None
        is_image = self.image is not None and self.clip is None and self.frame is None and self.point is None
        if is_click == is_image:
            raise InvalidParameterError(
                "a reference face is either clip + frame + point (a click on a clip's frame) or an image alone"
            )

    def describe(self) -> str:
        if self.image is not None:
            return f"image {self.image.name}"
        return f"{self.clip.name} frame {self.frame} at ({self.point[0]:.0f}, {self.point[1]:.0f})"

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """Plain data; paths relative to `base_dir` when they lie under it, else absolute."""
        if self.image is not None:
            return {"image": _relative(self.image, base_dir)}
        return {"clip": _relative(self.clip, base_dir), "frame": self.frame, "point": list(self.point)}


@dataclass(frozen=True)
class Character:
    """One character of the cast.

    Args:
        name (`str`): how the editor calls them; unique in the cast (case-insensitive).
        dub_track (`str | None`): the audio track holding this character's dub; `None` for none (a mixed stem).
        references (`tuple[ReferenceFace, ...]`): faces that show who they are.
        consent (`str`): a free-text reference to this person's consent to be re-animated (a release number, a
            contract's file name); "" for none. Renders keep it in their usage record.
    """

    name: str
    dub_track: str | None = None
    references: tuple[ReferenceFace, ...] = ()
    consent: str = ""

    def digest(self) -> str:
        """SHA-256 of what decides this character's renders besides the shot: its reference faces (each picture's
        size and modification time too, so a replaced picture counts) and its dub track. The name and consent are
        left out: renaming a character is no reason to render its shots again."""
        references = []
        for reference in self.references:
            data = reference.to_dict()
            if reference.image is not None and reference.image.is_file():
                info = reference.image.stat()
                data["file"] = [info.st_size, info.st_mtime_ns]
            references.append(data)
        canonical = json.dumps({"references": references, "dub_track": self.dub_track}, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.dub_track is not None:
            data["dub_track"] = self.dub_track
        if self.consent:
            data["consent"] = self.consent
        data["reference"] = [reference.to_dict(base_dir) for reference in self.references]
        return data


@dataclass(frozen=True)
class Cast:
    """The characters of a timeline.

    Args:
        characters (`tuple[Character, ...]`): in the order the editor keeps them.
        recognition (`str`, defaults to `"dlib-resnet"`): the face-recognition backend the references are embedded
            with.
        match_distance (`float | None`): the largest embedding distance at which a face is a character; `None` for
            the backend's own same-person distance.
    """

    characters: tuple[Character, ...] = ()
    recognition: str = DEFAULT_RECOGNITION
    match_distance: float | None = None

    def character(self, name: str) -> Character:
        """The character called `name` (case-insensitive)."""
        for character in self.characters:
            if character.name.casefold() == name.casefold():
                return character
        known = ", ".join(repr(c.name) for c in self.characters) or "none"
        raise InvalidParameterError(f"the cast has no character {name!r}; its characters are: {known}")

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """Plain data in the layout of `cast.toml` (paths relative to `base_dir` where they lie under it)."""
        data: dict[str, Any] = {"version": CAST_VERSION, "recognition": self.recognition}
        if self.match_distance is not None:
            data["match_distance"] = self.match_distance
        data["character"] = [character.to_dict(base_dir) for character in self.characters]
        return data

    @classmethod
    def from_dict(cls, data: Any, base_dir: Path, where: str) -> "Cast":
        """A cast from plain data (a parsed `cast.toml`, OTIO metadata), every value checked.

        Args:
            data: the parsed document.
            base_dir (`Path`): the folder relative paths are relative to.
            where (`str`): what to name in messages, e.g. `"cast file /show/cast.toml"`.

        Raises:
            `InvalidParameterError`: one line naming `where`, the place in the document and what to do.
        """
        return _CastReader(Path(base_dir).absolute(), where).cast(data)


def read_cast(path: str | os.PathLike[str]) -> Cast:
    """Read and check a `cast.toml`.

    Raises:
        `InvalidParameterError`: the file is missing, too large, not UTF-8 TOML, or holds a value that is not allowed;
            the one-line message names the file, the place and the fix.
    """
    path = Path(path).expanduser().absolute()
    where = f"cast file {path}"
    if not path.is_file():
        raise InvalidParameterError(f"{where} does not exist (or is not a file); write one with `keydub cast suggest`")
    size = path.stat().st_size
    if size > MAX_CAST_BYTES:
        raise InvalidParameterError(
            f"{where} is {size} bytes; a cast file is at most {MAX_CAST_BYTES} bytes: is it really a cast.toml?"
        )
    try:
        text = path.read_bytes().decode("utf-8")
        document = tomllib.loads(text)
    except UnicodeDecodeError as error:
        raise InvalidParameterError(f"{where} is not UTF-8 text ({error.reason} at byte {error.start})") from error
    except tomllib.TOMLDecodeError as error:
        raise InvalidParameterError(f"{where} is not valid TOML: {error}") from error
    except RecursionError as error:
        raise InvalidParameterError(f"{where} nests too deeply to be a cast file") from error
    return Cast.from_dict(document, path.parent, where)


def cast_toml(cast: Cast, base_dir: Path | None = None) -> str:
    """The TOML text of a cast, paths relative to `base_dir` where they lie under it."""
    data = cast.to_dict(base_dir)
    lines = ["# Keydub cast: the characters of a timeline and the faces that show who they are.", ""]
    lines += [f"{key} = {_toml_value(value)}" for key, value in data.items() if key != "character"]
    for character in data["character"]:
        lines += ["", "[[character]]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in character.items() if key != "reference"]
        for reference in character["reference"]:
            lines += ["", "[[character.reference]]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in reference.items()]
    return "\n".join(lines) + "\n"


def write_cast(cast: Cast, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write `cast.toml` atomically (paths relative to its folder where they lie under it); returns its path."""
    path = check_output_file(path, overwrite=overwrite)
    write_text_atomically(path, cast_toml(cast, path.parent))
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string: the same escapes, and non-ASCII kept as UTF-8.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _relative(path: Path, base_dir: Path | None) -> str:
    if base_dir is not None:
        try:
            return Path(os.path.relpath(path, base_dir)).as_posix() if path.is_relative_to(base_dir) else str(path)
        except ValueError:  # another drive on Windows
            return str(path)
    return str(path)


class _CastReader:
    """Checks a parsed cast document value by value; every refusal is one line naming the place."""

    def __init__(self, base_dir: Path, where: str) -> None:
        self.base_dir = base_dir
        self.where = where

    def fail(self, place: str, problem: str) -> InvalidParameterError:
        return InvalidParameterError(f"{self.where}: {place} {problem}; fix it (see docs/guides/cast.md)")

    def cast(self, data: Any) -> Cast:
        table = self.table(data, "the document")
        version = table.get("version", CAST_VERSION)
        if version != CAST_VERSION or isinstance(version, bool):
            raise self.fail("version", f"is {version!r}; this Keydub reads version {CAST_VERSION}")
        recognition = table.get("recognition", DEFAULT_RECOGNITION)
        if recognition not in RECOGNITION_BACKENDS:
            raise self.fail("recognition", f"is {recognition!r}, not one of {', '.join(sorted(RECOGNITION_BACKENDS))}")
        match_distance = table.get("match_distance")
        if match_distance is not None and not (
            isinstance(match_distance, (int, float))
            and not isinstance(match_distance, bool)
            and math.isfinite(match_distance)
            and 0 < match_distance < 10
        ):
            raise self.fail("match_distance", f"is {match_distance!r}; give a number between 0 and 10, e.g. 0.6")
        characters = self.array(table.get("character", []), "character", MAX_CHARACTERS)
        parsed = tuple(self.character(item, f"character #{index + 1}") for index, item in enumerate(characters))
        seen: dict[str, str] = {}
        for character in parsed:
            key = character.name.casefold()
            if key in seen:
                raise self.fail(f"character {character.name!r}", f"has the same name as {seen[key]!r}; rename one")
            seen[key] = character.name
        return Cast(
            characters=parsed,
            recognition=recognition,
            match_distance=None if match_distance is None else float(match_distance),
        )

    def character(self, data: Any, place: str) -> Character:
        table = self.table(data, place, _CHARACTER_KEYS)
        name = self.text(table.get("name"), f"{place} name", MAX_NAME_LENGTH)
        place = f"character {name!r}"
        dub_track = table.get("dub_track")
        if dub_track is not None:
            dub_track = self.text(dub_track, f"{place} dub_track", MAX_NAME_LENGTH * 2)
        consent = table.get("consent")
        if consent is not None:
            consent = self.text(consent, f"{place} consent", MAX_CONSENT_LENGTH)
        references = self.array(table.get("reference", []), f"{place} reference", MAX_REFERENCES)
        return Character(
            name=name,
            dub_track=dub_track,
            consent=consent or "",
            references=tuple(
                self.reference(item, f"{place} reference #{index + 1}") for index, item in enumerate(references)
            ),
        )

    def reference(self, data: Any, place: str) -> ReferenceFace:
        table = self.table(data, place, _REFERENCE_KEYS)
        if "image" in table:
            if set(table) != {"image"}:
                raise self.fail(place, "has an image and clip/frame/point; give either an image or a click, not both")
            return ReferenceFace(image=self.path(table["image"], f"{place} image"))
        missing = [key for key in ("clip", "frame", "point") if key not in table]
        if missing:
            raise self.fail(place, f"has no {' or '.join(missing)}; a click needs clip, frame and point (or an image)")
        frame = table["frame"]
        if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < 10**9:
            raise self.fail(f"{place} frame", f"is {frame!r}; give the clip file's frame as a whole number from 0")
        point = table["point"]
        if not (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in point)
            and all(0 <= v < 10**6 for v in point)
        ):
            raise self.fail(f"{place} point", f"is {point!r}; give [x, y] in source pixels, e.g. [640.0, 360.0]")
        return ReferenceFace(
            clip=self.path(table["clip"], f"{place} clip"), frame=frame, point=(float(point[0]), float(point[1]))
        )

    def table(self, data: Any, place: str, keys: set[str] = _TOP_KEYS) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(place, f"is a {type(data).__name__}, not a table")
        unknown = sorted(str(key) for key in data if key not in keys)
        if unknown:
            raise self.fail(
                place, f"has unknown key(s) {', '.join(map(repr, unknown[:5]))}; known: {', '.join(sorted(keys))}"
            )
        return data

    def array(self, data: Any, place: str, limit: int) -> list[Any]:
        if not isinstance(data, list):
            raise self.fail(place, f"is a {type(data).__name__}; write it as [[{place.split()[-1]}]] tables")
        if len(data) > limit:
            raise self.fail(place, f"has {len(data)} entries; at most {limit} are allowed")
        return data

    def text(self, value: Any, place: str, limit: int) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(place, f"is {value!r}; give a non-empty text")
        if len(value) > limit:
            raise self.fail(place, f"is {len(value)} characters long; at most {limit} are allowed")
        if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value):
            raise self.fail(place, f"{value!r} holds control or invisible characters; use printable text")
        return value.strip()

    def path(self, value: Any, place: str) -> Path:
        if not isinstance(value, str) or not value:
            raise self.fail(place, f"is {value!r}; give a file path")
        if len(value) > MAX_PATH_LENGTH or "\0" in value:
            raise self.fail(place, "is not a usable path (too long, or holds a NUL character)")
        return (self.base_dir / Path(value).expanduser()).absolute()

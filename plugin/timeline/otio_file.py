"""Reading and writing editors' timeline files: clear errors on the way in, atomic writes on the way out."""

import contextlib
import copy
import re
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from keydub.core.errors import InvalidParameterError, OutputNotWritableError, TimelineError
from keydub.core.files import check_output_file, path_kind, write_text_atomically
from keydub.plugin.timeline.formats import (
    CMX_EDL,
    FORMATS,
    OTIO_JSON,
    TimelineFormat,
    article,
    detect_format,
    format_for_suffix,
    require_adapter,
)
from keydub.plugin.timeline.tracks import keydub_metadata


# An editor's timeline nests about a dozen levels (timeline, stack, track, clip, media reference, metadata);
# OTIO's reader recurses once per level and overflows the C stack somewhere past ten thousand.
MAX_NESTING_DEPTH = 512
# A feature's timeline with every clip's metadata is a few MiB; a gigabyte of JSON is no export.
MAX_TIMELINE_BYTES = 256 * 2**20
# A schema tag in OTIO JSON: `"OTIO_SCHEMA": "Clip.2"`.
_SCHEMA = re.compile(r'"OTIO_SCHEMA"\s*:\s*"(\w+)\.(\d+)"')
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSING = np.frombuffer(b"]}", dtype=np.uint8)


def read_timeline(path: Path, sequence: str | None = None, edl_rate: Fraction | None = None) -> otio.schema.Timeline:
    """Read the timeline of an editor's export: OTIO JSON, FCP 7 XML, FCPXML, CMX 3600 EDL or AAF.

    Args:
        path (`Path`): the file, e.g. an export from Resolve's File > Export > Timeline.
        sequence (`str | None`): the name of the timeline to take from a file that holds several (an FCPXML
            library or event, an AAF with several compositions).
        edl_rate (`Fraction | None`): the frame rate of an EDL's timecodes, which an EDL does not state;
            `None` for the adapter's 24 fps.

    Returns:
        `otio.schema.Timeline`: the timeline.

    Raises:
        `TimelineError`: the file is missing, is not a file, is larger than `MAX_TIMELINE_BYTES`, nests deeper
            than `MAX_NESTING_DEPTH`, is in no format Keydub reads, needs an adapter that is not installed, was
            written by a newer OpenTimelineIO, cannot be parsed, or does not hold exactly one timeline (or the
            one named `sequence`).
    """
    return read_timeline_file(path, sequence, edl_rate)[0]


def read_timeline_file(
    path: Path, sequence: str | None = None, edl_rate: Fraction | None = None
) -> tuple[otio.schema.Timeline, TimelineFormat]:
    """`read_timeline`, with the format the file turned out to be in. `edl_rate` is the frame rate of an EDL's
    timecodes, which the file does not say (default: the adapter's 24 fps)."""
    path = Path(path)
    data = _read_bounded(path)
    fmt = detect_format(path, data[:4096])
    if fmt is OTIO_JSON:
        document = _parse_otio_json(path, data)
    else:
        adapter = require_adapter(fmt, path)
        options = {"rate": float(edl_rate)} if fmt is CMX_EDL and edl_rate is not None else {}
        try:
            # Some adapters print their warnings; stdout is for results (`--json`).
            with contextlib.redirect_stdout(sys.stderr):
                document = adapter.read_from_file(str(path), **options)
        # A third-party parser raises whatever its code runs into (KeyError, IndexError, ParseError, its own
        # errors) on a damaged or unusual export; each becomes one line naming the format.
        except Exception as error:  # noqa: BLE001
            advice = (
                "give the EDL's frame rate with --edl-rate (e.g. 25 or 30000/1001)"
                if fmt is CMX_EDL and edl_rate is None
                else "export it again from your editor, or as .otio"
            )
            raise TimelineError(
                f"{path} could not be read as {article(fmt.name)} {fmt.name} timeline ({_first_line(error)}); {advice}"
            ) from error
    return _one_timeline(path, document, sequence), fmt


def _parse_otio_json(path: Path, data: bytes) -> otio.core.SerializableObject:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TimelineError(
            f"{path} is not a text file (byte {error.start} is not UTF-8), so not an OTIO "
            "timeline; export the timeline again as .otio"
        ) from error
    # OTIO's C++ reader builds nested objects recursively, so a document of a hundred thousand nested brackets
    # kills the interpreter with a segfault instead of raising; the depth is therefore measured here first.
    depth = json_nesting_depth(data)
    if depth > MAX_NESTING_DEPTH:
        raise TimelineError(
            f"{path} nests {depth} levels deep, more than the {MAX_NESTING_DEPTH} any timeline "
            "needs; it is not an editor's export: export the timeline again as .otio"
        )
    try:
        # The JSON adapter by name: `.otioz`/`.otiod` bundles hold relative media paths this reader would not
        # resolve.
        return otio.adapters.read_from_string(text, adapter_name="otio_json")
    except otio.exceptions.UnsupportedSchemaError as error:
        raise TimelineError(f"{path} {_newer_schema_advice(text)}") from error
    except (ValueError, KeyError, TypeError, otio.exceptions.OTIOError) as error:
        raise TimelineError(
            f"{path} is not a valid OpenTimelineIO file ({_first_line(error)}); export the timeline again "
            "as .otio (Resolve: File > Export > Timeline, format OpenTimelineIO)"
        ) from error


def _newer_schema_advice(text: str) -> str:
    """What a document from a newer OpenTimelineIO needs: the schema versions this one does not read."""
    known = otio.core.type_version_map()
    newer = sorted(
        {
            f"{name}.{version}"
            for name, version in _SCHEMA.findall(text)
            if name in known and int(version) > known[name]
        }
    )
    readable = ", ".join(f"{schema.split('.')[0]}.{known[schema.split('.')[0]]}" for schema in newer)
    return (
        f"was written by an OpenTimelineIO newer than {otio.__version__} (it holds {', '.join(newer)}; "
        f"{otio.__version__} reads up to {readable}); install a newer OpenTimelineIO "
        "(pip install -U opentimelineio), or export the timeline for OpenTimelineIO "
        f"{otio.__version__.rsplit('.', 1)[0]}"
    )


def _one_timeline(path: Path, document: otio.core.SerializableObject, sequence: str | None) -> otio.schema.Timeline:
    timelines = list(_timelines_in(document))
    if sequence is not None:
        named = [timeline for timeline in timelines if timeline.name == sequence]
        if len(named) == 1:
            return named[0]
        if named:
            raise TimelineError(f"{path} holds {len(named)} timelines named {sequence!r}; export the one to dub")
        raise TimelineError(f"{path} holds no timeline named {sequence!r}; its timelines: {_names(timelines)}")
    if len(timelines) == 1:
        return timelines[0]
    if not timelines:
        raise TimelineError(
            f"{path} holds no timeline ({_contents(document)}); export a whole timeline (a sequence or project)"
        )
    raise TimelineError(f"{path} holds {len(timelines)} timelines: {_names(timelines)}; pick one with --sequence NAME")


def _timelines_in(document: otio.core.SerializableObject) -> Iterator[otio.schema.Timeline]:
    if isinstance(document, otio.schema.Timeline):
        yield document
    elif isinstance(document, otio.schema.SerializableCollection):
        for child in document:
            yield from _timelines_in(child)


def _names(timelines: list[otio.schema.Timeline]) -> str:
    return ", ".join(repr(timeline.name) for timeline in timelines) or "none"


def _contents(document: otio.core.SerializableObject) -> str:
    if isinstance(document, otio.schema.SerializableCollection):
        kinds = sorted({type(child).__name__ for child in document})
        return f"{len(document)} item(s): {', '.join(kinds)}" if kinds else "nothing"
    return f"a {type(document).__name__}"


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, once it is known to be a file of a size an export can have."""
    kind = path_kind(path)
    if kind == "nothing":
        raise TimelineError(f"timeline file {path} does not exist; check the path")
    if kind != "a file":
        raise TimelineError(f"timeline {path} is {kind}, not a file; pass the exported timeline file")
    size = path.stat().st_size
    if size > MAX_TIMELINE_BYTES:
        raise TimelineError(
            f"{path} is {size / 2**20:.0f} MiB, more than the {MAX_TIMELINE_BYTES // 2**20} MiB "
            "Keydub reads as a timeline; export only the timeline to dub"
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise TimelineError(f"cannot read {path} ({error.strerror}); check its permissions") from error


def json_nesting_depth(data: bytes) -> int:
    """The deepest nesting of `[` and `{` in JSON text, brackets inside strings not counted (vectorised)."""
    without_strings = _JSON_STRING.sub(b'""', data)
    codes = np.frombuffer(without_strings, dtype=np.uint8)
    steps = np.isin(codes, _OPENING).astype(np.int64) - np.isin(codes, _CLOSING).astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def write_timeline(timeline: otio.schema.Timeline, path: Path, overwrite: bool = False) -> Path:
    """Write `timeline` in the format its extension names (OTIO JSON for `.otio` or any other), atomically: a
    temporary file in the target folder renamed into place.

    A format that holds one video track (an EDL) gets only Keydub's output track: the renders at their record
    positions, for the editor to conform. A format that names media by URL gets `file://` URLs.

    Args:
        timeline (`otio.schema.Timeline`): what to write.
        path (`Path`): the file to write: `.otio`, `.xml` (FCP 7 XML), `.fcpxml` or `.edl`.
        overwrite (`bool`, defaults to `False`): replace an existing file.

    Returns:
        `Path`: `path`.

    Raises:
        `OutputExistsError`: `path` exists and `overwrite` is false.
        `InvalidParameterError`: `path` is a folder, its name is too long, or its format cannot be written.
        `OutputNotWritableError`: the folder does not exist or cannot be written.
        `TimelineError`: the format's adapter is missing or cannot hold this timeline.
    """
    fmt = output_format(path)
    path = check_output_file(path, overwrite=overwrite, option="timeline output")
    if fmt is OTIO_JSON:
        text = otio.adapters.write_to_string(timeline, adapter_name="otio_json")
    else:
        adapter = require_adapter(fmt, path, verb="writing")
        try:
            text = adapter.write_to_string(_shaped_for(timeline, fmt, path))
        # Third-party writers raise their own errors for what the format cannot hold.
        except Exception as error:  # noqa: BLE001
            raise TimelineError(
                f"{fmt.name} cannot hold this timeline ({_first_line(error)}); write it as .otio with -o"
            ) from error
    try:
        write_text_atomically(path, text)
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write into {path.parent} ({error.strerror}); choose another output path"
        ) from error
    return path


def output_format(path: Path) -> TimelineFormat:
    """The format a timeline written to `path` is in: the one its extension names, OTIO JSON otherwise.

    Raises:
        `InvalidParameterError`: the extension names a format Keydub cannot write.
    """
    fmt = format_for_suffix(path) or OTIO_JSON
    if not fmt.can_write:
        writable = ", ".join(f"{item.suffix} ({item.name})" for item in FORMATS if item.can_write)
        raise InvalidParameterError(
            f"Keydub cannot write {article(fmt.name)} {fmt.name} timeline ({Path(path).name}): its adapter writes "
            f"only media the editor already knows; write {writable}"
        )
    return fmt


def check_output_tracks(path: Path, picture_tracks: int) -> None:
    """Refuse, before any render, an output format that cannot hold one output track per picture track.

    Raises:
        `InvalidParameterError`: an EDL asked for with several picture tracks (one output track each).
    """
    fmt = output_format(path)
    if fmt.one_video_track and picture_tracks > 1:
        raise InvalidParameterError(
            f"{fmt.name} holds one video track, and {picture_tracks} picture tracks would give as many Keydub "
            f"tracks; write {Path(path).stem}.otio or .xml, or choose one track with --video-track"
        )


def _shaped_for(timeline: otio.schema.Timeline, fmt: TimelineFormat, path: Path) -> otio.schema.Timeline:
    """A copy of `timeline` as `fmt` can hold it: only Keydub's track for a one-track format, URLs for media."""
    shaped = copy.deepcopy(timeline)
    if fmt.one_video_track:
        kept = [track for track in shaped.tracks if keydub_metadata(track).get("role") == "output"]
        if len(kept) != 1:
            raise TimelineError(
                f"{path.name}: {fmt.name} holds one video track, and this timeline has {len(kept)} Keydub output "
                "tracks; write it as .otio or .xml"
            )
        shaped.tracks[:] = [copy.deepcopy(kept[0])]
    if fmt.file_urls:
        for clip in shaped.find_clips():
            reference = clip.media_reference
            if isinstance(reference, otio.schema.ExternalReference) and Path(reference.target_url).is_absolute():
                reference.target_url = Path(reference.target_url).as_uri()
    return shaped

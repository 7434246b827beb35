"""Reading and writing `.otio` files: clear errors on the way in, atomic writes on the way out."""

import re
from pathlib import Path

import numpy as np
import opentimelineio as otio

from keydub.core.errors import OutputNotWritableError, TimelineError
from keydub.core.files import check_output_file, path_kind, write_text_atomically


# An editor's timeline nests about a dozen levels (timeline, stack, track, clip, media reference, metadata);
# OTIO's reader recurses once per level and overflows the C stack somewhere past ten thousand.
MAX_NESTING_DEPTH = 512
# A feature's timeline with every clip's metadata is a few MiB; a gigabyte of JSON is no export.
MAX_TIMELINE_BYTES = 256 * 2**20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSING = np.frombuffer(b"]}", dtype=np.uint8)


def read_timeline(path: Path) -> otio.schema.Timeline:
    """Read an OpenTimelineIO JSON file (`.otio`) holding one timeline.

    Args:
        path (`Path`): the file, e.g. an export from Resolve's File > Export > Timeline.

    Returns:
        `otio.schema.Timeline`: the timeline (a file holding a collection with exactly one timeline is accepted).

    Raises:
        `TimelineError`: the file is missing, is not a file, is larger than `MAX_TIMELINE_BYTES`, nests deeper
            than `MAX_NESTING_DEPTH`, is not OTIO JSON, or holds no single timeline.
    """
    path = Path(path)
    text = _read_bounded(path)
    try:
        # The JSON adapter by name: `.otioz`/`.otiod` bundles hold relative media paths this reader would not
        # resolve, and other formats need adapters that are not part of OTIO itself.
        document = otio.adapters.read_from_string(text, adapter_name="otio_json")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, otio.exceptions.OTIOError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TimelineError(
            f"{path} is not a valid OpenTimelineIO file ({first_line}); export the timeline again "
            "as .otio (Resolve: File > Export > Timeline, format OpenTimelineIO)"
        ) from error
    if isinstance(document, otio.schema.SerializableCollection):
        timelines = [item for item in document if isinstance(item, otio.schema.Timeline)]
        if len(timelines) == 1:
            return timelines[0]
        raise TimelineError(f"{path} holds {len(timelines)} timelines; export the one timeline to dub on its own")
    if not isinstance(document, otio.schema.Timeline):
        raise TimelineError(f"{path} holds a {type(document).__name__}, not a timeline; export a whole timeline")
    return document


def _read_bounded(path: Path) -> str:
    """The file's text, once it is known to be a file OTIO's reader can parse without exhausting its stack.

    OTIO's C++ reader builds nested objects recursively, so a document of a hundred thousand nested brackets
    kills the interpreter with a segfault instead of raising; the depth is therefore measured here first.
    """
    kind = path_kind(path)
    if kind == "nothing":
        raise TimelineError(f"timeline file {path} does not exist; check the path")
    if kind != "a file":
        raise TimelineError(f"timeline {path} is {kind}, not a file; pass the exported .otio file")
    size = path.stat().st_size
    if size > MAX_TIMELINE_BYTES:
        raise TimelineError(
            f"{path} is {size / 2**20:.0f} MiB, more than the {MAX_TIMELINE_BYTES // 2**20} MiB "
            "Keydub reads as a timeline; export only the timeline to dub"
        )
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as error:
        raise TimelineError(f"cannot read {path} ({error.strerror}); check its permissions") from error
    except UnicodeDecodeError as error:
        raise TimelineError(
            f"{path} is not a text file (byte {error.start} is not UTF-8), so not an OTIO "
            "timeline; export the timeline again as .otio"
        ) from error
    depth = json_nesting_depth(data)
    if depth > MAX_NESTING_DEPTH:
        raise TimelineError(
            f"{path} nests {depth} levels deep, more than the {MAX_NESTING_DEPTH} any timeline "
            "needs; it is not an editor's export: export the timeline again as .otio"
        )
    return text


def json_nesting_depth(data: bytes) -> int:
    """The deepest nesting of `[` and `{` in JSON text, brackets inside strings not counted (vectorised)."""
    without_strings = _JSON_STRING.sub(b'""', data)
    codes = np.frombuffer(without_strings, dtype=np.uint8)
    steps = np.isin(codes, _OPENING).astype(np.int64) - np.isin(codes, _CLOSING).astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def write_timeline(timeline: otio.schema.Timeline, path: Path, overwrite: bool = False) -> Path:
    """Write `timeline` as OTIO JSON, atomically: a temporary file in the target folder renamed into place.

    Args:
        timeline (`otio.schema.Timeline`): what to write.
        path (`Path`): the `.otio` file to write.
        overwrite (`bool`, defaults to `False`): replace an existing file.

    Returns:
        `Path`: `path`.

    Raises:
        `OutputExistsError`: `path` exists and `overwrite` is false.
        `InvalidParameterError`: `path` is a folder, or its name is too long for the file system.
        `OutputNotWritableError`: the folder does not exist or cannot be written.
    """
    path = check_output_file(path, overwrite=overwrite, option="timeline output")
    text = otio.adapters.write_to_string(timeline, adapter_name="otio_json")
    try:
        write_text_atomically(path, text)
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write into {path.parent} ({error.strerror}); choose another output path"
        ) from error
    return path

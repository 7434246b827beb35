"""Reading and writing `.otio` files: clear errors on the way in, atomic writes on the way out."""

from pathlib import Path

import opentimelineio as otio

from keydub.core.errors import OutputExistsError, OutputNotWritableError, TimelineError
from keydub.core.files import write_text_atomically


def read_timeline(path: Path) -> otio.schema.Timeline:
    """Read an OpenTimelineIO JSON file (`.otio`) holding one timeline.

    Args:
        path (`Path`): the file, e.g. an export from Resolve's File > Export > Timeline.

    Returns:
        `otio.schema.Timeline`: the timeline (a file holding a collection with exactly one timeline is accepted).

    Raises:
        `TimelineError`: the file is missing, is not OTIO JSON, or holds no single timeline.
    """
    path = Path(path)
    if not path.is_file():
        raise TimelineError(f"timeline file {path} does not exist; check the path")
    try:
        # The JSON adapter by name: `.otioz`/`.otiod` bundles hold relative media paths this reader would not
        # resolve, and other formats need adapters that are not part of OTIO itself.
        document = otio.adapters.read_from_file(str(path), adapter_name="otio_json")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, otio.exceptions.OTIOError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TimelineError(f"{path} is not a valid OpenTimelineIO file ({first_line}); export the timeline again "
                            "as .otio (Resolve: File > Export > Timeline, format OpenTimelineIO)") from error
    if isinstance(document, otio.schema.SerializableCollection):
        timelines = [item for item in document if isinstance(item, otio.schema.Timeline)]
        if len(timelines) == 1:
            return timelines[0]
        raise TimelineError(f"{path} holds {len(timelines)} timelines; export the one timeline to dub on its own")
    if not isinstance(document, otio.schema.Timeline):
        raise TimelineError(f"{path} holds a {type(document).__name__}, not a timeline; export a whole timeline")
    return document


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
        `OutputNotWritableError`: the folder does not exist or cannot be written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; choose another output with -o or pass --overwrite")
    if not path.parent.is_dir():
        raise OutputNotWritableError(f"folder {path.parent} does not exist; create it or choose another output path")
    text = otio.adapters.write_to_string(timeline, adapter_name="otio_json")
    try:
        write_text_atomically(path, text)
    except OSError as error:
        raise OutputNotWritableError(f"cannot write into {path.parent} ({error.strerror}); choose another output "
                                     "path") from error
    return path

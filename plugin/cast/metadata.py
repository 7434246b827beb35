"""The cast in OTIO metadata: `timeline.metadata["keydub"]["cast"]`, in the layout of `cast.toml`.

Paths are written absolute, since an output timeline is often opened from another folder than the cast file's.
"""

import copy
from pathlib import Path

import opentimelineio as otio

from keydub.plugin.cast.cast_file import Cast
from keydub.plugin.timeline.tracks import METADATA_KEY, keydub_metadata


CAST_KEY = "cast"


def timeline_with_cast(timeline: otio.schema.Timeline, cast: Cast) -> otio.schema.Timeline:
    """A copy of `timeline` whose Keydub metadata holds `cast` (the input is not changed)."""
    result = copy.deepcopy(timeline)
    metadata = keydub_metadata(result)
    metadata[CAST_KEY] = cast.to_dict()
    result.metadata[METADATA_KEY] = metadata
    return result


def cast_from_timeline(timeline: otio.schema.Timeline, base_dir: Path) -> Cast | None:
    """The cast kept on a timeline, checked like a `cast.toml` (`None` when it holds none).

    Args:
        timeline (`otio.schema.Timeline`): the timeline.
        base_dir (`Path`): the folder relative paths are relative to (the timeline file's folder).

    Raises:
        `InvalidParameterError`: the metadata holds a cast that is not valid.
    """
    data = keydub_metadata(timeline).get(CAST_KEY)
    if data is None:
        return None
    return Cast.from_dict(data, base_dir, f"the cast in timeline {timeline.name!r}'s metadata")

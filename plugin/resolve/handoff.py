"""Renders handed to Resolve when Keydub cannot reach it: the result timeline saved in the output folder, for the
Workspace > Scripts > "Keydub - Import renders" menu entry to apply from inside Resolve.

External scripting needs Resolve Studio with Preferences > System > General > External scripting using: Local. A
menu script needs neither: it runs inside Resolve with the `resolve` object. So when the panel cannot reach
Resolve, it saves its result timeline here with the write-back strategy the editor chose, and the menu entry asks
`keydub resolve placements` for what to place (this module, in Keydub's own Python with OpenTimelineIO), then
places it through the standard-library bridge in Resolve's Python.

This module imports OpenTimelineIO; the bridge imports it only when a function here is called.
"""

from pathlib import Path
from typing import Any

import opentimelineio as otio

from keydub.core.errors import TimelineError
from keydub.plugin.resolve.bridge import default_out_dir
from keydub.plugin.resolve.otio_shape import placements_from_timeline
from keydub.plugin.resolve.writeback import STRATEGIES
from keydub.plugin.timeline.otio_file import read_timeline, write_timeline
from keydub.plugin.timeline.tracks import METADATA_KEY


PENDING_NAME = "resolve_import.otio"
_STRATEGY_KEY = "resolve_strategy"


def pending_import_path(out_dir: Path) -> Path:
    """Where the renders waiting for "Keydub - Import renders" are kept in an output folder."""
    return Path(out_dir) / PENDING_NAME


def save_for_import(result: otio.schema.Timeline, out_dir: Path, strategy: str) -> Path:
    """Save `result` (a Keydub result timeline) for the menu entry, with `strategy`; returns the file.

    Raises:
        `TimelineError`: `result` holds no render, or `strategy` is unknown.
    """
    if strategy not in STRATEGIES:
        raise TimelineError(f"unknown write-back strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    placements_from_timeline(result)  # refuses what the menu entry could not place
    document = result.deepcopy()
    document.metadata[METADATA_KEY] = {**dict(document.metadata.get(METADATA_KEY, {})), _STRATEGY_KEY: strategy}
    return write_timeline(document, pending_import_path(out_dir), overwrite=True)


def pending_import(project: str, timeline: str, path: Path | None = None) -> dict[str, Any]:
    """What the menu entry places: `{"timeline", "strategy", "placements"}` (placements as plain data), from
    `path` or the output folder of `project`/`timeline`.

    Raises:
        `TimelineError`: nothing is waiting there, or the file is not a Keydub result.
    """
    path = Path(path) if path is not None else pending_import_path(default_out_dir(project, timeline))
    if not path.is_file():
        raise TimelineError(
            f"no renders are waiting for timeline {timeline!r} of project {project!r} (looked for {path}); render "
            "them in the Keydub panel and press Send to Resolve first"
        )
    document = read_timeline(path)
    strategy = document.metadata.get(METADATA_KEY, {}).get(_STRATEGY_KEY, "track")
    placements = placements_from_timeline(document, base_dir=path.parent)
    return {
        "timeline": document.name,
        "strategy": strategy if strategy in STRATEGIES else "track",
        "placements": [placement.to_dict() for placement in placements],
    }

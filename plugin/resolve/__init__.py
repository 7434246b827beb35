"""The DaVinci Resolve bridge: read the open timeline, put renders back as a track or takes. Standard library only
at import, so it also runs under the Python Resolve launches its scripts with; OpenTimelineIO and the engine are
imported when a function needs them.

Public API:
    probe() -> BridgeStatus: product, edition, version, project and current timeline, or a
        `ResolveUnavailableError` naming the cause and the fix.
    snapshot(timeline=None, *, resolve=None) -> otio.schema.Timeline: the timeline, Resolve-shaped, for the planner.
    apply(results, strategy="track", *, timeline=None, resolve=None) -> ApplyReport: renders into the bin
        `Keydub/<timeline>/<dub>`, then a new track, takes, or a copy of the timeline; a QC marker on each.
    render_and_apply(options, out_dir, ...) -> ResolveRun: snapshot, the resumable batch, apply.
    read_state(...) -> TimelineState: the timeline as plain data (standard library only).
    connect(), script_paths(): the documented connection (`RESOLVE_SCRIPT_API`, `RESOLVE_SCRIPT_LIB`).

The panel (`keydub panel --resolve [--timeline NAME]`, started by `resolve_scripts/Keydub.py`) lists the clips of
`snapshot(NAME)` as it lists an OTIO timeline's, and its export calls `apply(result_timeline, "takes",
timeline=NAME)`; both take the panel's own connected `resolve` object so that its Resolve calls stay on one thread.
"""

from keydub.plugin.resolve.bridge import ResolveRun, apply, read_state, render_and_apply, snapshot
from keydub.plugin.resolve.connection import ScriptPaths, connect, script_paths
from keydub.plugin.resolve.errors import ResolveCallError, ResolveUnavailableError
from keydub.plugin.resolve.project import BridgeStatus, probe
from keydub.plugin.resolve.state import TimelineState
from keydub.plugin.resolve.writeback import STRATEGIES, ApplyReport, Placement


__all__ = [
    "STRATEGIES",
    "ApplyReport",
    "BridgeStatus",
    "Placement",
    "ResolveCallError",
    "ResolveRun",
    "ResolveUnavailableError",
    "ScriptPaths",
    "TimelineState",
    "apply",
    "connect",
    "probe",
    "read_state",
    "render_and_apply",
    "script_paths",
    "snapshot",
]

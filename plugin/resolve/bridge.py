"""The three calls the rest of Keydub uses: `probe` (in `project`), `snapshot` and `apply`, plus `render_and_apply`.

`snapshot` and `apply` take an optional connected `Resolve` object (the panel keeps one; a menu script is given
one) and connect the documented way otherwise. OpenTimelineIO and the engine are imported inside the functions
that need them, so that importing this module needs only the standard library.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.plugin.resolve.calls import Calls
from keydub.plugin.resolve.connection import connect
from keydub.plugin.resolve.project import current_project, find_timeline
from keydub.plugin.resolve.state import TimelineState, read_timeline_state
from keydub.plugin.resolve.version import version_of
from keydub.plugin.resolve.writeback import ApplyReport, Placement, apply_placements, safe_bin_name


if TYPE_CHECKING:
    import opentimelineio as otio

    from keydub.core.cancel import CancelToken
    from keydub.core.progress import ProgressCallback
    from keydub.plugin.timeline.batch import TimelineRun
    from keydub.plugin.timeline.executors import BatchExecutor
    from keydub.plugin.timeline.plan import PlanOptions


def session(resolve: Any = None, in_app: bool = False) -> tuple[Any, Any, Calls]:
    """`(resolve, project, calls)`: the connected Resolve (connecting unless given), its open project and the calls
    of its version, checked to be one Keydub can use before anything is read or written.

    Args:
        resolve (`Any`): a connected `Resolve`; `None` to connect.
        in_app (`bool`): `resolve` is a menu script's, inside Resolve (the free edition runs those too).

    Raises:
        `ResolveUnavailableError`: Resolve cannot be reached, is older than 19.0.2, has no project open, or is the
            free edition reached from outside.
    """
    resolve = resolve if resolve is not None else connect()
    project = current_project(resolve, in_app)
    return resolve, project, Calls(version_of(resolve))


def read_state(timeline: str | None = None, *, resolve: Any = None) -> TimelineState:
    """The current (or named) timeline of the open project as plain data (standard library only).

    Args:
        timeline (`str | None`): a timeline name; `None` for the current timeline.
        resolve (`Any`): a connected `Resolve` object; `None` to connect.

    Raises:
        `ResolveUnavailableError`: Resolve cannot be reached, is older than 19.0.2, no project is open, or no
            such timeline.
        `ResolveCallError`: an answer was a silent failure.
    """
    _, project, calls = session(resolve)
    return read_timeline_state(find_timeline(project, timeline), project, calls)


def snapshot(timeline: str | None = None, *, resolve: Any = None) -> "otio.schema.Timeline":
    """The current (or named) Resolve timeline as a Resolve-shaped OTIO `Timeline`, which the planner
    (`plan_timeline`, `render_timeline`) and the panel take as they take a Resolve export.

    Record ranges are absolute timeline frames (`global_start_time` is the start timecode), source ranges and
    available ranges are in each media file's timecode, rates are exact (`"23.976"` is `24000/1001`), transitions
    stay transitions, track names and enabled states are kept, and Keydub's own tracks are marked
    `metadata["keydub"]["role"] = "output"` (so they are not taken for picture).

    Args:
        timeline (`str | None`): a timeline name; `None` for the current timeline.
        resolve (`Any`): a connected `Resolve` object; `None` to connect.

    Returns:
        `otio.schema.Timeline`: a new object; Resolve is only read.

    Raises:
        `ResolveUnavailableError`, `ResolveCallError`: see `read_state`.
    """
    from keydub.plugin.resolve.otio_shape import timeline_from_state

    return timeline_from_state(read_state(timeline, resolve=resolve))


def apply(
    results: "otio.schema.Timeline | str | os.PathLike[str] | Sequence[Placement]",
    strategy: str = "track",
    *,
    timeline: str | None = None,
    resolve: Any = None,
    in_app: bool = False,
) -> ApplyReport:
    """Put renders back on a Resolve timeline: into the bin `Keydub/<timeline>/<dub track>`, then as a new track,
    as takes, or on a copy of the timeline, with a QC marker on each (see `writeback`). Nothing original changes
    and applying the same results again adds nothing.

    Args:
        results (`otio.schema.Timeline | PathLike | Sequence[Placement]`): the result timeline of
            `render_timeline` (`TimelineRun.timeline`), a result `.otio` file (e.g. rendered on another machine), or
            placements.
        strategy (`str`, defaults to `"track"`): `"track"`, `"takes"` or `"duplicate"`.
        timeline (`str | None`): the Resolve timeline to write to; defaults to the one named like the results
            (the current one for bare placements).
        resolve (`Any`): a connected `Resolve` object; `None` to connect.
        in_app (`bool`): `resolve` is a menu script's, inside Resolve (see `session`).

    Returns:
        `ApplyReport`: what was imported, added and saved.

    Raises:
        `ResolveUnavailableError`: Resolve cannot be reached, or no such timeline.
        `ResolveCallError`: a clip changed since the render (checked before any write), a call failed, or a write
            did not read back.
        `TimelineError`: the results are not a Keydub result timeline.
    """
    placements, name = _placements(results)
    resolve, project, calls = session(resolve, in_app)
    target = find_timeline(project, timeline if timeline is not None else name)
    return apply_placements(resolve, project, target, placements, strategy, calls)


def _placements(results: Any) -> tuple[list[Placement], str | None]:
    if isinstance(results, (str, os.PathLike)):
        from keydub.plugin.resolve.otio_shape import placements_from_timeline
        from keydub.plugin.timeline.otio_file import read_timeline

        path = Path(results).absolute()
        document = read_timeline(path)
        return placements_from_timeline(document, base_dir=path.parent), document.name
    if isinstance(results, Sequence):
        return list(results), None
    from keydub.plugin.resolve.otio_shape import placements_from_timeline

    return placements_from_timeline(results), results.name


@dataclass(frozen=True)
class ResolveRun:
    """The result of `render_and_apply`: the batch (`run`) and the write-back (`applied`, `None` when nothing was
    rendered successfully)."""

    run: "TimelineRun"
    applied: ApplyReport | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "applied": self.applied.to_dict() if self.applied is not None else None}


def default_out_dir(project: str, timeline: str) -> Path:
    """Where renders go unless told: `~/Keydub/<project>/<timeline>` (never beside the source media)."""
    return Path.home() / "Keydub" / safe_bin_name(project) / safe_bin_name(timeline)


def render_and_apply(
    options: "PlanOptions",
    out_dir: Path | None = None,
    *,
    timeline: str | None = None,
    strategy: str = "track",
    output_path: Path | None = None,
    overwrite: bool = False,
    force: bool = False,
    executor: "BatchExecutor | None" = None,
    progress: "ProgressCallback | None" = None,
    cancel: "CancelToken | None" = None,
    resolve: Any = None,
) -> ResolveRun:
    """Snapshot a Resolve timeline, render its dialogue clips as `keydub timeline` does (same jobs, job store and
    resumable batch: only what changed is rendered), then `apply` the renders.

    Args:
        options (`PlanOptions`): dub track(s), picture tracks, handles, clip selection, render options.
        out_dir (`Path | None`): folder for the renders and the job store; defaults to `default_out_dir`.
        timeline (`str | None`): the Resolve timeline; `None` for the current one.
        strategy (`str`, defaults to `"track"`): see `apply`.
        output_path (`Path | None`): also write the result timeline there; overwrite (`bool`): replace it.
        force (`bool`), executor (`BatchExecutor | None`), progress (`ProgressCallback | None`),
            cancel (`CancelToken | None`): see `render_timeline`.
        resolve (`Any`): a connected `Resolve` object; `None` to connect.

    Raises:
        Any error of `snapshot`, `render_timeline` and `apply`; unknown dub tracks fail before any render.
    """
    from keydub.plugin.store import JobState
    from keydub.plugin.timeline.batch import render_timeline

    resolve, project, _ = session(resolve)
    picture = snapshot(timeline, resolve=resolve)
    if out_dir is None:
        out_dir = default_out_dir(project.GetName(), picture.name)
    run = render_timeline(
        picture,
        out_dir,
        output_path,
        options,
        executor=executor,
        force=force,
        overwrite=overwrite,
        progress=progress,
        cancel=cancel,
    )
    if not any(outcome.state is JobState.DONE for outcome in run.outcomes):
        return ResolveRun(run=run, applied=None)
    return ResolveRun(run=run, applied=apply(run.timeline, strategy, timeline=picture.name, resolve=resolve))

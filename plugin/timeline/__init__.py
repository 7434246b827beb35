"""OpenTimelineIO dubbing timelines: plan the renders of a timeline, run them as a resumable batch, and write the
results back as a new timeline with a Keydub track. Pure functions over OTIO objects; the input is never changed.

Public API:
    read_timeline, write_timeline: `.otio` files in (with clear errors) and out (atomically).
    plan_timeline, PlanOptions, TimelinePlan, PlannedClip: which clips to render, with which audio, and why not.
    render_timeline, run_batch, preview_batch, OutputFolder, TimelineRun, ClipOutcome: the batch.
    timeline_with_results, output_track_name, RenderedClip: the result timeline.
"""

from keydub.plugin.timeline.batch import (
    ClipOutcome,
    OutputFolder,
    TimelineRun,
    preview_batch,
    render_timeline,
    run_batch,
)
from keydub.plugin.timeline.otio_file import read_timeline, write_timeline
from keydub.plugin.timeline.output import RenderedClip, output_track_name, timeline_with_results
from keydub.plugin.timeline.plan import PlannedClip, PlanOptions, TimelinePlan, plan_timeline


__all__ = [
    "ClipOutcome",
    "OutputFolder",
    "PlanOptions",
    "PlannedClip",
    "RenderedClip",
    "TimelinePlan",
    "TimelineRun",
    "output_track_name",
    "plan_timeline",
    "preview_batch",
    "read_timeline",
    "render_timeline",
    "run_batch",
    "timeline_with_results",
    "write_timeline",
]

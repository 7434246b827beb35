"""A stand-in engine that reports a render's own stages, for the panel's per-job progress bar.

`keydub worker --engine staged_engine:staged_engine` (with this folder on `PYTHONPATH`) renders like the copy
stand-in but first reports landmarks, the model load, keyframe and interpolation steps, then writes the frames as
`render` events, each event `KEYDUB_TEST_FRAME_DELAY` seconds apart: the stages a bar per stage would show falling
back from 100 % to 0 %.
"""

import os
import time
from dataclasses import replace

from otio_fixtures import SLOW_RENDER_ENV, copy_renderer
from queue_fixtures import FunctionEngine

from keydub.core.progress import Progress, ProgressCallback, Stage, Unit, report
from keydub.core.render.request import RenderRequest, RenderResult


STEPS = 4
"""Keyframe and interpolation steps the stand-in reports (each)."""


def staged_renderer(request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
    """The copy stand-in's render, after the stages of a real render."""
    delay = float(os.environ.get(SLOW_RENDER_ENV, "0"))
    stages = [(Stage.LANDMARKS, done, STEPS, Unit.FRAMES) for done in range(1, STEPS + 1)]
    stages += [(Stage.LOAD_MODEL, 0, 1, Unit.FRAMES), (Stage.LOAD_MODEL, 1, 1, Unit.FRAMES)]
    for stage in (Stage.KEYFRAMES, Stage.INTERPOLATION):
        stages += [(stage, done, STEPS, Unit.STEPS) for done in range(1, STEPS + 1)]
    for stage, done, total, unit in stages:
        report(progress, stage, done, total, unit=unit)
        time.sleep(delay)

    def as_render(event: Progress) -> None:
        if progress is not None:
            progress(replace(event, stage=Stage.RENDER))

    return copy_renderer(request, as_render)


def staged_engine() -> FunctionEngine:
    """`--engine` factory of worker subprocesses."""
    return FunctionEngine(staged_renderer)

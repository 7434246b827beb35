"""Stand-in engines for tests of the queue, the worker and the batch executors.

`FunctionEngine` gives a render function (`copy_renderer` and its variants) the engine's interface: it honours
the cancel token at every progress point, as `Engine.render` does. `copy_engine` is the factory a `keydub worker`
subprocess loads with `--engine queue_fixtures:copy_engine` (with this folder on `PYTHONPATH`).
"""

import dataclasses
import os
import signal
from collections.abc import Callable
from pathlib import Path

from otio_fixtures import copy_renderer, write_three_clip_timeline

from keydub.core.cancel import CancelToken, cancellable
from keydub.core.progress import ProgressCallback
from keydub.core.render.request import RenderRequest, RenderResult
from keydub.plugin.jobs import ClipJob
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobStore
from keydub.plugin.timeline.executors import InProcessExecutor
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline


TESTS = Path(__file__).resolve().parent

RenderFunction = Callable[[RenderRequest, ProgressCallback | None], RenderResult]


class FunctionEngine:
    """An engine whose `render` is `function(request, progress)`, cancellable at each progress event.

    Args:
        function (`RenderFunction`): renders one request.
    """

    def __init__(self, function: RenderFunction = copy_renderer) -> None:
        self.function = function
        self.requests: list[RenderRequest] = []

    def render(
        self, request: RenderRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> RenderResult:
        self.requests.append(request)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return self.function(request, cancellable(progress, cancel))


def in_process(function: RenderFunction = copy_renderer) -> InProcessExecutor:
    """An in-process executor rendering with `function`."""
    return InProcessExecutor(FunctionEngine(function))


def copy_engine() -> FunctionEngine:
    """`--engine` factory of worker subprocesses: the copy stand-in (slowed by `KEYDUB_TEST_FRAME_DELAY`)."""
    return FunctionEngine(copy_renderer)


def dying_engine() -> FunctionEngine:
    """`--engine` factory of a worker that kills itself (SIGKILL) at the fifth frame of its first render."""

    def render_and_die(request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        def tick(update):
            if update.done == 5:
                os.kill(os.getpid(), signal.SIGKILL)
            if progress is not None:
                progress(update)

        return copy_renderer(request, tick)

    return FunctionEngine(render_and_die)


def subprocess_environment(**extra: str) -> dict[str, str]:
    """This process's environment with the tests folder importable (for `--engine queue_fixtures:...`)."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def queued_jobs(tmp_path: Path, folder: OutputFolder, count: int = 3) -> list[ClipJob]:
    """`count` real jobs (3 clips of the three-clip timeline, then the same clips with other seeds), planned into
    `folder` (their dub audio in its cache) and submitted to its queue, in this order."""
    fixture = write_three_clip_timeline(tmp_path)
    folder.prepare()
    options = PlanOptions(dub_tracks=("DX es-419",), render_options={"codec": "ffv1"})
    planned = plan_timeline(read_timeline(fixture.path), fixture.path.parent, folder.audio_cache, options).jobs
    jobs = [
        dataclasses.replace(
            planned[index % len(planned)],
            job_id=f"{planned[index % len(planned)].job_id}#{index // len(planned)}",
            options={"codec": "ffv1", "seed": index // len(planned)},
        )
        for index in range(count)
    ]
    with JobStore(folder.store_path) as store:
        for job in jobs:
            store.submit(job.job_id, job.name, job.content_hash(), job.to_dict())
    return jobs

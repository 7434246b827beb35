"""Stand-in engines for tests of the queue, the worker and the batch executors.

`FunctionEngine` gives a render function (`copy_renderer` and its variants) the engine's interface: it honours
the cancel token at every progress point, as `Engine.render` does. `copy_engine` is the factory a `keydub worker`
subprocess loads with `--engine queue_fixtures:copy_engine` (with this folder on `PYTHONPATH`).
"""

import os
from collections.abc import Callable
from pathlib import Path

from otio_fixtures import copy_renderer

from keydub.core.cancel import CancelToken, cancellable
from keydub.core.progress import ProgressCallback
from keydub.core.render.request import RenderRequest, RenderResult
from keydub.plugin.timeline.executors import InProcessExecutor


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

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None) -> RenderResult:
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


def subprocess_environment(**extra: str) -> dict[str, str]:
    """This process's environment with the tests folder importable (for `--engine queue_fixtures:...`)."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, **extra}

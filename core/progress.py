"""Progress reporting shared by every long operation: a plain value handed to a callback."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """How far a long operation is.

    Args:
        stage (`str`): what is running, e.g. `"decode"`, `"landmarks"`, `"keyframes"`, `"encode"`.
        done (`int`): units finished in this stage.
        total (`int | None`): units in this stage, `None` when unknown.
    """

    stage: str
    done: int
    total: int | None = None


ProgressCallback = Callable[[Progress], None]


def report(progress: ProgressCallback | None, stage: str, done: int, total: int | None = None) -> None:
    """Send a `Progress` to `progress` if there is a callback."""
    if progress is not None:
        progress(Progress(stage, done, total))

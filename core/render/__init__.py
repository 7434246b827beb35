"""The render path: one source clip + dub audio -> the same clip with the lower face regenerated.

- `options`: `RenderOptions`, what a render can be asked to do, the declaration every layer derives from;
- `request`: what a render is asked for and what it returns (`RenderRequest`, `RenderResult`, `FaceChoice`, `Speaker`);
  light to import, so building a command line or a job does not load the engine.
- `path`: `render_clip`, the render path read top to bottom.
- `preview`: `write_mask_preview`, the region a render would regenerate, tinted on the source, without the model.

The render path itself is imported on first use of one of its names.
"""

from typing import TYPE_CHECKING

from keydub.core.render.options import RenderOptions
from keydub.core.render.request import FaceChoice, RenderRequest, RenderResult, Speaker


if TYPE_CHECKING:
    from keydub.core.render.path import StageTimer, load_pipeline, render_clip

_LAZY = {"render_clip", "load_pipeline", "StageTimer"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from keydub.core.render import path

        return getattr(path, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FaceChoice",
    "RenderOptions",
    "RenderRequest",
    "RenderResult",
    "Speaker",
    "StageTimer",
    "load_pipeline",
    "render_clip",
]

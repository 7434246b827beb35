"""`FrameRange`: a run of a clip's source frames, start included, end excluded (as OTIO's ranges).

What a render covers (handles included), what an occlusion session tracks and what a clip analysis describes.
"Window" is kept for the model's 14-frame window; a range of source frames is a `FrameRange`.
"""

from typing import NamedTuple

import numpy as np


class FrameRange(NamedTuple):
    """Source frames `[start, end)`. A tuple, so `start, end = frames` reads it and JSON stores `[start, end]`."""

    start: int
    end: int

    @property
    def frame_count(self) -> int:
        return self.end - self.start


def true_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """`[start, end)` runs of true values of a 1-D array (frames with a face, frames a render changes, ...)."""
    edges = np.diff(np.concatenate([[0], np.asarray(values).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))

"""`FrameRange`: a run of a clip's source frames, start included, end excluded (as OTIO's ranges).

What a render covers (handles included), what an occlusion session tracks and what a clip analysis describes.
"Window" is kept for the model's 14-frame window; a range of source frames is a `FrameRange`.
"""

from typing import NamedTuple


class FrameRange(NamedTuple):
    """Source frames `[start, end)`. A tuple, so `start, end = frames` reads it and JSON stores `[start, end]`."""

    start: int
    end: int

    @property
    def frame_count(self) -> int:
        return self.end - self.start

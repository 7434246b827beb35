"""A picture of the MAR curve: mouth aspect ratio per frame against the open-mouth threshold, as a PNG.

Drawn with Pillow (already a dependency of the imaging stack), so no plotting library is needed.
"""

import io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..files import write_bytes_atomically
from .mar import LIPLEAK_THRESHOLD, open_mouth_frames


PLOT_SIZE = (960, 360)
"""Width and height of the picture in pixels."""

_MARGIN = (56, 16, 16, 40)  # left, top, right, bottom: room for the axis labels
_BACKGROUND, _GRID, _AXIS = (255, 255, 255), (225, 225, 225), (60, 60, 60)
_CURVE, _OPEN, _THRESHOLD, _MISSING = (31, 90, 170), (205, 40, 40), (230, 140, 0), (200, 200, 200)


def draw_mar_plot(
    mar: np.ndarray,
    path: str | os.PathLike[str],
    *,
    frame_rate: Fraction | None = None,
    threshold: float = LIPLEAK_THRESHOLD,
    title: str = "",
) -> Path:
    """Draw MAR over time and write it as a PNG, atomically.

    The curve is blue, frames above the threshold are marked red, the threshold is an orange line, and frames
    without a face are grey ticks on the time axis.

    Args:
        mar (`np.ndarray` of shape `(n,)`): MAR per frame, NaN where no face was found.
        path (`str | os.PathLike`): the PNG to write.
        frame_rate (`Fraction | None`): labels the time axis in seconds when given, in frames otherwise.
        threshold (`float`, defaults to 0.25): the open-mouth threshold to draw.
        title (`str`): a line of text at the top left.

    Returns:
        `Path`: `path`.
    """
    values = np.asarray(mar, dtype=np.float64)
    image = Image.new("RGB", PLOT_SIZE, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = _MARGIN[0], _MARGIN[1], PLOT_SIZE[0] - _MARGIN[2], PLOT_SIZE[1] - _MARGIN[3]
    finite = values[np.isfinite(values)]
    # At least 0.5 so that a closed mouth does not fill the plot; above the largest value otherwise.
    ceiling = max(0.5, threshold * 1.2, float(finite.max()) * 1.1 if finite.size else 0.0)
    frames = max(1, len(values) - 1)

    def x_of(index: float) -> float:
        return left + (right - left) * index / frames

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ceiling

    for tick in np.arange(0.0, ceiling + 1e-9, 0.1):
        draw.line([(left, y_of(tick)), (right, y_of(tick))], fill=_GRID)
        draw.text((8, y_of(tick) - 6), f"{tick:.1f}", fill=_AXIS)
    for index in _time_ticks(len(values), frame_rate):
        draw.line([(x_of(index), top), (x_of(index), bottom)], fill=_GRID)
        label = f"{float(index / frame_rate):.1f}s" if frame_rate else str(index)
        draw.text((x_of(index) - 10, bottom + 6), label, fill=_AXIS)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=_AXIS)
    draw.line([(left, y_of(threshold)), (right, y_of(threshold))], fill=_THRESHOLD, width=2)
    for index in np.flatnonzero(~np.isfinite(values)):
        draw.line([(x_of(index), bottom - 6), (x_of(index), bottom)], fill=_MISSING, width=2)
    # Break the line where the face is missing rather than drawing across the gap.
    for run in _finite_runs(values):
        points = [(x_of(i), y_of(values[i])) for i in run]
        if len(points) > 1:
            draw.line(points, fill=_CURVE, width=2)
    for index in np.flatnonzero(open_mouth_frames(values, threshold)):
        x, y = x_of(index), y_of(values[index])
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=_OPEN)
    draw.text((left + 6, top + 2), title or f"MAR per frame (threshold {threshold})", fill=_AXIS)
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    write_bytes_atomically(path, encoded.getvalue())
    return Path(path)


def _time_ticks(count: int, frame_rate: Fraction | None) -> list[int]:
    """About ten frame indices for vertical grid lines, on whole seconds when the rate is known."""
    if count < 2:
        return [0]
    if frame_rate:
        seconds = max(1, round(count / float(frame_rate) / 10))
        step = Fraction(seconds) * frame_rate
        return [round(k * step) for k in range(int(Fraction(count - 1) / step) + 1)]
    step = max(1, round(count / 10))
    return list(range(0, count, step))


def _finite_runs(values: np.ndarray) -> list[range]:
    runs, start = [], None
    for index, is_finite in enumerate(np.isfinite(values).tolist() + [False]):
        if is_finite and start is None:
            start = index
        elif not is_finite and start is not None:
            runs.append(range(start, index))
            start = None
    return runs

"""The MAR plot: curve, open frames, threshold and missing faces drawn where they belong, written atomically."""

import os
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from keydub.core.metrics.plot import PLOT_SIZE, draw_mar_plot


CURVE, OPEN, THRESHOLD, MISSING = (31, 90, 170), (205, 40, 40), (230, 140, 0), (200, 200, 200)
LEFT, TOP, RIGHT, BOTTOM = 56, 16, PLOT_SIZE[0] - 16, PLOT_SIZE[1] - 40


def pixels_of(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.size == PLOT_SIZE and image.mode == "RGB"
        return np.asarray(image)


def is_colour(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return (pixels == np.array(colour, np.uint8)).all(axis=-1)


def test_plot_marks_open_frames_threshold_and_missing_faces(tmp_path):
    mar = np.array([0.1, 0.6, np.nan, 0.2, 0.1])
    path = draw_mar_plot(mar, tmp_path / "plots" / "shot.mar.png", frame_rate=Fraction(25))
    pixels = pixels_of(path)
    assert [p.name for p in path.parent.iterdir()] == ["shot.mar.png"]  # no partial file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any new file, not a private temp file

    # Scale: the top of the plot is 1.1 x the largest MAR (0.66); frames are spread over the plot's width.
    def x_of(frame: float) -> int:
        return round(LEFT + (RIGHT - LEFT) * frame / 4)

    def y_of(value: float) -> int:
        return round(BOTTOM - (BOTTOM - TOP) * value / 0.66)

    # The threshold line (0.25) crosses the plot at its height, clear of the curve's points.
    threshold_row = is_colour(pixels[y_of(0.25) - 1 : y_of(0.25) + 2, LEFT + 1 : RIGHT], THRESHOLD).any(axis=0)
    assert threshold_row.mean() > 0.8
    # Only frame 1 (0.6) is open: one red marker there, none on the closed frames.
    red = is_colour(pixels, OPEN)
    rows, cols = np.nonzero(red)
    assert abs(cols.mean() - x_of(1)) < 2 and abs(rows.mean() - y_of(0.6)) < 2
    assert cols.min() > x_of(1) - 4 and cols.max() < x_of(1) + 4
    # Frame 2 has no face: a grey tick on the time axis, and the curve is broken around it (no blue on the
    # columns between frames 1 and 3 except where the runs end).
    assert is_colour(pixels[BOTTOM - 5 : BOTTOM, x_of(2)], MISSING).all()
    blue = is_colour(pixels, CURVE)
    assert not blue[:, x_of(1.5) : x_of(2.5)].any()
    assert blue[:, x_of(0.5)].any() and blue[:, x_of(3.5)].any()
    # The curve between frames 3 (0.2) and 4 (0.1) passes through 0.15 halfway.
    assert abs(np.flatnonzero(blue[:, x_of(3.5)]).mean() - y_of(0.15)) <= 2


def test_closed_mouth_plot_keeps_a_readable_scale(tmp_path):
    """A mouth that never opens is drawn on a 0-0.5 scale (not stretched to fill the plot), with no red marker."""
    pixels = pixels_of(draw_mar_plot(np.full(10, 0.05), tmp_path / "closed.png"))
    assert not is_colour(pixels, OPEN).any()
    rows = np.flatnonzero(is_colour(pixels, CURVE).any(axis=1))
    assert abs(rows.mean() - (BOTTOM - (BOTTOM - TOP) * 0.05 / 0.5)) <= 2


@pytest.mark.parametrize("mar", [np.array([]), np.full(3, np.nan), np.array([0.4])])
def test_degenerate_series_still_give_a_plot(tmp_path, mar):
    pixels = pixels_of(draw_mar_plot(mar, tmp_path / "plot.png"))
    assert is_colour(pixels, THRESHOLD).any()

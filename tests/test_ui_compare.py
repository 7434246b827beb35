"""Compare: source and render of the same moment as a split wipe with a draggable divider or an A/B toggle,
checked in pixels, and playback of the render with its sound through QtMultimedia."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


pytest.importorskip("PySide6")
from media_fixtures import make_test_clip  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from keydub.core.media import probe  # noqa: E402
from keydub.ui.compare import RENDER, SOURCE, SPLIT, CompareView  # noqa: E402


WIDTH, HEIGHT = 160, 120


def solid(value: int):
    return lambda index: np.full((HEIGHT, WIDTH, 3), value, dtype=np.uint8)


@pytest.fixture
def clips(tmp_path):
    """A dark 30-frame source and a bright 10-frame 'render' of its frames 12-21."""
    source = make_test_clip(tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=30, frames=solid(30))
    render = make_test_clip(
        tmp_path / "render.mkv", width=WIDTH, height=HEIGHT, frame_count=10, frames=solid(220), audio_rate=16000
    )
    return source, render


@pytest.fixture
def compare(qtbot, clips):
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.show()
    source, render = clips
    view.set_clips(source, probe(source), render, probe(render), first_source_frame=12)
    qtbot.waitUntil(lambda: view.is_showing(12), timeout=5000)
    yield view
    view.close_clips()


def brightness_at(view: CompareView, share: float) -> int:
    """Grey level on screen at `share` of the picture's width, mid-height."""
    rect = view.picture_rect()
    image = view.grab().toImage()
    return image.pixelColor(int(rect.left() + share * rect.width()), int(rect.center().y())).red()


def test_the_split_shows_source_left_and_render_right_of_a_draggable_divider(qtbot, compare):
    assert compare.mode == SPLIT and compare.frame_range == (12, 22)
    assert brightness_at(compare, 0.25) < 60 and brightness_at(compare, 0.75) > 190
    # Drag the divider from the middle to 80 % of the width: the source now covers 0.7 too.
    rect = compare.picture_rect()
    y = int(rect.center().y())
    qtbot.mousePress(compare, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(int(rect.center().x()), y))
    target = QtCore.QPoint(int(rect.left() + 0.8 * rect.width()), y)
    qtbot.mouseMove(compare, target)
    qtbot.mouseRelease(compare, QtCore.Qt.MouseButton.LeftButton, pos=target)
    assert compare.divider == pytest.approx(0.8, abs=0.02)
    assert brightness_at(compare, 0.7) < 60 and brightness_at(compare, 0.9) > 190


def test_t_toggles_a_and_b_and_s_splits_again(qtbot, compare):
    qtbot.keyClick(compare, QtCore.Qt.Key.Key_T)
    assert compare.mode == SOURCE and brightness_at(compare, 0.75) < 60
    qtbot.keyClick(compare, QtCore.Qt.Key.Key_T)
    assert compare.mode == RENDER and brightness_at(compare, 0.25) > 190
    qtbot.keyClick(compare, QtCore.Qt.Key.Key_S)
    assert compare.mode == SPLIT


def test_both_sides_show_the_same_moment_and_seeks_stay_inside_the_render(qtbot, compare):
    compare.seek(15)
    qtbot.waitUntil(lambda: compare.is_showing(15), timeout=5000)
    assert compare._images["render"][0] == 3  # render frame 3 is source frame 15
    compare.seek(40)
    qtbot.waitUntil(lambda: compare.is_showing(21), timeout=5000)
    compare.seek(0)
    qtbot.waitUntil(lambda: compare.is_showing(12), timeout=5000)


# QMediaPlayer.stop() of Qt 6.12's FFmpeg backend sometimes never returns on a machine without a sound server, so
# playback is checked in a child process that a deadlock cannot take the suite down with.
PLAYBACK_CHILD = "KEYDUB_TEST_PLAYBACK_CHILD"
PLAYBACK_TIMEOUT_S = 90


def test_playback_plays_the_render_file_with_its_sound(tmp_path):
    pytest.importorskip("PySide6.QtMultimedia", exc_type=ImportError)  # PySide6-Addons and its system libraries
    test = f"{__file__}::test_playback_in_this_process"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path), test]
    try:
        child = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PLAYBACK_TIMEOUT_S,
            env={**os.environ, PLAYBACK_CHILD: "1"},
            cwd=Path(__file__).parent.parent,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(
            f"QtMultimedia's player did not stop within {PLAYBACK_TIMEOUT_S} s (a deadlock of Qt's FFmpeg "
            "backend without a sound server)"
        )
    assert child.returncode == 0 and "1 passed" in child.stdout, child.stdout + child.stderr


@pytest.mark.skipif(
    not os.environ.get(PLAYBACK_CHILD), reason="run by test_playback_plays_the_render_file_with_its_sound"
)
def test_playback_in_this_process(qtbot, compare, clips):
    pytest.importorskip("PySide6.QtMultimedia", exc_type=ImportError)
    failures = []
    compare.playback_failed.connect(failures.append)
    compare.seek(15)
    compare.play_with_sound(clips[1])
    player = compare._player
    assert player is not None and player.source().toLocalFile() == str(clips[1])
    assert player.audioOutput() is not None
    qtbot.waitUntil(
        lambda: (
            failures
            or player.playbackState() == player.PlaybackState.PlayingState
            or player.mediaStatus() == player.MediaStatus.EndOfMedia
        ),
        timeout=5000,
    )
    assert not failures or "audio" in failures[0].lower()  # a machine without a sound device may refuse
    compare.stop_playback()
    assert not compare.is_playing

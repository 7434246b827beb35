"""Compare: source and render of the same moment as a split wipe with a draggable divider or an A/B toggle,
checked in pixels, and playback of the render with its sound through QtMultimedia."""

import contextlib
import faulthandler
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import pytest


pytest.importorskip("PySide6")
from heartbeat import Heartbeat  # noqa: E402
from media_fixtures import make_test_clip  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from keydub.core.media import probe  # noqa: E402
from keydub.ui.compare import RENDER, SOURCE, SPLIT, CompareView  # noqa: E402
from keydub.ui.playback import NO_AUDIO_DEVICE, RenderPlayer  # noqa: E402


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


# Playback once froze the window: QMediaPlayer.stop() never returned (Qt's FFmpeg backend waited for the GIL, see
# keydub.ui.playback). A regression would hang this process, where a pytest timeout cannot fire (the frozen thread
# holds the GIL); faulthandler's watchdog is C code, so it prints every thread's stack and ends the run instead.
PLAYBACK_LIMIT_S = 60
# A stop or a new player may take the UI thread this long at most.
STOP_LIMIT_S = 0.5


@pytest.fixture
def playback(request, compare):
    pytest.importorskip("PySide6.QtMultimedia", exc_type=ImportError)  # PySide6-Addons and its system libraries
    with terminal_stderr(request.config) as stderr:
        faulthandler.dump_traceback_later(PLAYBACK_LIMIT_S, exit=True, file=stderr)
        yield compare
        faulthandler.cancel_dump_traceback_later()


@contextlib.contextmanager
def terminal_stderr(config: pytest.Config) -> Iterator[TextIO]:
    """The stderr pytest had before capturing it: the watchdog's stacks must outlive the process."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        stream = os.fdopen(os.dup(sys.stderr.fileno()), "w")
    with stream:
        yield stream


def play_until_position(qtbot, view: CompareView, render: Path, position_ms: int, with_sound: bool | None = None):
    """Start playback and wait until the player is past `position_ms` with a picture of it on screen."""
    failures = []
    view.playback_failed.connect(failures.append)
    view.play_with_sound(render, with_sound=with_sound)
    player = view.player
    qtbot.waitUntil(
        lambda: failures or (view._sink_image is not None and player.position() > position_ms), timeout=5000
    )
    assert not failures
    return player


def timed_stop(view: CompareView) -> float:
    started = time.perf_counter()
    view.stop_playback()
    return time.perf_counter() - started


def test_playback_plays_the_render_from_the_shown_frame_and_stops_where_it_got(qtbot, playback, clips):
    playback.seek(15)  # render frame 3, 120 ms into the render
    qtbot.waitUntil(lambda: playback.is_showing(15), timeout=5000)
    player = play_until_position(qtbot, playback, clips[1], 200)
    assert player.source().toLocalFile() == str(clips[1])
    assert player.playbackState() == player.PlaybackState.PlayingState
    # While playing, the whole picture is the render's (bright), not the split with the dark source on the left.
    assert brightness_at(playback, 0.25) > 190 and brightness_at(playback, 0.75) > 190
    has_device = RenderPlayer.has_audio_device()
    assert (player.audioOutput() is not None) == has_device
    assert playback.status_text == ("" if has_device else NO_AUDIO_DEVICE)
    reached = playback.frame_index
    assert 15 < reached < 22

    assert timed_stop(playback) < STOP_LIMIT_S
    assert not playback.is_playing and playback.player is None and playback.status_text == ""
    assert player.playbackState() == player.PlaybackState.StoppedState
    # Back to the split, on the frame playback reached.
    qtbot.waitUntil(lambda: playback.is_showing(reached), timeout=5000)
    assert brightness_at(playback, 0.25) < 60 and brightness_at(playback, 0.75) > 190


def test_the_no_audio_device_notice_is_drawn_under_the_picture(qtbot, playback, clips):
    play_until_position(qtbot, playback, clips[1], 0, with_sound=False)
    assert playback.player.audioOutput() is None and playback.status_text == NO_AUDIO_DEVICE
    rect = playback.picture_rect()
    bottom = playback.grab().toImage().copy(QtCore.QRect(0, int(rect.bottom()) - 20, int(rect.width() / 2), 16))
    # White text on the bright render: some pixels are pure white, the render itself is grey 220.
    pixels = np.array([bottom.pixelColor(x, y).red() for x in range(bottom.width()) for y in range(bottom.height())])
    assert (pixels > 250).sum() > 20
    playback.stop_playback()
    assert playback.status_text == ""


def test_playing_and_stopping_with_an_audio_output_never_holds_up_the_ui_thread(qtbot, playback, clips):
    # An audio output without a device is what deadlocked: the backend's audio renderer is then created and deleted.
    heartbeat = Heartbeat()
    heartbeat.start()
    stops = []
    for round_index in range(6):
        player = play_until_position(qtbot, playback, clips[1], 40 * round_index, with_sound=True)
        assert player.audioOutput() is not None
        qtbot.wait(round_index * 20)
        stops.append(timed_stop(playback))
    qtbot.wait(100)  # the deleted players' threads end meanwhile
    heartbeat.stop()
    assert max(stops) < STOP_LIMIT_S, stops
    assert heartbeat.longest_wait() < 0.25, heartbeat.longest_wait()


def test_a_file_the_player_cannot_read_is_one_message_and_stops_at_once(qtbot, playback, tmp_path):
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"not a video" * 100)
    with qtbot.waitSignal(playback.playback_failed, timeout=5000) as failed:
        playback.play_with_sound(broken, with_sound=True)
    assert failed.args[0].startswith(f"cannot play {broken}: ") and "\n" not in failed.args[0]
    assert timed_stop(playback) < STOP_LIMIT_S and not playback.is_playing and playback.status_text == ""


def test_closing_the_view_while_playing_returns_at_once(qtbot, playback, clips):
    play_until_position(qtbot, playback, clips[1], 40, with_sound=True)
    started = time.perf_counter()
    playback.close()
    assert time.perf_counter() - started < STOP_LIMIT_S
    assert not playback.is_playing and playback.player is None


def play_to_the_end(qtbot, view: CompareView, render: Path) -> tuple[list[bool], list[int]]:
    """Play without sound until the file ends; the playing states the view announced and the render frames the
    player drew, in order."""
    states, frames = [], []
    view.playing_changed.connect(states.append)
    view._player.frame_ready.connect(lambda start_us, _image: frames.append(round(start_us * 25 / 1_000_000)))
    view.play_with_sound(render, with_sound=False)
    assert view.is_playing
    qtbot.waitUntil(lambda: not view.is_playing, timeout=5000)
    view.playing_changed.disconnect(states.append)
    return states, frames


def test_at_the_end_of_the_file_playback_stops_on_the_last_frame_and_plays_again_from_where_it_started(
    qtbot, playback, clips
):
    assert probe(clips[1]).frame_rate == 25  # `play_to_the_end` counts frames at 25 fps
    playback.seek(15)  # render frame 3
    qtbot.waitUntil(lambda: playback.is_showing(15), timeout=5000)
    states, frames = play_to_the_end(qtbot, playback, clips[1])
    # Stopped by itself, with no Stop: the player is gone and the view says so once.
    assert states == [True, False] and playback.player is None and playback.status_text == ""
    assert frames[0] == 3 and frames[-1] == 9, frames
    # The last frame stays on screen, as the split of both decoded sides.
    assert playback.frame_index == 21
    qtbot.waitUntil(lambda: playback.is_showing(21), timeout=5000)
    assert brightness_at(playback, 0.25) < 60 and brightness_at(playback, 0.75) > 190

    # Play again: from the frame the first playback started from, not from the last frame.
    states, frames = play_to_the_end(qtbot, playback, clips[1])
    assert states == [True, False] and frames[0] == 3 and playback.frame_index == 21

    # Played from the last frame itself, the next play starts from the first frame.
    playback.seek(21)
    qtbot.waitUntil(lambda: playback.is_showing(21), timeout=5000)
    states, frames = play_to_the_end(qtbot, playback, clips[1])
    assert states == [True, False] and frames[0] == 0 and frames[-1] == 9
    # A seek elsewhere after the end plays from there.
    playback.seek(18)
    qtbot.waitUntil(lambda: playback.is_showing(18), timeout=5000)
    _, frames = play_to_the_end(qtbot, playback, clips[1])
    assert frames[0] == 6

"""The viewer: frame-accurate display after every editor key, timecode readout, overlays and tools in pixels,
the bounded cache and stale decodes dropped."""

from pathlib import Path

import numpy as np
import pytest


pytest.importorskip("PySide6")
from media_fixtures import make_test_clip, read_index  # noqa: E402
from PySide6 import QtCore, QtGui  # noqa: E402

from keydub.core.media import probe  # noqa: E402
from keydub.core.media.keyframes import build_keyframe_index  # noqa: E402
from keydub.ui.viewer import FrameCache, Viewer, to_qimage  # noqa: E402


Key = QtCore.Qt.Key


@pytest.fixture
def long_gop_clip(tmp_path):
    """60 frames of H.264 at 25 fps with a 30-frame GOP and B-frames, starting at 01:00:00:00."""
    return make_test_clip(
        tmp_path / "gop.mp4", width=128, height=96, frame_count=60, codec="h264", gop=30, timecode="01:00:00:00"
    )


@pytest.fixture
def viewer(qtbot, long_gop_clip):
    widget = Viewer()
    qtbot.addWidget(widget)
    widget.resize(400, 360)
    widget.show()
    widget.open(long_gop_clip, probe(long_gop_clip))
    wait_shown(qtbot, widget, 0)
    yield widget
    widget.close_clip()


def wait_shown(qtbot, viewer: Viewer, frame: int) -> None:
    qtbot.waitUntil(lambda: viewer.shown_frame == frame, timeout=5000)


def press(qtbot, viewer: Viewer, key, modifier=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(viewer, key, modifier)


def test_each_editor_key_shows_the_right_frame_and_timecode(qtbot, viewer):
    shift = QtCore.Qt.KeyboardModifier.ShiftModifier
    steps = [
        (Key.Key_Right, None, 1, "01:00:00:01"),
        (Key.Key_Right, None, 2, "01:00:00:02"),
        (Key.Key_Right, shift, 27, "01:00:01:02"),
        (Key.Key_Left, None, 26, "01:00:01:01"),
        (Key.Key_Left, shift, 1, "01:00:00:01"),
        (Key.Key_End, None, 59, "01:00:02:09"),
        (Key.Key_Left, None, 58, "01:00:02:08"),
        (Key.Key_Home, None, 0, "01:00:00:00"),
        (Key.Key_Left, None, 0, "01:00:00:00"),
    ]
    for key, modifier, frame, timecode in steps:
        press(qtbot, viewer, key, modifier or QtCore.Qt.KeyboardModifier.NoModifier)
        wait_shown(qtbot, viewer, frame)
        assert viewer.frame_index == frame
        assert viewer.timecode_label.text() == timecode
        assert viewer.frame_label.text() == f"frame {frame} of 60"
        # The pixels on screen are that frame, whichever way the decoder got there (seek or step).
        assert read_index(viewer.frame_rgb()) == frame


def test_i_and_o_set_the_range_end_exclusive(qtbot, viewer):
    marked = []
    viewer.range_marked.connect(lambda start, end: marked.append((start, end)))
    viewer.seek(10)
    press(qtbot, viewer, Key.Key_I)
    viewer.seek(20)
    press(qtbot, viewer, Key.Key_O)
    assert marked == [(10, 60), (10, 21)]
    assert viewer.scrub.range == (10, 21)


def test_space_plays_in_real_time_and_k_stops(qtbot, viewer):
    press(qtbot, viewer, Key.Key_Space)
    assert viewer.is_playing and viewer.speed == 1
    qtbot.waitUntil(lambda: viewer.shown_frame >= 5, timeout=3000)
    press(qtbot, viewer, Key.Key_K)
    assert not viewer.is_playing
    press(qtbot, viewer, Key.Key_L)
    press(qtbot, viewer, Key.Key_L)
    assert viewer.speed == 2
    press(qtbot, viewer, Key.Key_J)
    assert viewer.speed == -1
    press(qtbot, viewer, Key.Key_J)
    assert viewer.speed == -2
    press(qtbot, viewer, Key.Key_K)
    assert not viewer.is_playing


def test_playback_stops_at_the_last_frame(qtbot, viewer):
    viewer.seek(55)
    wait_shown(qtbot, viewer, 55)
    viewer.play(4)
    qtbot.waitUntil(lambda: not viewer.is_playing, timeout=3000)
    wait_shown(qtbot, viewer, 59)


def grab_at(viewer: Viewer, x: float, y: float) -> QtGui.QColor:
    """The colour on screen at source pixel `(x, y)`."""
    image = viewer.view.viewport().grab().toImage()
    point = viewer.view.mapFromScene(QtCore.QPointF(x, y))
    return image.pixelColor(point)


def test_overlays_draw_at_source_pixels_in_order_and_callables_follow_the_frame(qtbot, viewer):
    red = np.zeros((96, 128, 4), dtype=np.uint8)
    red[10:40, 10:60] = (255, 0, 0, 255)
    viewer.set_overlay("boxes", red)
    colour = grab_at(viewer, 30, 25)
    assert (colour.red(), colour.green(), colour.blue()) == (255, 0, 0)

    # A second layer goes above the first; a callable layer is redrawn for each frame.
    def green_on_even_frames(frame):
        if frame % 2:
            return None
        layer = np.zeros((96, 128, 4), dtype=np.uint8)
        layer[20:30, 20:40] = (0, 255, 0, 255)
        return layer

    viewer.set_overlay("mask", green_on_even_frames)
    assert grab_at(viewer, 30, 25).green() == 255
    press(qtbot, viewer, Key.Key_Right)
    wait_shown(qtbot, viewer, 1)
    colour = grab_at(viewer, 30, 25)
    assert (colour.red(), colour.green()) == (255, 0)
    viewer.set_overlay("boxes", None)
    assert viewer.view.overlay_names() == ["mask"]
    assert grab_at(viewer, 30, 25).red() < 128  # the source picture again (grey or white blocks, no red layer)


def test_a_tool_gets_mouse_events_in_source_pixels_and_clicks_pick_faces_without_one(qtbot, viewer):
    clicks = []
    viewer.face_clicked.connect(lambda x, y, frame: clicks.append((round(x), round(y), frame)))
    target = viewer.view.mapFromScene(QtCore.QPointF(64, 48))
    qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=target)
    assert len(clicks) == 1 and abs(clicks[0][0] - 64) <= 1 and abs(clicks[0][1] - 48) <= 1 and clicks[0][2] == 0

    class Recorder:
        def __init__(self):
            self.events = []

        def press(self, event):
            self.events.append(("press", event))

        def move(self, event):
            self.events.append(("move", event))

        def release(self, event):
            self.events.append(("release", event))

    tool = Recorder()
    viewer.set_tool(tool)
    qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=target)
    assert [kind for kind, _ in tool.events] == ["press", "release"]
    assert abs(tool.events[0][1].x - 64) <= 1 and abs(tool.events[0][1].y - 48) <= 1
    assert len(clicks) == 1  # the tool took the click


def test_wheel_zooms_and_f_fits(qtbot, viewer):
    fitted = viewer.view.zoom_factor
    viewer.view.zoom(2.0)
    assert viewer.view.zoom_factor == pytest.approx(2 * fitted)
    press(qtbot, viewer, Key.Key_F)
    assert viewer.view.zoom_factor == pytest.approx(fitted)
    viewer.view.zoom_to(32, 24, 96, 72)  # half the frame's width fills the view: twice the fitted zoom
    assert viewer.view.zoom_factor == pytest.approx(2 * fitted, rel=0.05)
    centre = viewer.view.mapToScene(viewer.view.viewport().rect().center())
    assert abs(centre.x() - 64) <= 2 and abs(centre.y() - 48) <= 2


def test_the_scrub_bar_marks_frames(qtbot, viewer):
    viewer.set_markers("prompts", [3, 7], "#00ff00")
    assert viewer.scrub.markers("prompts") == {3, 7}
    image = viewer.scrub.grab().toImage()
    x = int(viewer.scrub.x_of(7) + viewer.scrub.x_of(1) / 2)
    assert image.pixelColor(x, int(viewer.scrub.height() * 0.55) + 1).green() == 255


def test_stale_decodes_are_dropped_and_only_the_last_seek_shows(qtbot, viewer):
    shown = []
    viewer.frame_changed.connect(shown.append)
    # None of these is cached (the opening read-ahead holds frames 1-12, and the seeks follow each other faster than
    # one decode), so a frame shown at once from the cache cannot pass for a stale decode.
    for frame in (40, 14, 27, 54, 21):
        viewer.seek(frame)
    wait_shown(qtbot, viewer, 21)
    qtbot.wait(200)
    assert shown[-1] == 21 and read_index(viewer.frame_rgb()) == 21
    assert all(frame == 21 for frame in shown)


def test_a_jump_after_an_earlier_one_continues_its_decoder_and_shows_the_exact_frame(qtbot, viewer, long_gop_clip):
    keyframes = build_keyframe_index(long_gop_clip, probe(long_gop_clip)).frames
    assert keyframes == (0, 30)
    viewer._thread._reader.keyframe_index(timeout=10)
    # Opening showed frame 0 and read ahead: that decoder stands between frames 1 and 13. Every jump below
    # misses the cache, so it is decoded; the seek count says whether from a keyframe or from an open decoder.
    for frame, is_seek in [(40, True), (20, False), (57, False), (5, True)]:
        qtbot.wait(100)  # the read-ahead after each frame settles, as between an editor's clicks
        viewer.cache.clear()
        seeks = viewer.seek_count
        viewer.seek(frame)
        wait_shown(qtbot, viewer, frame)
        assert read_index(viewer.frame_rgb()) == frame
        assert viewer.seek_count == seeks + is_seek, frame


def test_frame_cache_stays_within_its_budget():
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    one = to_qimage(frame).sizeInBytes()
    cache = FrameCache(max_bytes=3 * one)
    clip = Path("clip.mov")
    for index in range(5):
        cache.put(clip, index, to_qimage(frame))
    assert len(cache) == 3 and cache.size_bytes <= 3 * one
    assert cache.get(clip, 0) is None and cache.get(clip, 4) is not None
    cache.get(clip, 2)  # now the most recently used: the next put drops frame 3
    cache.put(clip, 5, to_qimage(frame))
    assert cache.get(clip, 2) is not None and cache.get(clip, 3) is None


def test_an_unreadable_clip_reports_instead_of_freezing(qtbot, tmp_path, long_gop_clip):
    widget = Viewer()
    qtbot.addWidget(widget)
    info = probe(long_gop_clip)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(long_gop_clip.read_bytes()[: len(long_gop_clip.read_bytes()) // 3])
    with qtbot.waitSignal(widget.decode_failed, timeout=5000) as signal:
        widget.open(broken, info, frame=50)
    assert "broken.mp4" in signal.args[0]
    widget.close_clip()

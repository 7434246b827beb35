"""The occluder dock, offscreen, over the real viewer and SAM 2.1 with random weights (tiny input).

Mouse input goes to the viewer's picture at the screen position of known source pixels; the grabbed picture is
checked for the occluder colours there. SAM2 runs on the dock's worker thread: the tests wait for its signals,
and a heartbeat timer checks that the UI thread never stalls while it tracks.
"""

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from heartbeat import Heartbeat
from media_fixtures import make_test_clip
from PySide6 import QtCore, QtGui, QtWidgets
from test_render import write_wav

from keydub.core.media import probe
from keydub.core.occlusion import OcclusionMasker
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import TrackingProgressed
from keydub.plugin.panel.occluders import MASK_ALPHA, PALETTE, stroke_mask
from keydub.ui.occluders import OccluderPanel, show_mid_paint
from keydub.ui.occluders.panel import LOADING, TRACKING_IDLE
from keydub.ui.viewer import Viewer


pytest.importorskip("sam2.build_sam", reason="sam2 is not installed (the keydub[occlusion] extra)")

WIDTH, HEIGHT, FRAMES, GREY = 120, 90, 8, 128
TOOLS = {"+": 0, "-": 1, "box": 2, "brush": 3, "eraser": 4}


def picture(index: int) -> np.ndarray:
    """Flat grey (so overlay colours are predictable) with a textured band at the top for SAM2 to see."""
    frame = np.full((HEIGHT, WIDTH, 3), GREY, dtype=np.uint8)
    frame[:30] = np.random.default_rng(index).integers(0, 256, (30, WIDTH, 3), dtype=np.uint8)
    return frame


@pytest.fixture(scope="module")
def masker() -> Iterator[OcclusionMasker]:
    torch.manual_seed(0)
    yield OcclusionMasker.from_config("tiny", device="cpu", image_size=64)


@pytest.fixture
def window(qtbot, tmp_path, masker):
    """A main window with the real viewer on a clip and the occluder dock, the editor open."""
    clip = make_test_clip(
        tmp_path / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=FRAMES, frame_rate=Fraction(25), frames=picture
    )
    dub = write_wav(tmp_path / "dub.wav", FRAMES / 25)
    controller = PanelController(handles=0)
    controller.open_video(clip, dub, tmp_path / "out")
    main = QtWidgets.QMainWindow()
    viewer = Viewer()
    main.setCentralWidget(viewer)
    main.resize(640, 560)
    qtbot.addWidget(main)
    with qtbot.waitSignal(viewer.frame_changed, timeout=10000):
        viewer.open(clip, probe(clip), frame=3)
    panel = OccluderPanel(controller, viewer, masker)
    main.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, panel)
    main.show()
    qtbot.waitUntil(lambda: panel.editor is not None, timeout=30000)
    yield main, viewer, panel, controller
    panel.shutdown()
    viewer.close_clip()


def seek(qtbot, viewer, frame):
    with qtbot.waitSignal(viewer.frame_changed, timeout=10000):
        viewer.seek(frame)


def screen_point(viewer, x, y) -> QtCore.QPoint:
    return viewer.view.mapFromScene(QtCore.QPointF(x + 0.5, y + 0.5))


def shown_colour(viewer, x, y) -> tuple[int, int, int]:
    image = viewer.view.viewport().grab().toImage()
    point = screen_point(viewer, x, y)
    colour = image.pixelColor(point)
    return colour.red(), colour.green(), colour.blue()


def tinted(colour) -> np.ndarray:
    alpha = MASK_ALPHA / 255
    return np.array(colour) * alpha + GREY * (1 - alpha)


def assert_close(actual, expected, tolerance=3):
    assert np.abs(np.array(actual, dtype=float) - np.asarray(expected, dtype=float)).max() <= tolerance, (
        actual,
        expected,
    )


def stroke(qtbot, viewer, points):
    viewport = viewer.view.viewport()
    qtbot.mousePress(viewport, QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, screen_point(viewer, *point))
    qtbot.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, *points[-1]))


def test_a_click_then_tracking_puts_the_maskers_masks_on_every_frame(qtbot, window, masker):
    main, viewer, panel, controller = window
    panel.set_tool(TOOLS["+"])
    with qtbot.waitSignal(panel.edit_finished, timeout=30000) as answer:
        qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, 60, 15))
    assert answer.args == [""] and panel.undo_stack.count() == 1
    # The icon-only history buttons name the edit and the shortcut; the idle tracking bar says it is idle.
    assert panel.undo_action.toolTip().startswith("Undo ") and panel.undo_action.toolTip().endswith("(Ctrl+Z)")
    assert panel.redo_action.toolTip() == "Nothing to redo (Ctrl+Shift+Z)"
    assert panel.progress.text() == "Tracking: idle"
    prompt = panel.editor.session.prompts[(1, 3)]
    assert prompt.labels.tolist() == [1] and np.abs(prompt.points - [[60, 15]]).max() <= 1.0
    # The prompt is stored with the clip as the command line writes it.
    assert controller.current.occluders == panel.editor.request_occluders()

    with qtbot.waitSignal(panel.tracking_finished, timeout=60000) as tracked:
        panel.both_button.click()
    assert tracked.args == ["done"] and panel.progress.value() == FRAMES == panel.progress.maximum()
    assert panel.progress.text() == f"Last tracking: {FRAMES} / {FRAMES} frames"
    reference = masker.init_session(controller.current.video, (0, FRAMES))
    x, y = prompt.points[0].tolist()
    masker.add_click(reference, 3, 1, [(x, y)], [1])
    for frame, masks in masker.propagate(reference):
        np.testing.assert_array_equal(panel.editor.masks_on(frame)[1], masks[1])


def test_a_brush_stroke_is_drawn_and_undone_and_redone_with_the_keys(qtbot, window):
    main, viewer, panel, controller = window
    panel.set_tool(TOOLS["brush"])
    panel.brush_size.setValue(6)
    points = [(40, 60), (60, 62), (80, 60)]
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        stroke(qtbot, viewer, points)
    mask = panel.editor.masks_on(3)[1]
    painted = stroke_mask((HEIGHT, WIDTH), points, 6)
    assert mask[painted].mean() > 0.9 and mask[~painted].mean() < 0.02
    assert panel.undo_stack.count() == 1 and panel.undo_stack.undoText().startswith("Brush on Occluder 1")
    assert_close(shown_colour(viewer, 60, 61), tinted(PALETTE[0]))
    assert_close(shown_colour(viewer, 60, 85), (GREY,) * 3)
    (saved,) = map(dict, controller.current.occluders)
    png, named = Path(saved.pop("mask")), controller.brush_mask_path(controller.current_id, 1, 3)
    assert saved == {"object_id": 1, "frame": 3, "points": [], "labels": [], "box": None}
    assert png.is_file() and png.parent == named.parent and png.name.startswith(f"{named.stem}_")

    main.activateWindow()
    qtbot.keyClick(main, QtCore.Qt.Key.Key_BracketRight)
    qtbot.keyClick(main, QtCore.Qt.Key.Key_BracketRight)
    qtbot.keyClick(main, QtCore.Qt.Key.Key_BracketLeft)
    assert panel.brush_size.value() == 8  # ] ] [ : 6 -> 8 -> 10 -> 8
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        qtbot.keyClick(main, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert panel.undo_stack.index() == 0 and panel.undo_stack.canRedo()
    assert panel.editor.masks_on(3) == {} and controller.current.occluders == ()
    assert_close(shown_colour(viewer, 60, 61), (GREY,) * 3)

    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        qtbot.keyClick(
            main,
            QtCore.Qt.Key.Key_Z,
            QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier,
        )
    assert panel.undo_stack.index() == 1
    np.testing.assert_array_equal(panel.editor.masks_on(3)[1], mask)
    assert_close(shown_colour(viewer, 60, 61), tinted(PALETTE[0]))


def test_two_occluders_in_the_list_can_be_hidden_and_deleted(qtbot, window):
    main, viewer, panel, controller = window
    panel.set_tool(TOOLS["brush"])
    panel.brush_size.setValue(8)
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        stroke(qtbot, viewer, [(30, 60), (34, 60)])
    panel.add_button.click()
    assert panel.object_list.count() == 2 and panel.selected_object_id == 2
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        stroke(qtbot, viewer, [(90, 60), (94, 60)])
    assert_close(shown_colour(viewer, 32, 60), tinted(PALETTE[0]))
    assert_close(shown_colour(viewer, 92, 60), tinted(PALETTE[1]))

    panel.object_list.item(0).setCheckState(QtCore.Qt.CheckState.Unchecked)  # hide occluder 1
    assert_close(shown_colour(viewer, 32, 60), (GREY,) * 3)
    assert_close(shown_colour(viewer, 92, 60), tinted(PALETTE[1]))
    assert [o["object_id"] for o in controller.current.occluders] == [1, 2]  # hidden still renders

    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        panel.delete_button.click()  # occluder 2 is selected
    assert [panel.object_list.item(row).text() for row in range(panel.object_list.count())] == ["Occluder 1"]
    assert_close(shown_colour(viewer, 92, 60), (GREY,) * 3)
    assert [o["object_id"] for o in controller.current.occluders] == [1]


def test_a_drag_with_the_box_tool_makes_a_box_prompt(qtbot, window):
    main, viewer, panel, controller = window
    panel.set_tool(TOOLS["box"])
    qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, 60, 15))
    assert not panel.runner.is_busy and panel.editor.session.prompts == {}  # a click is not a box
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        stroke(qtbot, viewer, [(20, 5), (50, 20), (70, 25)])
    prompt = panel.editor.session.prompts[(1, 3)]
    assert np.abs(prompt.box - [20, 5, 70, 25]).max() <= 1.0 and len(prompt.points) == 0


def test_tracking_can_be_cancelled_and_keeps_the_frames_it_tracked(qtbot, window):
    main, viewer, panel, controller = window
    panel.set_tool(TOOLS["+"])
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, 60, 15))
    with qtbot.waitSignal(panel.tracking_finished, timeout=60000) as ended:
        panel.track("forward")
        panel.cancel_button.click()
    assert ended.args == ["cancelled"] and not panel.is_tracking
    assert panel.editor.tracked_frames == (3,) and "stopped after 1 of 5 frames" in panel.status.text()


def test_a_correction_on_a_later_frame_tracks_again(qtbot, window):
    main, viewer, panel, controller = window
    panel.set_tool(TOOLS["+"])
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, 60, 15))
    with qtbot.waitSignal(panel.tracking_finished, timeout=60000):
        panel.track("both")
    seek(qtbot, viewer, 6)
    with qtbot.waitSignal(panel.tracking_finished, timeout=60000) as retracked:
        qtbot.mouseClick(viewer.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen_point(viewer, 20, 10))
    assert retracked.args == ["done"] and not panel.editor.is_tracking_stale
    assert sorted(panel.editor.session.prompts) == [(1, 3), (1, 6)]


def test_the_ui_thread_stays_live_while_sam2_tracks(qtbot, tmp_path, masker):
    """A heartbeat every 10 ms never waits more than 50 ms while a longer window is tracked."""
    clip = make_test_clip(tmp_path / "long.mkv", width=WIDTH, height=HEIGHT, frame_count=40, frames=picture)
    controller = PanelController(handles=0)
    controller.open_video(clip, write_wav(tmp_path / "dub.wav", 40 / 25), tmp_path / "out")
    viewer = Viewer()
    qtbot.addWidget(viewer)
    with qtbot.waitSignal(viewer.frame_changed, timeout=10000):
        viewer.open(clip, probe(clip), frame=0)
    panel = OccluderPanel(controller, viewer, masker)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.editor is not None, timeout=30000)
    with qtbot.waitSignal(panel.edit_finished, timeout=30000):
        panel.click(0, 60.0, 15.0, True)

    heartbeat = Heartbeat(interval_ms=10)
    heartbeat.start()
    with qtbot.waitSignal(panel.tracking_finished, timeout=120000) as tracked:
        panel.track("both")
    heartbeat.stop()
    panel.shutdown()
    viewer.close_clip()
    assert tracked.args == ["done"] and len(panel.editor.tracked_frames) == 40
    print(
        f"heartbeat during tracking: {heartbeat.count} beats, longest wait {heartbeat.longest_wait() * 1000:.0f} ms"
        f" ({heartbeat.longest_gap() * 1000:.0f} ms wall clock, {heartbeat.longest_busy() * 1000:.0f} ms busy)"
    )
    assert heartbeat.count > 10 and heartbeat.longest_wait() <= 0.050


def test_mid_paint_shows_the_live_stroke(qtbot, window):
    main, viewer, panel, controller = window
    show_mid_paint(panel, [(30, 70), (60, 72), (90, 70)])
    assert panel.active_tool.is_painting and panel.undo_stack.count() == 0
    red, green, blue = shown_colour(viewer, 60, 71)
    assert red > GREY + 40 and green < GREY and blue < GREY  # the draft stroke in occluder 1's red
    grabbed = main.grab()
    assert isinstance(grabbed, QtGui.QPixmap) and not grabbed.isNull()


def test_a_new_range_reopens_the_editor_and_keeps_the_prompts_inside_it(qtbot, window):
    main, viewer, panel, controller = window
    for frame in (3, 6):
        panel.paint(frame, [(60.0, 60.0)], erase=False)
        qtbot.waitUntil(lambda frame=frame: (1, frame) in panel.editor.session.prompts, timeout=30000)
    qtbot.waitUntil(lambda: len(controller.current.occluders) == 2, timeout=30000)
    old_editor = panel.editor
    with qtbot.waitSignal(panel.editor_opened, timeout=30000):
        controller.set_range(controller.current_id, 4, 8)
    assert panel.editor is not old_editor and panel.editor.session.frame_range == (4, 8)
    assert sorted(panel.editor.session.prompts) == [(1, 6)]
    assert panel.status.text() == "1 prompt(s) outside the clip's range were left out."


def test_an_editor_the_dock_has_left_no_longer_updates_it(qtbot, window):
    """Tracking progress an old clip's editor reports from the model thread after a clip change is not shown."""
    main, viewer, panel, controller = window
    old_editor = panel.editor
    with qtbot.waitSignal(panel.editor_opened, timeout=30000):
        controller.set_range(controller.current_id, 2, 8)
    reporter = threading.Thread(target=lambda: old_editor._emit(TrackingProgressed(5, 8, 6)))
    reporter.start()
    reporter.join()
    qtbot.wait(100)
    assert panel.progress.value() == 0 and panel.progress.format() == TRACKING_IDLE
    reporter = threading.Thread(target=lambda: panel.editor._emit(TrackingProgressed(3, 6, 4)))
    reporter.start()
    reporter.join()
    qtbot.waitUntil(lambda: (panel.progress.value(), panel.progress.maximum()) == (3, 6), timeout=5000)


class SlowProbe:
    """`probe` that takes `delay_s` (as a slow network drive would) on its first call, and notes where it ran."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[Path, bool]] = []

    def __call__(self, video: Path):
        self.calls.append((Path(video), threading.current_thread() is threading.main_thread()))
        if len(self.calls) == 1:
            time.sleep(self.delay_s)
        return probe(video)


def test_a_slow_probe_on_a_clip_change_keeps_the_window_live_and_only_the_latest_range_opens(
    qtbot, window, monkeypatch
):
    main, viewer, panel, controller = window
    slow = SlowProbe(delay_s=1.0)
    monkeypatch.setattr("keydub.ui.occluders.panel.probe", slow)
    opened = []
    panel.editor_opened.connect(opened.append)
    heartbeat = Heartbeat()
    heartbeat.start()
    started = time.perf_counter()
    clip_id = controller.current_id
    controller.set_range(clip_id, 2, 6)  # its probe is the slow one
    controller.set_range(clip_id, 3, 7)  # queued behind it, then asked again: never run
    controller.set_range(clip_id, 1, 7)
    asked_in = time.perf_counter() - started
    # Meanwhile the dock is disabled and says it is loading.
    assert panel.editor is None and panel.status.text() == LOADING
    assert not any(button.isEnabled() for button in panel.tool_buttons.buttons()) and not panel.add_button.isEnabled()
    qtbot.waitUntil(lambda: len(slow.calls) == 2 and panel.editor is not None, timeout=30000)
    qtbot.wait(200)  # a late answer of the stale request would land here
    heartbeat.stop()
    assert asked_in < 0.5 and time.perf_counter() - started >= slow.delay_s
    # Probed off the UI thread: the stale first request and the latest; the middle one was skipped.
    assert [on_ui_thread for _, on_ui_thread in slow.calls] == [False, False]
    assert opened == [clip_id] and panel.editor.session.frame_range == (1, 7)
    assert all(button.isEnabled() for button in panel.tool_buttons.buttons()) and panel.status.text() == ""
    assert heartbeat.count > 20 and heartbeat.longest_wait() < 0.25, heartbeat.longest_wait()


def test_an_edit_answered_after_a_clip_change_is_stored_with_its_own_clip(qtbot, window, monkeypatch):
    main, viewer, panel, controller = window
    clip_id = controller.current_id
    slow = SlowProbe(delay_s=0.5)
    monkeypatch.setattr("keydub.ui.occluders.panel.probe", slow)
    panel.paint(3, [(60.0, 60.0)], erase=False)  # answered after the reopen below was asked for
    controller.set_range(clip_id, 2, 8)
    with qtbot.waitSignal(panel.editor_opened, timeout=30000):
        pass
    # The stroke reached the clip's prompts, and the reopened editor replayed it.
    assert [prompt["frame"] for prompt in controller.current.occluders] == [3]
    assert sorted(panel.editor.session.prompts) == [(1, 3)] and panel.undo_stack.count() == 0

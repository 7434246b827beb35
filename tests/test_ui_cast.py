"""The Cast dock in the window, offscreen, on shots composed from the shared test media: characters named in the
dock, one face clicked on the viewer for each, the boxes of another clip drawn with their names and colours, a
correction in the shot's table, and the matching on the dock's thread while a heartbeat checks the UI thread."""

import threading
import time

import pytest
from cast_fixtures import Side, compose_shot, write_dialogue_wav
from heartbeat import Heartbeat
from PySide6 import QtCore
from test_panel_cast import DUB_TRACK, clip_id, people_by_track, two_people_timeline  # noqa: F401
from test_ui_window import close_to, screen_colour

from keydub.core.analysis import AnalysisCache
from keydub.core.faces import get_landmark_backend, get_recognition_backend
from keydub.plugin.cast import FaceAnalyser
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.face_analyses import FaceAnalyses
from keydub.ui.app import MainWindow
from keydub.ui.cast import CastPanel
from keydub.ui.cast.panel import DUB_COLUMN, NAME_COLUMN, WHO_COLUMN
from keydub.ui.clips.model import COLUMNS
from keydub.ui.face_layers import CONFLICT_COLOUR, character_colour
from keydub.ui.viewer import Viewer, ViewerMouseEvent


def click(qtbot, window, x, y):
    view = window.viewer.view
    qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view.mapFromScene(QtCore.QPointF(x, y)))


def show_clip(qtbot, window, name: str) -> str:
    """Make the clip current and wait until its faces are found and its first frame shown."""
    controller = window.controller
    controller.select(clip_id(controller, name))
    session = controller.current
    shown = session.start_frame
    qtbot.waitUntil(lambda: session.clip_id in window.analyses and window.viewer.shown_frame == shown, timeout=120_000)
    return session.clip_id


def add_named_character(qtbot, panel: CastPanel, name: str) -> None:
    """Add a character with the dock's button and type its name over the one it gets."""
    qtbot.mouseClick(panel.add_button, QtCore.Qt.MouseButton.LeftButton)
    row = panel.characters.currentRow()
    panel.characters.item(row, NAME_COLUMN).setText(name)
    assert panel.editor.names[row] == name and panel.selected_name() == name


def pick_face(qtbot, window, name: str, x: float, y: float) -> None:
    panel = window.cast_panel
    panel.select_character(name)
    before = window.viewer.view.tool
    panel.pick_button.setChecked(True)
    assert window.viewer.view.tool is panel.pick_tool
    click(qtbot, window, x, y)
    assert not panel.pick_button.isChecked() and window.viewer.view.tool is before
    qtbot.waitUntil(lambda: not panel.is_matching and panel.editor.matches is not None, timeout=120_000)


@pytest.fixture
def make_panel(qtbot):
    """Cast docks that are shut down after the test whatever it asserted: a matching thread left running would take
    the whole test process down when Qt destroys it."""
    made = []

    def make(*args) -> CastPanel:
        panel = CastPanel(*args)
        qtbot.addWidget(panel)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.shutdown()


def settled(qtbot, panel: CastPanel) -> None:
    """Wait until the dock's matching, and any matching queued behind it, has finished."""
    qtbot.waitUntil(lambda: not panel.is_matching and not panel.is_rematch_pending, timeout=120_000)


@pytest.mark.slow
def test_two_characters_clicked_once_each_name_and_colour_the_boxes_of_a_second_clip(
    qtbot,
    two_people_timeline,  # noqa: F811
    tmp_path,
):
    window = MainWindow(PanelController(render_options={"landmark_backend": "dlib"}, handles=0))
    qtbot.addWidget(window)
    window.resize(1400, 800)
    window.show()
    window.open_timeline(two_people_timeline, (DUB_TRACK,), tmp_path / "out")
    qtbot.waitUntil(lambda: window.controller.current is not None, timeout=30_000)
    show_clip(qtbot, window, "sh010")
    panel = window.cast_panel

    add_named_character(qtbot, panel, "Anna")
    add_named_character(qtbot, panel, "Bea")
    dub = panel.characters.cellWidget(panel.editor.names.index("Bea"), DUB_COLUMN)
    assert [dub.itemText(i) for i in range(dub.count())] == ["(none)", DUB_TRACK]
    dub.setCurrentText(DUB_TRACK)
    assert panel.editor.character("Bea").dub_track == DUB_TRACK
    pick_face(qtbot, window, "Anna", 160, 150)
    pick_face(qtbot, window, "Bea", 480, 150)
    assert [len(c.references) for c in panel.editor.cast.characters] == [1, 1]

    second = show_clip(qtbot, window, "sh020")
    people = people_by_track(window.controller, "sh020")
    labels = panel.editor.labels(second)
    assert {track_id: labels[track_id].character for track_id in people} == {
        track_id: person.capitalize() for track_id, person in people.items()
    }
    # The dock's shot table says the same, and the viewer draws each box in its character's colour.
    assert panel.shot_title.text() == "This shot: sh020"
    rows = {panel.shot.item(row, 0).text(): panel.shot.cellWidget(row, WHO_COLUMN) for row in range(2)}
    analysis, frame = window.analyses[second], window.viewer.shown_frame
    boxes = dict(analysis.boxes_at(frame))
    qtbot.wait(200)
    for track_id, person in people.items():
        name = person.capitalize()
        assert rows[f"face {track_id}"].currentText() == f"auto: {name}"
        x0, y0, _, y1 = boxes[track_id]
        colour = character_colour(panel.editor.colour_index(name))
        assert close_to(screen_colour(window, x0, (y0 + y1) / 2), colour), (name, colour.name())

    # Bea has a dub track: the clip list names her face as the clip's speaker.
    model = window.clip_model
    face_cell = model.index(model.row_of(second), COLUMNS.index("Face"))
    assert face_cell.data() == f"Bea (face {next(t for t, p in people.items() if p == 'bea')})"
    assert face_cell.data(QtCore.Qt.ItemDataRole.ToolTipRole).startswith("speakers from the cast")

    # A correction in the shot's table: Bea's face is Anna here; the face matched to Anna turns red, flagged.
    bea, anna = (next(t for t, p in people.items() if p == who) for who in ("bea", "anna"))
    who = rows[f"face {bea}"]
    who.activated.emit(who.findData("Anna"))
    assert panel.editor.overrides == {second: {bea: "Anna"}}
    qtbot.wait(200)
    x0, y0, _, y1 = boxes[anna]
    assert close_to(screen_colour(window, x0, (y0 + y1) / 2), CONFLICT_COLOUR)
    notes = {panel.shot.item(row, 0).text(): panel.shot.item(row, 3).text() for row in range(2)}
    assert notes == {f"face {bea}": "set in this shot", f"face {anna}": "Anna is another face here"}
    window.close()


@pytest.mark.slow
def test_matching_runs_on_the_dock_thread_and_the_ui_thread_never_waits(
    qtbot,
    two_people_timeline,  # noqa: F811
    tmp_path,
    make_panel,
):
    controller = PanelController(render_options={"landmark_backend": "dlib"}, handles=0)
    controller.open_timeline(two_people_timeline, (DUB_TRACK,), tmp_path / "out")
    threads = []
    # The models are loaded before, as a session has them after its first matching: dlib's shape predictor holds
    # the GIL while it loads (about 0.4 to 0.7 s, once), which no thread can hide. So does each call of dlib's
    # face descriptor (one face's network pass, tens of ms, more on a loaded CPU): the bound below is for that.
    landmarks, recognition = get_landmark_backend("dlib"), get_recognition_backend()

    def analyser(name):  # an empty analysis cache: every clip is tracked and embedded during the matching
        assert name == landmarks.name
        analyser = FaceAnalyser(landmarks, recognition, cache=AnalysisCache(tmp_path / "cache"))
        analyse = analyser.analyse
        analyser.analyse = lambda *args, **kwargs: threads.append(threading.get_ident()) or analyse(*args, **kwargs)
        return analyser

    viewer = Viewer()
    qtbot.addWidget(viewer)
    panel = make_panel(controller, viewer, FaceAnalyses(), analyser)
    panel.editor.add_character("Anna")
    heartbeat = Heartbeat()
    heartbeat.start()
    started = time.perf_counter()
    with qtbot.waitSignal(panel.match_finished, timeout=300_000) as finished:
        panel.editor.add_reference("Anna", clip_id(controller, "sh010"), (160.0, 150.0), 5)
    cold = time.perf_counter() - started
    heartbeat.stop()

    assert finished.args == [""] and panel.editor.matches is panel.last_matches
    assert threads and threading.get_ident() not in threads
    clips = len(controller.sessions)
    stall = heartbeat.longest_wait()
    print(f"cold matching: {cold:.2f} s, {clips} clips ({cold / clips:.2f} s each); UI max wait {stall * 1000:.0f} ms")
    # dlib's calls (a frame's face detection, a face's descriptor) hold the GIL while they run: the UI thread waits
    # out one call at most, measured 0.15-0.45 s on a shared 2-core machine. A freeze would be the whole matching.
    assert heartbeat.count > 20 and stall < 0.6 and heartbeat.longest_busy() < 0.05, stall
    # Once analysed, a change is matched again in a fraction of that.
    settled(qtbot, panel)
    with qtbot.waitSignal(panel.match_finished, timeout=60_000):
        panel.editor.set_dub_track("Anna", DUB_TRACK)
    settled(qtbot, panel)
    warm = panel.last_matches.seconds
    print(f"warm matching: {warm * 1000:.0f} ms for {clips} clips")
    assert warm < cold / 4


@pytest.mark.slow
def test_a_new_range_of_a_single_clip_is_matched_again(qtbot, tmp_path, make_panel):
    video = compose_shot(tmp_path / "two_shot.mp4", [Side("anna", 0), Side("bea", 0)], 16)
    controller = PanelController(render_options={"landmark_backend": "dlib"}, handles=0)
    controller.open_video(video, write_dialogue_wav(tmp_path / "dub.wav", seconds=1), tmp_path / "out")
    viewer = Viewer()
    qtbot.addWidget(viewer)
    panel = make_panel(controller, viewer, FaceAnalyses())
    panel.editor.add_character("Anna")
    with qtbot.waitSignal(panel.match_finished, timeout=120_000):
        panel.editor.add_reference("Anna", controller.current_id, (160.0, 150.0), 5)
    settled(qtbot, panel)
    assert (panel.last_matches.shots[controller.current_id].clip.end) == 16

    controller.set_range(controller.current_id, 4, 12)
    qtbot.waitUntil(lambda: panel.editor.matches.shots[controller.current_id].clip.start == 4, timeout=120_000)
    settled(qtbot, panel)
    shot = panel.editor.matches.shots[controller.current_id]
    assert (shot.clip.start, shot.clip.end) == (4, 12)
    assert all(face.frames == (4, 12) for face in shot.faces)
    assert sorted(label.character or "" for label in panel.editor.labels(controller.current_id).values()) == [
        "",
        "Anna",
    ]
    # An edit that leaves the range alone matches nothing again.
    with qtbot.assertNotEmitted(panel.match_finished, wait=300):
        controller.choose_face(controller.current_id, (160.0, 150.0), 5)


class _Tool:
    def press(self, event): ...

    def move(self, event): ...

    def release(self, event): ...


def test_picking_a_face_gives_the_viewer_back_the_tool_it_had(qtbot, tmp_path, make_panel):
    from otio_fixtures import write_dubbing_timeline

    controller = PanelController(handles=0)
    controller.open_timeline(write_dubbing_timeline(tmp_path).path, ("DX es-419",), tmp_path / "out")
    viewer = Viewer()
    qtbot.addWidget(viewer)
    panel = make_panel(controller, viewer, FaceAnalyses())
    panel.show()
    occluder_tool = _Tool()
    viewer.set_tool(occluder_tool)
    panel.pick_button.setChecked(True)  # no character yet: refused
    assert not panel.pick_button.isChecked() and viewer.view.tool is occluder_tool
    assert panel.status.text() == "add or select a character first"

    qtbot.mouseClick(panel.add_button, QtCore.Qt.MouseButton.LeftButton)
    panel.pick_button.setChecked(True)
    assert viewer.view.tool is panel.pick_tool
    # A click before the clip's faces are found names none.
    panel.pick_tool.press(ViewerMouseEvent(10.0, 10.0, 0, QtCore.Qt.MouseButton.LeftButton, 0, 0))
    assert panel.status.text().startswith("the faces are still being found") and panel.pick_button.isChecked()
    panel.pick_button.setChecked(False)
    assert viewer.view.tool is occluder_tool and panel.editor.character("Character 1").references == ()


@pytest.mark.slow
def test_closing_stops_a_long_matching_between_frames(qtbot, two_people_timeline, tmp_path, make_panel):  # noqa: F811
    controller = PanelController(render_options={"landmark_backend": "dlib"}, handles=0)
    controller.open_timeline(two_people_timeline, (DUB_TRACK,), tmp_path / "out")
    landmarks, recognition = get_landmark_backend("dlib"), get_recognition_backend()
    viewer = Viewer()
    qtbot.addWidget(viewer)
    panel = make_panel(
        controller, viewer, FaceAnalyses(), lambda name: FaceAnalyser(landmarks, recognition, AnalysisCache(tmp_path))
    )
    panel.editor.add_character("Anna")
    panel.editor.add_reference("Anna", clip_id(controller, "sh010"), (160.0, 150.0), 5)
    assert panel.is_matching
    qtbot.wait(1500)  # into the clips' analyses (the reference's clip is analysed first)

    started = time.perf_counter()
    panel.shutdown()
    stopped = time.perf_counter() - started

    assert panel.runner._thread.isFinished() and panel.editor.matches is None
    assert stopped < 1.5, stopped

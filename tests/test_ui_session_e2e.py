"""The panel from open to export, scripted offscreen, with a real `keydub worker` subprocess and tiny weights.

Open a clip with its dub, click the face, click an occluder and track it, paint a brush stroke and undo it,
render through the worker, compare, export the OTIO, close, reopen and find every prompt restored. The render
must be bit-exact (FFV1) equal to `keydub render` given the same prompts as command-line flags, with the same
stand-in detector and SAM 2.1 (see `panel_e2e_engine`). Meanwhile a heartbeat on the UI thread never waits more
than 50 ms while the occluder is tracked and while the worker renders.
"""

import os

import numpy as np
import opentimelineio as otio
import pytest


pytest.importorskip("PySide6")
from heartbeat import Heartbeat  # noqa: E402
from media_fixtures import make_test_clip, noise_pattern  # noqa: E402
from otio_fixtures import TONES, write_tone_wav  # noqa: E402
from panel_e2e_engine import FACE, FRAMES, HEIGHT, WIDTH, drawn_face, tiny_masker  # noqa: E402
from PySide6 import QtCore  # noqa: E402
from queue_fixtures import TESTS  # noqa: E402
from ray_fixtures import tiny_render_options  # noqa: E402
from test_ui_window import heartbeat_report  # noqa: E402
from tiny_models import save_tiny_weights  # noqa: E402

from keydub.core.media import read_frames  # noqa: E402
from keydub.plugin.panel.controller import PanelController  # noqa: E402
from keydub.plugin.panel.queue import QueueController  # noqa: E402
from keydub.ui.app import MainWindow  # noqa: E402
from keydub.ui.viewer import ViewerMouseEvent  # noqa: E402


pytestmark = pytest.mark.slow
ENGINE = "panel_e2e_engine:engine"
LEFT = QtCore.Qt.MouseButton.LeftButton
NO_BUTTON = QtCore.Qt.MouseButton.NoButton
NO_MODIFIER = QtCore.Qt.KeyboardModifier.NoModifier


@pytest.fixture
def session_media(tmp_path, monkeypatch):
    weights = save_tiny_weights(tmp_path / "weights", 64)
    # A noisy background (every pixel differs between frames) so that any pixel a render changes shows.
    face_box = np.zeros((HEIGHT, WIDTH), dtype=bool)
    face_box[20:80, 30:100] = True

    def picture(index):
        frame = noise_pattern(index, WIDTH, HEIGHT)
        frame[face_box] = 170
        return frame

    video = make_test_clip(
        tmp_path / "shot.mkv",
        width=WIDTH,
        height=HEIGHT,
        frame_count=FRAMES,
        codec="ffv1",
        frames=picture,
        timecode="01:00:00:00",
    )
    dub = tmp_path / "dub.wav"
    write_tone_wav(dub, TONES["es_line1"], seconds=1)
    # The worker subprocess imports the stand-in engine from the tests folder, and computes on one thread as
    # this process does (see conftest): float sums in another order could change a pixel by one level.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    options = {**tiny_render_options(weights), "landmark_backend": "dlib"}
    return video, dub, options


def make_window(qtbot, options):
    window = MainWindow(
        PanelController(render_options=options, handles=0),
        backend_factory=lambda name: drawn_face(),
        queue_factory=lambda folder: QueueController(folder, device="cpu", engine=ENGINE),
        occluder_masker=tiny_masker,
    )
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    return window


def event(x, y, frame, button=LEFT, buttons=LEFT):
    return ViewerMouseEvent(x, y, frame, button, buttons, NO_MODIFIER)


def cli_occluder_flags(prompts):
    """The `keydub render` flags that give the same occlusion prompts."""
    flags = []
    for prompt in prompts:
        object_id, frame = prompt["object_id"], prompt["frame"]
        if prompt.get("mask"):
            flags.append(f"--occluder-mask={object_id}:{prompt['mask']}@{frame}")
            continue
        if prompt.get("box"):
            x0, y0, x1, y1 = prompt["box"]
            flags.append(f"--occluder={object_id}:{x0},{y0},{x1},{y1}@{frame}")
        for (x, y), label in zip(prompt["points"], prompt["labels"], strict=True):
            flags.append(f"--occluder={object_id}:{'' if label else '-'}{x},{y}@{frame}")
    return flags


def test_open_face_occluders_render_compare_export_and_reopen(qtbot, tmp_path, session_media, monkeypatch):
    video, dub, options = session_media
    out_dir = tmp_path / "out"
    window = make_window(qtbot, options)
    controller = window.controller

    # 1. Open the clip with its dub; the faces are found on a thread.
    window.open_video(video, dub, out_dir)
    qtbot.waitUntil(lambda: controller.current is not None and controller.current_id in window.analyses, timeout=30000)
    clip_id = controller.current_id

    # 2. Click the face.
    face_x, face_y = (float(v) for v in FACE[30])  # the nose tip
    window.viewer.seek(2)
    qtbot.waitUntil(lambda: window.viewer.shown_frame == 2, timeout=10000)
    window._on_viewer_face_click(face_x, face_y, 2)
    assert controller.current.face.point == (round(face_x, 1), round(face_y, 1)) and controller.current.face.frame == 2

    # 3. Click an occluder in front of the mouth and track it both ways; the UI thread stays live.
    panel = window.occluder_panel
    qtbot.waitUntil(lambda: panel.editor is not None, timeout=120000)
    panel.set_tool(0)  # + Click
    mouth_x, mouth_y = (float(v) for v in FACE[48:60].mean(axis=0))
    with qtbot.waitSignal(panel.edit_finished, timeout=60000) as answered:
        panel.active_tool.press(event(mouth_x, mouth_y, 2))
        panel.active_tool.release(event(mouth_x, mouth_y, 2, buttons=NO_BUTTON))
    assert answered.args == [""]
    tracking = Heartbeat()
    tracking.start()
    with qtbot.waitSignal(panel.tracking_finished, timeout=120000) as tracked:
        panel.both_button.click()
    tracking.stop()
    assert tracked.args == ["done"]
    clicked = list(controller.current.occluders)
    assert len(clicked) == 1 and clicked[0]["points"] == [[mouth_x, mouth_y]] and clicked[0]["frame"] == 2

    # 4. Paint a brush stroke on frame 5, then undo it: the prompts are the click alone again.
    window.viewer.seek(5)
    qtbot.waitUntil(lambda: window.viewer.shown_frame == 5, timeout=10000)
    panel.set_tool(3)  # Brush
    with qtbot.waitSignal(panel.edit_finished, timeout=60000):
        panel.active_tool.press(event(40, 70, 5))
        panel.active_tool.move(event(60, 72, 5, button=NO_BUTTON))
        panel.active_tool.release(event(80, 70, 5, buttons=NO_BUTTON))
    assert len(controller.current.occluders) == 2 and controller.current.occluders[1]["mask"]
    with qtbot.waitSignal(panel.edit_finished, timeout=60000):
        panel.undo_stack.undo()
    assert list(controller.current.occluders) == clicked

    # 5. Render through a real `keydub worker` subprocess; the UI thread stays live while it renders.
    window.clip_list.selectRow(0)
    window.render_action.trigger()  # queues the job (one SQLite write) and starts the worker
    rendering = Heartbeat()
    rendering.start()
    qtbot.waitUntil(lambda: controller.status(clip_id).state in ("done", "failed"), timeout=600000)
    rendering.stop()
    status = controller.status(clip_id)
    assert status.state == "done", status.message
    render = window.current_render()
    # The clip list reads the store on its own refresh, a moment after the controller sees the job done.
    qtbot.waitUntil(lambda: window.clip_model.index(0, 7).data() == "done", timeout=10000)

    # 6. Compare the render with its source on the same frame.
    window._on_compare_click()
    qtbot.waitUntil(lambda: window.compare.is_showing(window.compare.frame_index), timeout=20000)
    assert window.tabs.currentWidget() is window.compare

    # 7. Export the timeline with the new track.
    exported = window.export_timeline(tmp_path / "shot_keydub.otio")
    timeline = otio.adapters.read_from_file(str(exported))
    [rendered_clip] = timeline.video_tracks()[-1].find_clips()
    assert rendered_clip.media_reference.target_url == str(render)

    # 8. The same render from the command line, with the prompts as flags, is bit-exact equal.
    job = controller.job(clip_id)
    from keydub.core import faces
    from keydub.core.occlusion import OcclusionMasker
    from keydub.plugin.cli.main import main

    # `keydub render` renders through a fresh `Engine`, which loads the detector and SAM 2.1 by name.
    monkeypatch.setattr(faces, "get_landmark_backend", lambda name: drawn_face())
    monkeypatch.setattr(OcclusionMasker, "from_pretrained", classmethod(lambda cls, *args, **kwargs: tiny_masker()))
    cli_output = tmp_path / "cli.mkv"
    face = job.face
    argv = [
        "render",
        str(video),
        "--audio",
        str(job.audio_file),
        "-o",
        str(cli_output),
        "--in",
        str(job.start_frame),
        "--out",
        str(job.end_frame),
        "--face",
        f"{face.point[0]},{face.point[1]}@{face.frame}",
        *cli_occluder_flags(job.occluders),
        "--quiet",
    ]
    for name in ("weights", "vae", "hubert", "wavlm", "device", "dtype", "codec", "landmark_backend"):
        argv += [f"--{name.replace('_', '-')}", str(options[name])]
    assert main(argv) == 0
    panel_frames = list(read_frames(render))
    cli_frames = list(read_frames(cli_output))
    assert len(panel_frames) == len(cli_frames) == FRAMES
    differing = [
        (index, int(np.count_nonzero(a != b)), int(np.abs(a.astype(int) - b).max()))
        for index, (a, b) in enumerate(zip(panel_frames, cli_frames, strict=True))
        if not np.array_equal(a, b)
    ]
    assert not differing, f"(frame, values that differ, largest difference) of the panel's render: {differing}"
    source = list(read_frames(video))
    assert any(not np.array_equal(a, b) for a, b in zip(panel_frames, source, strict=True))  # lips were made

    # 9. Close and reopen: every choice and prompt comes back, in the controller and in the occluder dock.
    window.close()
    reopened = make_window(qtbot, options)
    reopened.open_video(video, dub, out_dir)
    qtbot.waitUntil(lambda: reopened.controller.current is not None, timeout=30000)
    session = reopened.controller.current
    assert session.face == job.face and list(session.occluders) == clicked
    qtbot.waitUntil(lambda: reopened.occluder_panel.editor is not None, timeout=120000)
    assert reopened.occluder_panel.object_list.count() == 1
    assert reopened.controller.status(clip_id).state == "done"
    reopened.close()

    # 10. The UI thread never waited more than 50 ms while the occluder was tracked or the worker rendered.
    assert tracking.longest_wait() < 0.05, f"while tracking, {heartbeat_report(tracking)}"
    assert rendering.longest_wait() < 0.05, f"during the render, {heartbeat_report(rendering)}"

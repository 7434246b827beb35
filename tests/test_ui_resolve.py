"""The panel on a Resolve timeline, offscreen, on the fake Resolve: opened from Resolve without a dub track, the dub
track chosen in the panel, one clip rendered by a real `keydub worker` with tiny weights, then Send to Resolve as
takes; the fake's state shows take 2 selected, the QC marker and the render in Keydub's bin. Screenshots of the dub
track choice and of the report are saved in the test's folder."""

import argparse
import os

import numpy as np
import pytest


pytest.importorskip("PySide6")
from fake_resolve import library, use_fake_resolve  # noqa: E402
from media_fixtures import make_test_clip, noise_pattern  # noqa: E402
from otio_fixtures import TONES, write_tone_wav  # noqa: E402
from panel_e2e_engine import FRAMES, HEIGHT, WIDTH, drawn_face  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402
from queue_fixtures import TESTS  # noqa: E402
from ray_fixtures import tiny_render_options  # noqa: E402
from tiny_models import save_tiny_weights  # noqa: E402

from keydub.plugin.cli.panel import open_resolve  # noqa: E402
from keydub.plugin.panel.controller import PanelController  # noqa: E402
from keydub.plugin.panel.queue import QueueController  # noqa: E402
from keydub.plugin.panel.resolve_link import ResolveLink  # noqa: E402
from keydub.ui.app import MainWindow, open_from_arguments  # noqa: E402
from keydub.ui.resolve_send import DubTrackDialog, SendToResolveDialog  # noqa: E402


pytestmark = pytest.mark.slow
ENGINE = "panel_e2e_engine:engine"


@pytest.fixture
def resolve_project(tmp_path, monkeypatch):
    """A fake Resolve 21.1 with timeline "ep1": the shot on Video 1, production sound on "Audio 1", the dub on
    "DX es"."""
    face = np.zeros((HEIGHT, WIDTH), dtype=bool)
    face[20:80, 30:100] = True

    def picture(index):
        frame = noise_pattern(index, WIDTH, HEIGHT)
        frame[face] = 170
        return frame

    video = make_test_clip(
        tmp_path / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=FRAMES, codec="ffv1", frames=picture
    )
    dub = tmp_path / "dub_es.wav"
    write_tone_wav(dub, TONES["es_line1"], seconds=1)
    fake = library()
    project = fake.Project("Dubbing", 25)
    pool = project.GetMediaPool()
    shot, line = pool.ImportMedia([str(video), str(dub)])
    timeline = pool.CreateEmptyTimeline("ep1")
    assert timeline.AddTrack("audio", "mono") and timeline.SetTrackName("audio", 2, "DX es")
    start = timeline.GetStartFrame()
    for info in (
        {"mediaPoolItem": shot, "startFrame": 0, "endFrame": FRAMES, "mediaType": 1, "trackIndex": 1},
        {"mediaPoolItem": line, "startFrame": 0, "endFrame": FRAMES, "mediaType": 2, "trackIndex": 2},
    ):
        assert len(pool.AppendToTimeline([{**info, "recordFrame": start}])) == 1
    resolve = fake.Resolve(project, profile="21.1")
    use_fake_resolve(monkeypatch, resolve)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return project, timeline


def test_open_from_resolve_choose_the_dub_render_and_send_back_as_takes(qtbot, tmp_path, resolve_project):
    project, timeline = resolve_project
    options = {**tiny_render_options(save_tiny_weights(tmp_path / "weights", 64)), "landmark_backend": "dlib"}
    args = argparse.Namespace(source=None, export=None, project=None, timeline=None, out_dir=None, dub_track=[])
    args.source, args.out_dir, target = open_resolve(args)
    # The same output folder (and job store) as `keydub resolve render` for this project and timeline.
    assert target.out_dir == tmp_path / "home" / "Keydub" / "Dubbing" / "ep1"
    window = MainWindow(
        PanelController(render_options=options, handles=0),
        backend_factory=lambda name: drawn_face(),
        queue_factory=lambda folder: QueueController(folder, device="cpu", engine=ENGINE),
        resolve_link=ResolveLink(target),
    )
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    assert window.send_action.isVisible()

    # 1. No --dub-track: the panel offers the timeline's audio tracks.
    open_from_arguments(window, args)
    chooser = window.dialog
    assert isinstance(chooser, DubTrackDialog) and chooser.isVisible()
    assert [chooser.tracks.item(row).text() for row in range(chooser.tracks.count())] == ["A1  Audio 1", "A2  DX es"]
    chooser.tracks.setCurrentRow(1)
    assert chooser.track == "DX es"
    assert chooser.grab().save(str(tmp_path / "resolve_dub_track.png"))
    chooser.accept()
    controller = window.controller
    qtbot.waitUntil(lambda: controller.current is not None and controller.current_id in window.analyses, timeout=60000)
    assert controller.opened.source.dub_tracks == ("DX es",) and controller.out_dir == target.out_dir

    # 2. Render the clip through a real `keydub worker`.
    clip_id = controller.current_id
    window.clip_list.selectRow(0)
    window.render_action.trigger()
    qtbot.waitUntil(lambda: controller.status(clip_id).state in ("done", "failed"), timeout=600000)
    assert controller.status(clip_id).state == "done", controller.status(clip_id).message
    render = window.current_render()

    # 3. Send to Resolve as takes; the report says what was done.
    window.send_action.trigger()
    sender = window.dialog
    assert isinstance(sender, SendToResolveDialog) and sender.strategy == "track"
    sender.choices["takes"].setChecked(True)
    sender.accept()
    qtbot.waitUntil(lambda: isinstance(window.dialog, QtWidgets.QMessageBox), timeout=60000)
    report = window.dialog
    assert report.text() == "Sent to Resolve's timeline 'ep1' as takes"
    assert report.informativeText().splitlines() == [
        "Renders: 1 imported into the bin 'Keydub/ep1/DX es', 0 already in the media pool",
        "Added: 1 take(s), 1 QC marker(s); 0 render(s) were there already",
        "Project saved",
    ]
    assert report.grab().save(str(tmp_path / "resolve_send_report.png"))

    # 4. Resolve's state: take 2 (the render) selected on the original item, its marker, the render in the bin.
    (item,) = timeline.GetItemListInTrack("video", 1)
    assert (item.GetTakesCount(), item.GetSelectedTakeIndex()) == (2, 2)
    assert item.GetMediaPoolItem().GetClipProperty("File Path") == str(render)
    assert item.GetTakeByIndex(1)["mediaPoolItem"].GetClipProperty("File Path").endswith("shot.mkv")
    (marker,) = item.GetMarkers().values()
    assert marker["customData"] == controller.job(clip_id, write_audio=False).job_id and marker["name"] == "Keydub"
    folder = project.GetMediaPool().GetRootFolder()
    for name in ("Keydub", "ep1", "DX es"):
        folder = next(sub for sub in folder.GetSubFolderList() if sub.GetName() == name)
    assert [clip.GetClipProperty("File Path") for clip in folder.GetClipList()] == [str(render)]
    assert project.saves == 1
    window.close()

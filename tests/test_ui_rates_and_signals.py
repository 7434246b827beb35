"""The panel at a rate without timecode (a 2010/91 fps web clip: frame numbers and seconds instead), and Ctrl-C /
SIGTERM closing it as its close button does (tested on a real process: exit 0, session saved, no process left)."""

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import pytest


pytest.importorskip("PySide6")
from media_fixtures import make_test_clip  # noqa: E402
from otio_fixtures import TONES, write_tone_wav  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from keydub.plugin.panel.controller import PanelController  # noqa: E402
from keydub.ui.app import MainWindow  # noqa: E402


WEB_RATE = Fraction(2010, 91)  # 22.0879... fps: neither whole nor NTSC, so no SMPTE timecode


@pytest.fixture
def web_clip(tmp_path):
    video = make_test_clip(
        tmp_path / "web.mp4", width=64, height=48, frame_rate=WEB_RATE, frame_count=30, codec="h264"
    )
    dub = tmp_path / "dub.wav"
    write_tone_wav(dub, TONES["es_line1"], seconds=2)
    return video, dub


class NoFaces:
    name = "no faces"

    def detect(self, frame):
        return []


def test_the_panel_opens_a_2010_91_fps_clip_and_steps_through_it(qtbot, web_clip, tmp_path):
    window = MainWindow(PanelController(handles=0), backend_factory=lambda name: NoFaces())
    qtbot.addWidget(window)
    window.show()
    window.open_video(*web_clip, out_dir=tmp_path / "out")
    qtbot.waitUntil(lambda: window.controller.current is not None and window.viewer.shown_frame == 0, timeout=10000)
    session = window.controller.current
    assert (session.record_in, session.record_out) == ("frame 0 (0.000 s)", "frame 29 (1.313 s)")
    viewer = window.viewer
    viewer.setFocus()
    for expected in (1, 2, 3):
        qtbot.keyClick(viewer, QtCore.Qt.Key.Key_Right)
        qtbot.waitUntil(lambda expected=expected: viewer.shown_frame == expected, timeout=5000)
    assert viewer.timecode() == "frame 3 (0.136 s)"
    qtbot.keyClick(viewer, QtCore.Qt.Key.Key_End)
    qtbot.waitUntil(lambda: viewer.shown_frame == 29, timeout=5000)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_closing_signal_saves_the_session_stops_the_worker_and_exits_0(web_clip, tmp_path, number):
    out = tmp_path / "out"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    panel = subprocess.Popen(
        [sys.executable, "-m", "keydub.ui.app", str(web_clip[0]), "--audio", str(web_clip[1]), "--out-dir", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: whatever it started is found (and cleaned up) by it
    )
    sessions = out / ".keydub" / "panel" / "sessions.json"
    deadline = time.monotonic() + 60
    while not sessions.is_file() and time.monotonic() < deadline and panel.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # the queue's worker starting too
    try:
        assert sessions.is_file(), panel.stderr.read().decode() if panel.poll() is not None else "not opened"
        panel.send_signal(number)
        code = panel.wait(timeout=30)
    finally:
        if panel.poll() is None:
            os.killpg(panel.pid, signal.SIGKILL)
    stderr = panel.stderr.read().decode()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert '"web"' in sessions.read_text() or "web.mp4" in sessions.read_text()
    # Nothing it started outlives it: the group is empty.
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(panel.pid, 0)

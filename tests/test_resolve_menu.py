"""The Workspace > Scripts menu entries with the real `keydub` CLI: "Keydub" under a bare-environment Python with
the fake's in-app globals opens a panel that stays up on the timeline Resolve exported, and "Keydub - Import
renders" places the renders the panel saved, from inside Resolve."""

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_resolve import library, three_clip_project, use_fake_resolve
from otio_fixtures import write_three_clip_timeline
from queue_fixtures import in_process

from keydub.plugin.resolve import install
from keydub.plugin.resolve.bridge import default_out_dir
from keydub.plugin.resolve.handoff import pending_import_path, save_for_import
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions


TESTS = Path(__file__).resolve().parent
DURATIONS = (6, 5, 7)
# Inside Resolve: the fake three-clip project, its `resolve` object handed to the menu script as Resolve does.
HARNESS = """
import runpy, sys
sys.path[:0] = [sys.argv[1]]
from fake_resolve import library, three_clip_project
from otio_fixtures import write_three_clip_timeline
from pathlib import Path
fake = library()
project = three_clip_project(write_three_clip_timeline(Path(sys.argv[2]), durations=(6, 5, 7)), (6, 5, 7))
runpy.run_path(sys.argv[3], init_globals={"resolve": fake.fake_remote(project.resolve)})
"""


def keydub_program() -> Path:
    return Path(sys.executable).with_name("keydub")


@pytest.mark.slow
def test_the_menu_entry_opens_a_panel_that_stays_up_on_the_exported_timeline(tmp_path):
    home = tmp_path / "home"
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "KEYDUB_EXECUTABLE": str(keydub_program()),
        "KEYDUB_CACHE_DIR": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path / "tmp"),
        "QT_QPA_PLATFORM": "offscreen",
        "HF_HUB_OFFLINE": "1",
        # What Resolve sets for itself: left out of Keydub's environment.
        "PYTHON3HOME": "/opt/resolve/python",
        "QT_PLUGIN_PATH": "/opt/resolve/libs/plugins",
    }
    launcher = TESTS.parent / "resolve_scripts" / "Keydub.py"
    (tmp_path / "tmp").mkdir()
    result = subprocess.run(
        [sys.executable, "-I", "-c", HARNESS, str(TESTS), str(tmp_path), str(launcher)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Keydub: the panel is open on timeline 'three'."
    # The panel is a real `keydub panel` process, started detached; its handshake names it.
    (ready,) = (tmp_path / "tmp").glob("keydub-panel-*/ready.json")
    state = json.loads(ready.read_text())
    assert state["state"] == "ready"
    pid = state["pid"]
    try:
        time.sleep(15)
        os.kill(pid, 0)  # still alive after 15 s
        opened = home / "Keydub" / "Dubbing" / "three" / ".keydub" / "panel" / "resolve_timeline.otio"
        timeline = read_timeline(opened)
        assert timeline.name == "three"
        assert [track.name for track in timeline.audio_tracks()] == ["Audio 1", "DX es-419"]
    finally:
        os.kill(pid, signal.SIGKILL)


def test_import_renders_places_what_the_panel_saved_from_inside_resolve(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS, profile="21.1")
    use_fake_resolve(monkeypatch, fake.resolve, mode="external_off")  # Keydub cannot reach it from outside
    fake.resolve.product = "DaVinci Resolve"  # the free edition: menu scripts run inside it all the same
    # What the panel's Send to Resolve saves when Resolve cannot be reached.
    out_dir = default_out_dir("Dubbing", "three")
    options = PlanOptions(dub_tracks=("DX es-419",), handles=2, render_options={"codec": "ffv1"})
    picture = read_timeline(fixture.path)
    run = render_timeline(picture, out_dir, None, options, executor=in_process())
    assert save_for_import(run.timeline, out_dir, "takes") == pending_import_path(out_dir)

    entry = tmp_path / "Keydub - Import renders.py"
    command = (sys.executable, "-m", "keydub.plugin.cli.main")
    entry.write_text(install.launcher_text(command, "import"))
    runpy.run_path(str(entry), init_globals={"resolve": library().fake_remote(fake.resolve)})
    message = capsys.readouterr().out.strip()
    assert message.startswith("Keydub: Imported: Applied to 'three' as takes (takes): 3 imported"), message
    items = [item for item in fake.timeline.GetItemListInTrack("video", 1)]
    assert [item.GetSelectedTakeIndex() for item in items] == [2, 2, 2]
    assert [str(item.GetMediaPoolItem().path) for item in items] == [str(o.output) for o in run.outcomes]
    assert all(len(item.GetMarkers()) == 1 for item in items)


def test_import_renders_with_nothing_saved_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    fixture = write_three_clip_timeline(tmp_path, durations=DURATIONS)
    fake = three_clip_project(fixture, DURATIONS)
    entry = tmp_path / "Keydub - Import renders.py"
    entry.write_text(install.launcher_text((sys.executable, "-m", "keydub.plugin.cli.main"), "import"))
    runpy.run_path(str(entry), init_globals={"resolve": library().fake_remote(fake.resolve)})
    message = capsys.readouterr().out.strip()
    assert message.startswith("Keydub: No renders are waiting for timeline 'three' of project 'Dubbing'")
    assert message.endswith("render them in the Keydub panel and press Send to Resolve first")
    assert fake.timeline.GetTrackCount("video") == 1

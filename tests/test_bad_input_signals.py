"""Class 11 of the bad-input issue and issue 16 point 4: signals and crashes.

SIGTERM behaves like Ctrl-C: exit 143, the hidden partial output and the scratch crop cache removed. After a
SIGKILL both remain (nothing can run in a killed process); the next run on the same target removes them and says so.
The render runs in a subprocess with the model replaced by a stand-in that writes real frames through the real
writer and crop cache, then waits to be signalled.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bad_input import PROJECT, write_wav
from media_fixtures import make_test_clip

from keydub.core.cleanup import remove_stale_files
from keydub.core.compositing.crop_cache import SCRATCH_PREFIX, CropCache
from keydub.core.files import PartialFile, stale_partials


_RENDER_SCRIPT = """
import os, sys, time
from pathlib import Path
import keydub.core.engine as engine
from keydub.core.compositing.crop_cache import CropCache
from keydub.core.media import probe, read_frames
from keydub.core.media.writer import VideoWriter

def stand_in_render(self, request, progress=None, cancel=None):
    info = probe(request.video)
    cache = CropCache(info.frame_count, 16, "uint8")
    with cache, VideoWriter(request.output, like=info, codec=request.options.codec) as writer:
        for frame in read_frames(request.video):
            writer.write(frame)
        Path(os.environ["KEYDUB_TEST_READY"]).write_text("writing")
        time.sleep(float(os.environ["KEYDUB_TEST_WAIT"]))
    raise SystemExit(0)

engine.Engine.render = stand_in_render
from keydub.plugin.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("media", "renders", "scratch")}
    for folder in folders.values():
        folder.mkdir()
    make_test_clip(folders["media"] / "clip.mkv", frame_count=4)
    write_wav(folders["media"] / "dub.wav")
    return {**folders, "ready": tmp_path / "ready", "output": folders["renders"] / "shot_dub.mkv"}


def _start(scene: dict[str, Path], wait: float) -> subprocess.Popen:
    argv = [
        "render",
        scene["media"] / "clip.mkv",
        "--audio",
        scene["media"] / "dub.wav",
        "-o",
        scene["output"],
        "--codec",
        "ffv1",
    ]
    environment = {
        **os.environ,
        "TMPDIR": str(scene["scratch"]),
        "KEYDUB_TEST_READY": str(scene["ready"]),
        "KEYDUB_TEST_WAIT": str(wait),
        "PYTHONPATH": str(PROJECT / "tests"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", _RENDER_SCRIPT, *map(str, argv)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_writing(process: subprocess.Popen, ready: Path) -> None:
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the stand-in render never started writing"
        time.sleep(0.05)


def _leftovers(scene: dict[str, Path]) -> tuple[list[str], list[str]]:
    return (
        sorted(path.name for path in scene["renders"].iterdir()),
        sorted(path.name for path in scene["scratch"].glob(f"{SCRATCH_PREFIX}*")),
    )


def test_sigterm_is_ctrl_c_exit_143_and_nothing_left(scene):
    process = _start(scene, wait=120)
    _wait_until_writing(process, scene["ready"])
    partials, caches = _leftovers(scene)
    assert len(partials) == 1 and partials[0].startswith(".shot_dub~") and len(caches) == 1
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Terminated: no partial output was left behind." in stderr and "Traceback" not in stderr
    assert _leftovers(scene) == ([], [])


def test_after_sigkill_the_next_run_removes_its_stale_files_and_says_so(scene):
    process = _start(scene, wait=120)
    _wait_until_writing(process, scene["ready"])
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    partials, caches = _leftovers(scene)
    assert len(partials) == 1 and len(caches) == 1  # a killed process cannot clean up

    # FFmpeg may not have flushed a byte yet; an empty partial counts as stale once it is two seconds old.
    past = time.time() - 10
    os.utime(scene["renders"] / partials[0], (past, past))
    scene["ready"].unlink()
    rerun = _start(scene, wait=0)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert f"note: removed {scene['renders'] / partials[0]}" in stderr
    assert f"note: removed {scene['scratch'] / caches[0]}" in stderr
    assert _leftovers(scene) == (["shot_dub.mkv"], [])


def test_live_writers_files_are_never_taken_for_stale(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    target = tmp_path / "out.mov"
    with PartialFile(target) as live, CropCache(2, 8, "uint8"):
        assert stale_partials(target) == [] and remove_stale_files([target], [tmp_path]) == []
        assert live.path.exists() and len(list(tmp_path.glob(f"{SCRATCH_PREFIX}*"))) == 1
    fresh = PartialFile(target)
    fresh.stream.close()
    assert stale_partials(target) == []  # empty and new: its writer may be about to lock it
    os.utime(fresh.path, (time.time() - 10, time.time() - 10))
    assert stale_partials(target) == [fresh.path]  # empty but old: a writer killed before its first write
    fresh.path.unlink()
    dead = PartialFile(target)
    dead.stream.write(b"half a render")
    dead.stream.close()  # the lock goes with the file handle, as when a process dies
    other = PartialFile(tmp_path / "other.mov")
    other.stream.write(b"half another")
    other.stream.close()
    assert stale_partials(target) == [dead.path]
    assert remove_stale_files(folders=[tmp_path]) == sorted([dead.path, other.path])
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_keydub_timeline_reports_what_it_cleaned(tmp_path, capsys, monkeypatch):
    from otio_fixtures import copy_renderer, write_three_clip_timeline
    from queue_fixtures import in_process

    from keydub.core.files import ScratchFolder
    from keydub.plugin.cli.main import main
    from keydub.plugin.timeline.executors import EXECUTORS

    monkeypatch.setitem(EXECUTORS, "in-process", lambda: in_process(copy_renderer))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    fixture = write_three_clip_timeline(tmp_path)
    staging = tmp_path / "renders" / ".keydub" / "staging"
    staging.mkdir(parents=True)
    dead = PartialFile(staging / "sh010_0123456789ab.mkv")
    dead.stream.write(b"the first frames")
    dead.stream.close()  # what a SIGKILL leaves: the file, without its lock
    cache = ScratchFolder(SCRATCH_PREFIX)
    cache._lock.close()
    code = main(
        [
            "timeline",
            str(fixture.path),
            "--dub-track",
            "DX es-419",
            "--codec",
            "ffv1",
            "--out-dir",
            str(tmp_path / "renders"),
            "-o",
            str(tmp_path / "out.otio"),
        ]
    )
    stderr = capsys.readouterr().err
    assert code == 0, stderr
    assert f"note: removed {dead.path}, left behind by a run that was killed or crashed" in stderr
    assert f"note: removed {cache.path}" in stderr
    assert not dead.path.exists() and not cache.path.exists() and (tmp_path / "out.otio").is_file()

"""Issue 16 point 1: everything the command line alone decides is checked before any work.

A codec that does not fit the output's extension, an output that is an existing folder, a report onto an input:
each is refused before the clip is probed, the landmarks are tracked or the model is loaded. The loaders are
replaced by recorders that count their calls, so a refusal that came later would show up as a call.
"""

import time
from pathlib import Path

import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """Every loader a render or a mask preview would reach, counting its calls (and failing if called)."""
    counted: dict[str, int] = {}

    def recorder(name: str):
        def record(*args, **kwargs):
            counted[name] = counted.get(name, 0) + 1
            raise AssertionError(f"{name} was reached before the command line was checked")

        return record

    for target in (
        "keydub.core.media.probe",
        "keydub.core.faces.get_landmark_backend",
        "keydub.core.render.path.load_pipeline",
        "keydub.core.engine.Engine.render",
        "keydub.core.faces.track_faces",
        "keydub.core.metrics.syncnet.load_syncnet",
    ):
        monkeypatch.setattr(target, recorder(target))
    return counted


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    write_wav(tmp_path / "dub.wav")
    (tmp_path / "renders").mkdir()
    # An earlier evaluation: a plot, a folder where its numbers go, and reports (one of them doubling as weights).
    (tmp_path / "qc").mkdir()
    (tmp_path / "qc" / "clip.mar.png").write_bytes(b"earlier plot")
    (tmp_path / "qc" / "clip.lipleak.json").mkdir()
    (tmp_path / "qc" / "report.md").write_text("earlier report\n")
    (tmp_path / "qc" / "report.json").write_bytes(b"stand-in SyncNet")
    return tmp_path


def _leak(w: Path, *extra) -> list:
    return ["eval", "leak", "--video", w / "clip.mkv", "-o", w / "qc", *extra]


def _protocol(w: Path, *extra) -> list:
    return ["eval", "protocol", "--videos", w / "renders", "--audios", w / "renders", "-o", w / "qc", *extra]


def _render(w: Path, *extra) -> list:
    return ["render", w / "clip.mkv", "--audio", w / "dub.wav", *extra]


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (lambda w: _render(w, "-o", w / "out.mp4", "--codec", "ffv1"), ["out.mp4 has the extension '.mp4'", ".mkv"]),
        (lambda w: _render(w, "-o", w / "out.txt"), ["out.txt has the extension '.txt'", "prores", ".mov or .mkv"]),
        (lambda w: _render(w, "-o", w / "out"), ["out has no extension", "e.g. out.mov"]),
        (
            lambda w: _render(w, "-o", w / "out.mov", "--codec", "h264", "--report", w / "dub.wav"),
            ["--report", "is also the --audio input"],
        ),
        (lambda w: _render(w, "-o", w / "renders"), ["is an existing folder, not a file name"]),
        (lambda w: _render(w, "-o", w / "missing" / "out.mov"), ["the folder", "missing does not exist; create it"]),
        (
            lambda w: ["mask", w / "clip.mkv", "-o", w / "preview.mp4", "--codec", "prores"],
            ["preview.mp4 has the extension '.mp4'", "prores is written to .mov or .mkv files"],
        ),
        (lambda w: ["mask", w / "clip.mkv", "-o", w / "renders"], ["is an existing folder"]),
        (lambda w: _render(w, "-o", w / "out.mov", "--device", "cuda:99"), ["cuda:99", "cpu"]),
        (lambda w: _render(w, "-o", w / "out.mov", "--device", "toaster"), ["toaster", "is not a device name"]),
        (lambda w: _leak(w), ["-o (plot)", "clip.mar.png already exists; choose another name or pass --overwrite"]),
        (lambda w: _leak(w, "--overwrite"), ["-o (numbers)", "clip.lipleak.json is an existing folder"]),
        (
            lambda w: _protocol(w, "--syncnet", w / "qc" / "report.json"),
            ["-o (Markdown report)", "report.md already exists; choose another name or pass --overwrite"],
        ),
        (
            lambda w: _protocol(w, "--syncnet", w / "qc" / "report.json", "--overwrite"),
            ["-o (JSON report)", "is also the --syncnet input; Keydub never writes over its inputs"],
        ),
    ],
)
def test_command_line_mistakes_are_refused_before_any_work(workspace, capsys, calls, argv, needles):
    before = snapshot(workspace)
    began = time.perf_counter()
    outcome = run_cli(argv(workspace), capsys)
    elapsed = time.perf_counter() - began
    assert_refused(outcome, workspace, before, *needles)
    assert calls == {} and elapsed < 2.0
    assert "suffix-less" not in outcome.stderr

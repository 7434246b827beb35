"""Issue 16 point 1: everything the command line alone decides is checked before any work.

A codec that does not fit the output's extension, an output that is an existing folder, a report onto an input:
each is refused before the clip is probed, the landmarks are tracked or the model is loaded. The loaders are
replaced by recorders that count their calls, so a refusal that came later would show up as a call.
"""

import os
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


# `keydub eval` names its renders and silent audio under -o itself; a resumed run reuses them, so an existing
# file there is allowed, but everything else the shared output check asks of a written path is refused before
# the clip is probed, the landmarks load or SyncNet loads.
def _set(folder: Path, names: tuple[str, ...]) -> Path:
    """`folder`, new, holding clips named `names` (each its own audio)."""
    folder.mkdir(parents=True)
    for name in names:
        make_test_clip(folder / f"{name}.mkv", frame_count=3)
    return folder


def _eval_case(kind: str, w: Path) -> tuple[list, str]:
    """The command line of one refused `keydub eval` and the exact error line it must print."""
    out = w / "eval"
    if kind == "leak render is a folder":
        (out / "videos" / "clip.SI.first.mov").mkdir(parents=True)
        render = out / "videos" / "clip.SI.first.mov"
        return _leak_into(w, out), (
            f"-o (render) {render} is an existing folder, not a file name; name a file inside it, e.g. "
            f"{render / 'output.mov'}"
        )
    if kind == "leak renders folder is a file":
        out.mkdir()
        (out / "videos").write_bytes(b"not a folder")
        return _leak_into(w, out), (
            f"-o (renders folder) {out / 'videos'} is a file, not a folder; name a folder for the outputs"
        )
    if kind == "leak silent audio folder is a file":
        out.mkdir()
        (out / "silence").write_bytes(b"not a folder")
        return _leak_into(w, out), (
            f"-o (silent audio folder) {out / 'silence'} is a file, not a folder; name a folder for the outputs"
        )
    if kind == "leak render name too long":
        # 241 bytes: the clip, its plot (.mar.png) and numbers (.lipleak.json) fit in 255, the render of identity
        # frame 1234567 (.SI.1234567.mov) does not.
        stem = "s" * 241
        make_test_clip(w / f"{stem}.mkv", frame_count=3)
        argv = ["eval", "leak", "--video", w / f"{stem}.mkv", "-o", out, "--identity", "1234567"]
        return argv, (
            f"-o (render): the name {stem[:40]}... is 256 bytes long, but the file system of {w} holds names of at "
            "most 255 bytes; choose a shorter name"
        )
    if kind == "protocol render name too long":
        stem = "s" * 245
        videos = _set(w / "set", ("b", stem))
        argv = [*_protocol_of(w, videos, out), "--setups", "SI", "--references", "first", "--codec", "ffv1"]
        return argv, (
            f"-o (render 2 of 2): the name {stem[:40]}... is 258 bytes long, but the file system of {w} holds names "
            "of at most 255 bytes; choose a shorter name"
        )
    if kind == "protocol render is an input":
        # The set is the videos folder of an earlier evaluation: the SI render of `a` is the clip `a.SI.first`.
        videos = _set(w / "earlier" / "videos", ("a", "a.SI.first", "b"))
        render = videos / "a.SI.first.mkv"
        argv = [*_protocol_of(w, videos, videos.parent), "--codec", "ffv1"]
        return argv, (
            f"-o (render 1 of 18) {render} is also the video a.SI.first.mkv input; Keydub never writes over its "
            "inputs: choose another path"
        )
    raise AssertionError(kind)


def _leak_into(w: Path, out: Path) -> list:
    return ["eval", "leak", "--video", w / "clip.mkv", "-o", out]


def _protocol_of(w: Path, videos: Path, out: Path) -> list:
    return ["eval", "protocol", "--videos", videos, "--audios", videos, "--syncnet", w / "dub.wav", "-o", out]


@pytest.mark.parametrize(
    "kind",
    [
        "leak render is a folder",
        "leak renders folder is a file",
        "leak silent audio folder is a file",
        "leak render name too long",
        "protocol render name too long",
        "protocol render is an input",
    ],
)
def test_eval_renders_are_checked_before_anything_loads(workspace, capsys, calls, kind):
    argv, message = _eval_case(kind, workspace)
    before = snapshot(workspace)
    outcome = run_cli(argv, capsys)
    assert_refused(outcome, workspace, before)
    assert outcome.stderr == f"Error: {message}\n"
    assert calls == {}


def test_eval_refuses_a_read_only_renders_folder_before_anything_loads(workspace, capsys, calls, monkeypatch):
    from test_bad_input_places import denied

    out = workspace / "eval"
    (out / "videos").mkdir(parents=True)
    before = snapshot(workspace)
    with denied(monkeypatch, out / "videos", 0o555, os.W_OK):
        outcome = run_cli(_leak_into(workspace, out), capsys)
    assert_refused(outcome, workspace, before)
    videos = out / "videos"
    assert outcome.stderr == (
        f"Error: -o (renders folder): the folder {videos} is read-only for this user; choose another output folder "
        f"or make it writable (chmod u+w {videos})\n"
    )
    assert calls == {}

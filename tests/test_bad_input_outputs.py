"""Class 1 of the bad-input issue: every path Keydub writes obeys the rules `-o` obeys.

Never an input, never an existing file without --overwrite, never a folder, two outputs of one command never the
same file; each refused before any work with one `Error:` line, nothing written, every input byte-identical.
"""

import time
from pathlib import Path

import opentimelineio as otio
import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip

from keydub.core.errors import InvalidParameterError, OutputExistsError, OutputNotWritableError
from keydub.core.files import check_outputs, write_text_atomically


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    make_test_clip(tmp_path / "clip.mkv", frame_count=4, audio_rate=16000)
    write_wav(tmp_path / "dub.wav")
    (tmp_path / "earlier.json").write_text('{"an": "earlier report"}\n')
    (tmp_path / "renders").mkdir()
    otio.adapters.write_to_file(otio.schema.Timeline(name="episode"), str(tmp_path / "episode.otio"))
    (tmp_path / "keyframe_dub.pt").write_bytes(b"stand-in checkpoint")
    return tmp_path


def _render(folder: Path, *extra: str) -> list[str]:
    return ["render", str(folder / "clip.mkv"), "--audio", str(folder / "dub.wav"), *extra]


@pytest.mark.parametrize(
    ("report", "needle"),
    [
        ("clip.mkv", "is also the video input"),
        ("dub.wav", "is also the --audio input"),
        ("out.mov", "-o and --report both name"),
        ("earlier.json", "already exists; choose another name or pass --overwrite"),
        ("renders", "is an existing folder, not a file name"),
    ],
)
def test_report_obeys_the_rules_of_the_output(workspace, capsys, report, needle):
    before = snapshot(workspace)
    outcome = run_cli(
        _render(workspace, "-o", str(workspace / "out.mov"), "--report", str(workspace / report)), capsys
    )
    assert_refused(outcome, workspace, before, "--report" if report != "out.mov" else "-o", needle)


@pytest.mark.parametrize("report", ["clip.mkv", "dub.wav"])
def test_overwrite_never_lets_a_report_replace_an_input(workspace, capsys, report):
    before = snapshot(workspace)
    outcome = run_cli(
        _render(workspace, "-o", str(workspace / "out.mov"), "--report", str(workspace / report), "--overwrite"),
        capsys,
    )
    assert_refused(outcome, workspace, before, "Keydub never writes over its inputs")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (lambda w: _render(w, "-o", str(w / "clip.mkv"), "--overwrite"), "-o"),
        (lambda w: ["mask", str(w / "clip.mkv"), "-o", str(w / "clip.mkv"), "--overwrite"], "is also the video input"),
        (
            lambda w: ["timeline", str(w / "episode.otio"), "-o", str(w / "episode.otio"), "--overwrite"],
            "is also the timeline input",
        ),
        (
            lambda w: ["timeline", str(w / "episode.otio"), "--out-dir", str(w / "episode.otio")],
            "is also the timeline input",
        ),
        (lambda w: ["timeline", str(w / "episode.otio"), "--out-dir", str(w / "dub.wav")], "is a file, not a folder"),
        (
            lambda w: ["convert-weights", "--keyframe", str(w / "keyframe_dub.pt"), "-o", str(w / "keyframe_dub.pt")],
            "is also the --keyframe input",
        ),
        (
            lambda w: ["eval", "leak", "--video", str(w / "clip.mkv"), "-o", str(w / "dub.wav")],
            "is a file, not a folder",
        ),
        (
            lambda w: [
                "eval",
                "protocol",
                "--videos",
                str(w / "renders"),
                "--audios",
                str(w),
                "--syncnet",
                str(w / "keyframe_dub.pt"),
                "-o",
                str(w / "renders"),
            ],
            "is also the --videos input",
        ),
    ],
)
def test_every_command_refuses_to_write_over_an_input_or_into_a_file(workspace, capsys, argv, needle):
    before = snapshot(workspace)
    outcome = run_cli(argv(workspace), capsys)
    assert_refused(outcome, workspace, before, needle)


def test_a_link_to_an_input_is_the_input(workspace, capsys):
    (workspace / "renders" / "alias.mkv").symlink_to(workspace / "clip.mkv")
    before = snapshot(workspace)
    outcome = run_cli(_render(workspace, "-o", str(workspace / "renders" / "alias.mkv"), "--overwrite"), capsys)
    assert_refused(outcome, workspace, before, "is also the video input")


def test_a_hard_link_to_an_input_is_the_input(workspace, capsys):
    (workspace / "renders" / "same.mkv").hardlink_to(workspace / "clip.mkv")
    before = snapshot(workspace)
    outcome = run_cli(
        _render(workspace, "-o", str(workspace / "renders" / "same.mkv"), "--overwrite", "--codec", "ffv1"), capsys
    )
    assert_refused(outcome, workspace, before, "is also the video input")


def test_the_shared_check_names_every_rule(tmp_path):
    existing = tmp_path / "a.json"
    existing.write_text("{}")
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputExistsError, match="--report .*a.json already exists"):
        check_outputs({"--report": existing})
    with pytest.raises(InvalidParameterError, match="--plot and --report both name"):
        check_outputs({"--plot": tmp_path / "x.png", "--report": tmp_path / "sub" / ".." / "x.png"})
    with pytest.raises(InvalidParameterError, match="is also the --video input"):
        check_outputs({"-o": existing}, inputs={"--video": existing}, overwrite=True)
    # Allowed: a new file, a replaced file with overwrite, an output folder that does not exist yet.
    assert check_outputs(
        {"--report": existing, "--out-dir": tmp_path / "new" / "dir"}, overwrite=True, folders=("--out-dir",)
    ) == {"--report": existing, "--out-dir": tmp_path / "new" / "dir"}
    # A file inside an output folder that is still to be created is allowed; inside any other missing folder not.
    folder = tmp_path / "new_qc"
    checked = check_outputs({"-o": folder, "-o (plot)": folder / "a.png"}, folders=("-o",))
    assert checked == {"-o": folder, "-o (plot)": folder / "a.png"}
    with pytest.raises(OutputNotWritableError, match="-o .plot.: the folder .*elsewhere does not exist; create it"):
        check_outputs({"-o": folder, "-o (plot)": tmp_path / "elsewhere" / "a.png"}, folders=("-o",))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.json", "sub"]


def test_atomic_writes_leave_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def failing_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("keydub.core.files.os.replace", failing_replace)
    with pytest.raises(OSError):
        write_text_atomically(target, "new")
    assert target.read_text() == "old" and [path.name for path in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("target", ["media/A001.mov", "media/premix_es.wav"])
def test_a_timeline_never_writes_over_the_media_its_clips_read(tmp_path, capsys, target):
    from otio_fixtures import write_three_clip_timeline

    fixture = write_three_clip_timeline(tmp_path)
    victim = tmp_path / target
    if not victim.exists():
        victim = next((tmp_path / "media").glob(f"*{Path(target).suffix}"))
    before = snapshot(tmp_path / "media")
    outcome = run_cli(
        ["timeline", fixture.path, "--dub-track", "DX es-419", "--codec", "ffv1", "-o", victim, "--overwrite"], capsys
    )
    assert_refused(outcome, tmp_path / "media", before, "-o", "is also the", "input")
    assert not any(path.suffix == ".mkv" for path in (tmp_path / "three_keydub").rglob("*"))


def test_a_reused_output_may_exist_but_obeys_every_other_rule(tmp_path):
    folder = tmp_path / "qc"
    (folder / "videos").mkdir(parents=True)
    finished = folder / "videos" / "a.SI.first.mov"
    finished.write_bytes(b"a finished render")
    folders = {"-o": folder, "-o (renders folder)": folder / "videos"}
    checked = check_outputs(folders, folders=tuple(folders), reused={"-o (render)": finished})
    assert checked == {**folders, "-o (render)": finished}
    # Only a reused output may exist without overwrite; it is never an input, a folder or another output's file.
    with pytest.raises(OutputExistsError, match="-o .plot. .*a.SI.first.mov already exists"):
        check_outputs({"-o (plot)": finished})
    with pytest.raises(InvalidParameterError, match="-o .render. .* is also the video a.mov input"):
        check_outputs({}, inputs={"video a.mov": finished}, reused={"-o (render)": finished})
    with pytest.raises(InvalidParameterError, match="-o .render. .*videos is an existing folder"):
        check_outputs({}, reused={"-o (render)": folder / "videos"})
    with pytest.raises(InvalidParameterError, match="-o .plot. and -o .render. both name"):
        check_outputs({"-o (plot)": finished}, overwrite=True, reused={"-o (render)": finished})
    assert finished.read_bytes() == b"a finished render"


def test_hundreds_of_outputs_and_inputs_are_checked_in_a_moment(tmp_path):
    # A protocol over 200 videos names 1200 renders; comparing every pair by resolving both took tens of seconds.
    inputs = {f"video clip{n}.mov": tmp_path / f"clip{n}.mov" for n in range(200)}
    for path in inputs.values():
        path.touch()
    folder = tmp_path / "out"
    renders = {f"-o (render {n + 1} of 1200)": folder / "videos" / f"clip{n // 6}.{n % 6}.mov" for n in range(1200)}
    began = time.perf_counter()
    folders = {"-o": folder, "-o (renders folder)": folder / "videos"}
    checked = check_outputs(folders, inputs=inputs, folders=tuple(folders), reused=renders)
    assert time.perf_counter() - began < 2.0
    assert len(checked) == 1202 and not folder.exists()

"""Class 2 of the bad-input issue: names at the file-system limit.

The hidden partial file is longer than the name the user gave, so it is cut to fit: every legal name can be written.
A name that cannot exist is refused up front, with the limit in the message, and nothing is written.
"""

from pathlib import Path

import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip

from keydub.core.files import name_limit, partial_path, write_json_atomically
from keydub.core.media import probe, read_frames
from keydub.core.media.writer import VideoWriter


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    write_wav(tmp_path / "dub.wav")
    return tmp_path


def _name(length: int, suffix: str, letter: str = "n") -> str:
    """A name of exactly `length` bytes ending in `suffix` (multi-byte letters allowed)."""
    body = length - len(suffix.encode())
    unit = len(letter.encode())
    return letter * (body // unit) + "x" * (body % unit) + suffix


@pytest.mark.parametrize("letter", ["n", "é", "字"])
def test_partial_names_fit_any_legal_name(tmp_path, letter):
    limit = name_limit(tmp_path)
    for length in (limit - 20, limit - 1, limit):
        target = tmp_path / _name(length, ".mov", letter)
        partial = partial_path(target)
        assert len(partial.name.encode()) <= limit and partial.name.endswith(".partial.mov")
        assert partial.name.startswith(".") and partial.parent == tmp_path
        partial.name.encode("utf-8").decode("utf-8")  # cut on a character boundary


def test_a_report_named_at_the_limit_is_written(tmp_path):
    target = tmp_path / _name(name_limit(tmp_path), ".json")
    write_json_atomically(target, {"frames": 3})
    assert [path.name for path in tmp_path.iterdir()] == [target.name] and '"frames": 3' in target.read_text()


def test_a_render_named_at_the_limit_is_written(workspace):
    info = probe(workspace / "clip.mkv")
    target = workspace / _name(name_limit(workspace), ".mkv", "é")
    with VideoWriter(target, like=info, codec="ffv1") as writer:
        for frame in read_frames(info.path):
            writer.write(frame)
    assert probe(target).frame_count == 3
    assert sorted(path.name for path in workspace.iterdir()) == sorted(["clip.mkv", "dub.wav", target.name])


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (lambda w, name: ["render", w / "clip.mkv", "--audio", w / "dub.wav", "-o", w / name], "-o"),
        (
            lambda w, name: [
                "render",
                w / "clip.mkv",
                "--audio",
                w / "dub.wav",
                "-o",
                w / "out.mov",
                "--report",
                w / name,
            ],
            "--report",
        ),
        (lambda w, name: ["mask", w / "clip.mkv", "-o", w / name], "-o"),
        (lambda w, name: ["timeline", w / "clip.mkv", "--out-dir", w / name / "renders"], "--out-dir"),
    ],
)
@pytest.mark.parametrize("extra", [1, 40])
def test_names_over_the_limit_are_refused_up_front_with_the_limit(workspace, capsys, argv, option, extra):
    limit = name_limit(workspace)
    name = _name(limit + extra, ".mov")
    before = snapshot(workspace)
    outcome = run_cli(argv(workspace, name), capsys)
    assert_refused(
        outcome, workspace, before, option, f"{limit + extra} bytes long", f"holds names of at most {limit} bytes"
    )

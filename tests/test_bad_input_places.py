"""Class 3 of the bad-input issue: places that cannot be written or read get one line naming the path and the fix.

Read-only output folders are refused before any work. Root can write anywhere, so when the suite runs as root the
permission check is shown what another user would get from the kernel for that one folder (`os.access`); as any
other user the folder's real mode is what refuses it.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from bad_input import assert_refused, is_root, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip

from keydub.core.errors import OutputNotWritableError, WeightsNotFoundError
from keydub.core.files import check_output_file
from keydub.core.weights import resolve_weights


@contextmanager
def denied(monkeypatch: pytest.MonkeyPatch, folder: Path, mode: int, denied_bits: int) -> Iterator[None]:
    """`folder` at `mode`; `denied_bits` of `os.access` refused for it even to root."""
    folder.chmod(mode)
    if is_root():
        real_access = os.access

        def access(path, wanted, *args, **kwargs):
            if wanted & denied_bits and Path(path).absolute() == folder.absolute():
                return False
            return real_access(path, wanted, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    try:
        yield
    finally:
        monkeypatch.undo()
        folder.chmod(0o755)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    write_wav(tmp_path / "dub.wav")
    (tmp_path / "keyframe_dub.pt").write_bytes(b"stand-in")
    (tmp_path / "locked").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (
            lambda w: ["render", w / "clip.mkv", "--audio", w / "dub.wav", "-o", w / "locked" / "out.mov"],
            ["-o: the folder", "locked is read-only for this user", "chmod u+w"],
        ),
        (
            lambda w: [
                "render",
                w / "clip.mkv",
                "--audio",
                w / "dub.wav",
                "-o",
                w / "out.mov",
                "--report",
                w / "locked" / "qc.json",
            ],
            ["--report: the folder", "is read-only"],
        ),
        (lambda w: ["mask", w / "clip.mkv", "-o", w / "locked" / "preview.mp4"], ["-o: the folder", "is read-only"]),
        (
            lambda w: ["timeline", w / "clip.mkv", "--out-dir", w / "locked" / "renders"],
            ["--out-dir", "renders would be created in", "is read-only"],
        ),
        (
            lambda w: ["convert-weights", "--keyframe", w / "keyframe_dub.pt", "-o", w / "locked" / "keysync"],
            ["-o", "is read-only"],
        ),
        (
            lambda w: ["eval", "leak", "--video", w / "clip.mkv", "-o", w / "locked"],
            ["-o: the folder", "is read-only"],
        ),
    ],
)
def test_read_only_output_folders_are_refused_before_any_work(workspace, capsys, monkeypatch, argv, needles):
    before = snapshot(workspace)
    with denied(monkeypatch, workspace / "locked", 0o555, os.W_OK):
        outcome = run_cli(argv(workspace), capsys)
    assert_refused(outcome, workspace, before, *needles)


def test_the_shared_check_refuses_a_read_only_folder(tmp_path, monkeypatch):
    with denied(monkeypatch, tmp_path, 0o555, os.W_OK):
        with pytest.raises(OutputNotWritableError, match=rf"report: the folder {tmp_path} is read-only"):
            check_output_file(tmp_path / "qc.json", option="report")


@pytest.mark.parametrize("locked", ["model", "unet"])
def test_weights_this_user_cannot_read_are_named(tmp_path, monkeypatch, locked):
    model = tmp_path / "keysync" / "keyframe"
    (model / "unet").mkdir(parents=True)
    (model / "unet" / "config.json").write_text("{}")
    folder = model if locked == "model" else model / "unet"
    with denied(monkeypatch, folder, 0o700, os.R_OK | os.X_OK):
        with pytest.raises(WeightsNotFoundError, match=rf"{folder} cannot be read by this user.*chmod -R a\+rX"):
            resolve_weights("keyframe", str(model))

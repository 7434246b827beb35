"""Class 9 of the bad-input issue and issue 16 point 5: messages say what the path really is.

A FIFO or a device given as a clip is called what it is (and never opened: a FIFO would block), a container with a
video track and no frames says so, a file FFmpeg cannot read is described by its size and first bytes.
"""

import os
from pathlib import Path

import av
import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip


def _header_only(path: Path, codec: str, pix_fmt: str) -> None:
    """A container with a video track and not one frame (an export that stopped right after the header)."""
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
    container.start_encoding()
    container.mux(stream.encode(None))
    container.close()


CLIPS = {
    "fifo": (lambda path: os.mkfifo(path), "is a FIFO (named pipe), not a media file"),
    "folder": (lambda path: path.mkdir(), "is a folder, not a media file"),
    "matroska header only": (lambda path: _header_only(path, "ffv1", "bgr0"), "is a Matroska/WebM file of"),
    "quicktime header only": (
        lambda path: _header_only(path, "prores_ks", "yuv422p10le"),
        "is a QuickTime/MP4 file of",
    ),
    "empty": (lambda path: path.write_bytes(b""), "it is an empty file (0 bytes)"),
    "text": (lambda path: path.write_text("INT. KITCHEN - NIGHT\n" * 20), "it is a text file of 420 bytes"),
    "audio only": (lambda path: write_wav(path), "has no video stream (it holds 1 audio stream(s))"),
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    write_wav(tmp_path / "dub.wav")
    return tmp_path


@pytest.mark.parametrize("kind", list(CLIPS))
@pytest.mark.parametrize("command", ["render", "inspect", "mask"])
def test_a_clip_that_is_not_a_clip_is_called_what_it_is(workspace, capsys, kind, command):
    make, needle = CLIPS[kind]
    clip = workspace / ("clip.mov" if "quicktime" in kind else "clip.mkv")
    make(clip)
    argv = {
        "render": ["render", clip, "--audio", workspace / "dub.wav", "-o", workspace / "out.mov"],
        "inspect": ["inspect", clip],
        "mask": ["mask", clip, "-o", workspace / "preview.mp4"],
    }[command]
    before = snapshot(workspace)
    outcome = run_cli(argv, capsys)
    assert_refused(outcome, workspace, before, str(clip), needle)


def test_a_device_file_is_called_a_device(tmp_path, capsys):
    write_wav(tmp_path / "dub.wav")
    before = snapshot(tmp_path)
    outcome = run_cli(["render", "/dev/null", "--audio", tmp_path / "dub.wav", "-o", tmp_path / "out.mov"], capsys)
    assert_refused(outcome, tmp_path, before, "/dev/null is a character device, not a media file")


def test_a_fifo_as_the_dub_audio_is_refused_without_blocking(tmp_path, capsys):
    make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    os.mkfifo(tmp_path / "dub.wav")
    before = snapshot(tmp_path)
    outcome = run_cli(
        [
            "render",
            tmp_path / "clip.mkv",
            "--audio",
            tmp_path / "dub.wav",
            "-o",
            tmp_path / "o.mov",
            "--landmark-backend",
            "dlib",
        ],
        capsys,
    )
    assert outcome.code == 1 and "dub.wav is a FIFO (named pipe)" in outcome.stderr
    assert snapshot(tmp_path) == before

"""`keydub eval leak` and `keydub eval protocol` through the command line, rendering with tiny random KeySync
weights (loaded from disk the way users load theirs) and a landmark backend that reports the drawn face."""

import json
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from face_fixtures import DrawnFaceBackend, template_landmarks
from media_fixtures import make_test_clip
from PIL import Image
from safetensors.torch import save_file
from tiny_models import save_tiny_weights, tiny_weight_flags

import keydub.core.faces
from keydub.core.media import probe
from keydub.core.metrics.plot import PLOT_SIZE
from keydub.core.metrics.syncnet import SyncNet
from keydub.plugin.cli.main import main


WIDTH, HEIGHT, FRAMES = 96, 80, 8
FACE = template_landmarks(48, 36, 36)


@pytest.fixture(scope="module")
def weight_options(tmp_path_factory) -> list[str]:
    weights = save_tiny_weights(tmp_path_factory.mktemp("weights"), 64)
    return [
        *tiny_weight_flags(weights),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--codec",
        "ffv1",
        "--landmark-backend",
        "dlib",
    ]


@pytest.fixture(autouse=True)
def drawn_faces(monkeypatch):
    """Renders and measurements find the drawn face on every frame of the synthetic clips."""
    monkeypatch.setattr(
        keydub.core.faces,
        "get_landmark_backend",
        lambda name, **options: DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH)),
    )


def write_tone(path: Path, seconds: float, frequency: float) -> Path:
    times = np.arange(round(seconds * 16000)) / 16000
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((0.4 * np.sin(2 * np.pi * frequency * times) * 32767).astype("<i2").tobytes())
    return path


def test_leak_renders_silence_and_writes_plot_and_numbers(tmp_path, weight_options, capsys):
    clip = make_test_clip(tmp_path / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=FRAMES, frames="noise")
    out = tmp_path / "qc"
    assert main(["eval", "leak", "--video", str(clip), "-o", str(out), "--json", *weight_options]) == 0

    result = json.loads(capsys.readouterr().out)
    rendered = out / "videos" / "shot.SI.first.mkv"
    assert result["rendered"] == str(rendered) and probe(rendered).frame_count == FRAMES
    assert result["frame_count"] == FRAMES and result["missing_frames"] == 0 and len(result["mar"]) == FRAMES
    # The drawn face's inner lips (60-67) are barely apart: a closed mouth on every frame.
    heights = [np.linalg.norm(FACE[top] - FACE[bottom]) for top, bottom in ((61, 67), (62, 66), (63, 65))]
    expected = np.sum(heights) / (2 * np.linalg.norm(FACE[60] - FACE[64]))
    assert result["mar"][0] == pytest.approx(round(float(expected), 4), abs=1e-4)
    assert result["lipleak"] == 0.0 and result["open_frames"] == 0
    with wave.open(str(out / "silence" / "shot.silent.wav")) as silence:
        assert silence.getnframes() == 16000 * FRAMES // 25
        assert not any(silence.readframes(silence.getnframes()))
    assert json.loads((out / "shot.lipleak.json").read_text()) == result
    with Image.open(out / "shot.mar.png") as plot:
        assert plot.size == PLOT_SIZE

    assert main(["eval", "leak", "--video", str(clip), "-o", str(out), *weight_options]) == 1
    assert capsys.readouterr().err == (
        f"Error: -o (plot) {out / 'shot.mar.png'} already exists; choose another name or pass --overwrite\n"
    )
    # --overwrite replaces the plot and numbers; the render already in the folder is measured again, not redone.
    modified = rendered.stat().st_mtime_ns
    assert main(["eval", "leak", "--video", str(clip), "-o", str(out), "--overwrite", *weight_options]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"LipLeak 0.000: 0 of {FRAMES} frames with a face have an open mouth (MAR > 0.25)")
    assert rendered.stat().st_mtime_ns == modified
    # A run stopped after its render resumes without --overwrite: the render and silence pass the output check
    # because they exist, and are measured, not written again.
    silence = out / "silence" / "shot.silent.wav"
    written = (modified, silence.stat().st_mtime_ns)
    (out / "shot.mar.png").unlink()
    (out / "shot.lipleak.json").unlink()
    assert main(["eval", "leak", "--video", str(clip), "-o", str(out), "--json", *weight_options]) == 0
    assert json.loads(capsys.readouterr().out) == result
    assert (rendered.stat().st_mtime_ns, silence.stat().st_mtime_ns) == written
    assert sorted(path.name for path in out.iterdir()) == ["shot.lipleak.json", "shot.mar.png", "silence", "videos"]


def test_leak_refuses_a_clip_whose_numbers_file_name_would_be_too_long(tmp_path, capsys):
    # 245 bytes of name: the clip (.mkv) and its plot (.mar.png) fit in 255, its numbers (.lipleak.json) do not.
    clip = make_test_clip(tmp_path / f"{'s' * 245}.mkv", width=WIDTH, height=HEIGHT, frame_count=2)
    assert main(["eval", "leak", "--video", str(clip), "-o", str(tmp_path / "qc")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"Error: -o (numbers): the name {'s' * 40}... is 258 bytes long, but the file system of ")
    assert error.rstrip().endswith("holds names of at most 255 bytes; choose a shorter name")
    assert sorted(path.name for path in tmp_path.iterdir()) == [clip.name]


@pytest.mark.slow  # six renders
def test_protocol_with_tiny_keysync_weights(tmp_path, weight_options, capsys):
    videos, audios = tmp_path / "videos", tmp_path / "audios"
    videos.mkdir()
    audios.mkdir()
    for name, frequency in (("a", 180.0), ("b", 330.0)):
        make_test_clip(videos / f"{name}.mkv", width=WIDTH, height=HEIGHT, frame_count=FRAMES, frames="noise")
        write_tone(audios / f"{name}.wav", FRAMES / 25, frequency)
    torch.manual_seed(0)
    syncnet = tmp_path / "syncnet_small.safetensors"
    save_file(SyncNet(embedding_dim=64, channel_divisor=16).state_dict(), syncnet)
    out = tmp_path / "report"
    argv = [
        "eval",
        "protocol",
        "--videos",
        str(videos),
        "--audios",
        str(audios),
        "--syncnet",
        str(syncnet),
        "-o",
        str(out),
        "--references",
        "first",
        *weight_options,
    ]
    assert main(argv) == 0

    printed = capsys.readouterr().out
    assert "| first |" in printed and "LSD" in printed
    data = json.loads((out / "report.json").read_text())
    assert [(row["video"], row["setup"], row["driving_audio"]) for row in data["videos"]] == [
        ("a", "SI", "a.silent.wav"),
        ("a", "AM", "a.wav"),
        ("a", "XM", "b.wav"),
        ("b", "SI", "b.silent.wav"),
        ("b", "AM", "b.wav"),
        ("b", "XM", "a.wav"),
    ]
    (summary,) = data["summary"]
    assert summary["reference"] == "first" and summary["lipleak"] == 0.0
    assert all(
        np.isfinite(summary[key])
        for key in ("lse_c_s", "lse_d_s", "lse_c_am", "lse_d_am", "lse_c_xm", "lse_d_xm", "lsd")
    )
    assert all(
        probe(out / "videos" / f"{name}.{setup}.first.mkv").frame_count == FRAMES
        for name in "ab"
        for setup in ("SI", "AM", "XM")
    )
    assert data["settings"]["render"]["steps"] == "10"


def test_protocol_refuses_bad_inputs_before_rendering(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in "ab":
        make_test_clip(videos / f"{name}.mkv", width=WIDTH, height=HEIGHT, frame_count=FRAMES)
    base = ["eval", "protocol", "--videos", str(videos), "--audios", str(videos), "-o", str(tmp_path / "out")]

    assert main([*base, "--syncnet", str(tmp_path / "missing.model")]) == 1
    assert "missing.model not found" in capsys.readouterr().err
    pickled = tmp_path / "pickled.model"
    torch.save(SyncNet(embedding_dim=8, channel_divisor=32), pickled)
    assert main([*base, "--syncnet", str(pickled)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error: ") and "safetensors" in error and "Traceback" not in error
    assert main([*base, "--syncnet", str(pickled), "--threshold", "-1"]) == 1
    assert "positive number" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

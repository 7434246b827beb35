"""`keydub inspect`: the probe as text and as JSON, and one-line errors."""

import json
from fractions import Fraction
from pathlib import Path

import pytest
from media_fixtures import make_test_clip

from keydub.plugin.cli.main import main
from keydub.plugin.inspection import inspect_clip


def test_text_report_of_the_real_clip(talking_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(talking_clip)]) == 0
    out = capsys.readouterr().out
    assert "Frame rate:  25.000 fps (25/1), constant" in out
    assert "Frames:      250 (10.000 s)" in out
    assert "hevc 1080x1920 yuv420p (8-bit)" in out
    assert "Audio:       stream 1, aac 44100 Hz stereo (2 ch), 10.008 s" in out


def test_json_report_of_a_drop_frame_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_test_clip(
        tmp_path / "df.mov",
        codec="prores",
        frame_rate=Fraction(30000, 1001),
        frame_count=10,
        timecode="01:00:00;00",
        rotation=90,
    )
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(json.dumps(inspect_clip(path)))
    media = report["media"]
    assert media["frame_rate"] == "30000/1001" and media["frame_count"] == 10
    assert media["start_timecode"] == "01:00:00;00" and media["start_frame"] == 107892 and media["is_drop_frame"]
    assert media["rotation"] == 90 and media["audio_streams"] == []
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Timecode:    01:00:00;00 to 01:00:00;09 (drop-frame; first frame number 107892)" in out
    assert "Rotation:    90 degrees (frames are stored unrotated)" in out


def test_variable_frame_rate_is_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_test_clip(tmp_path / "phone.mp4", codec="h264", vfr=True)
    assert main(["inspect", str(path)]) == 0
    assert "VARIABLE (conform before rendering)" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], dub_speech: Path) -> None:
    assert main(["inspect", str(tmp_path / "missing.mov")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("Error: ") and "missing.mov does not exist" in captured.err
    assert main(["inspect", str(dub_speech)]) == 1
    assert "has no video stream" in capsys.readouterr().err

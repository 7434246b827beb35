"""`keydub mask`: the preview of the regenerated region, on the real talking clip, and its errors."""

import subprocess
import sys

import numpy as np
import pytest

from keydub.core.media import probe, read_frames
from keydub.plugin.cli.main import main


pytest.importorskip("dlib", reason="the dlib landmark backend is not installed")


def test_preview_tints_only_the_region_on_the_real_clip(
    talking_clip, tmp_path, capsys, analysis_cache_dir, monkeypatch
):
    monkeypatch.setenv("KEYDUB_CACHE_DIR", str(analysis_cache_dir))
    output = tmp_path / "mask.mkv"
    code = main(
        [
            "mask",
            str(talking_clip),
            "-o",
            str(output),
            "--landmark-backend",
            "dlib",
            "--in",
            "10",
            "--out",
            "13",
            "--codec",
            "ffv1",
            "--quiet",
            "--json",
        ]
    )
    assert code == 0
    assert '"with_face": 3' in capsys.readouterr().out
    info = probe(output)
    assert info.frame_count == 3 and info.start_timecode == "00:00:00:10"
    for source, preview in zip(read_frames(talking_clip, 10, 13), read_frames(output), strict=True):
        changed = np.any(source != preview, axis=-1)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        # One solid block under the eyes of the 1080x1920 portrait's face, the rest bit-exact (lossless FFV1).
        assert 15_000 < changed.sum() < 60_000
        assert 650 < rows[0] < 760 and 820 < rows[-1] < 960 and 480 < cols[0] < cols[-1] < 720
        redness = [(image[changed][:, 0].astype(int) - image[changed][:, 1]).mean() for image in (source, preview)]
        assert redness[1] > redness[0] + 50


def test_bad_face_point_fails_with_one_line_and_writes_nothing(talking_clip, tmp_path, capsys):
    output = tmp_path / "mask.mp4"
    code = main(["mask", str(talking_clip), "-o", str(output), "--face", "left-eye", "--landmark-backend", "dlib"])
    assert code == 1
    assert capsys.readouterr().err.startswith("Error: --face 'left-eye' is not X,Y or X,Y@FRAME")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_kept(talking_clip, tmp_path, capsys):
    output = tmp_path / "mask.mp4"
    output.write_bytes(b"keep me")
    code = main(["mask", str(talking_clip), "-o", str(output), "--landmark-backend", "dlib", "--quiet"])
    assert code == 1 and "already exists" in capsys.readouterr().err  # refused before the landmark pass
    assert output.read_bytes() == b"keep me"


def test_help_does_not_load_the_heavy_libraries():
    probe_script = "import sys, keydub.plugin.cli.mask; print(sorted({'cv2', 'torch', 'dlib'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe_script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

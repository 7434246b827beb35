"""The panel's face picker takes its faces from the clip's analysis: one landmark pass for a pick and a render,
and the track ids it shows are the ones a render's `--face-track` takes."""

import json
from pathlib import Path

import pytest
from face_fixtures import IndexedFaceBackend
from media_fixtures import make_test_clip
from test_engine import LEFT, RIGHT, two_faces
from test_render import FRAME_SIZE, HEIGHT, WIDTH, write_wav
from tiny_models import save_tiny_weights

from keydub.core.engine import Engine
from keydub.core.errors import NoFaceFoundError
from keydub.plugin.panel.analysis import analyse_faces


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), FRAME_SIZE)


@pytest.fixture
def counted_backend(tmp_path, monkeypatch) -> IndexedFaceBackend:
    """The stand-in for `dlib` everywhere a backend is loaded by name, and a fresh Keydub cache folder."""
    monkeypatch.setenv("KEYDUB_CACHE_DIR", str(tmp_path / "cache"))
    backend = IndexedFaceBackend(two_faces, (HEIGHT, WIDTH), name="dlib")
    monkeypatch.setattr("keydub.core.faces.get_landmark_backend", lambda name: backend)
    return backend


def render_argv(clip: Path, dub: Path, out: Path, report: Path, weights: dict[str, Path], track_id: int) -> list:
    """`keydub render` of `[12, 30)` with face track `track_id`, tiny weights, on the CPU, with a QC report."""
    argv = [str(clip), "--audio", str(dub), "-o", str(out), "--in", "12", "--face-track", str(track_id)]
    options = {"codec": "ffv1", "device": "cpu", "dtype": "float32", "landmark-backend": "dlib", "report": report}
    options |= {"weights": weights["keysync"], **{name: weights[name] for name in ("vae", "hubert", "wavlm")}}
    flags = [item for name, value in options.items() for item in (f"--{name}", str(value))]
    return ["render", *argv, "--quiet", *flags]


def test_a_pick_then_a_render_runs_one_landmark_pass_and_the_picked_id_is_the_renders(
    tmp_path, weights, counted_backend, capsys
):
    from keydub.plugin.cli.main import main

    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    # The picker on [12, 30), where both faces are there from the first frame: tracking the range alone would
    # number the left-hand one 0; the clip's ids (the right-hand face appears first, on frame 5) say it is 1.
    analysis = analyse_faces(clip, 12, 30, "dlib")
    assert counted_backend.source_frames_seen == 30  # the whole clip, once
    assert sorted(track_id for track_id, _ in analysis.boxes_at(15)) == [0, 1]
    right = analysis.track_under((float(RIGHT[:, 0].mean()), float(RIGHT[:, 1].mean())), 15)
    left = analysis.track_under((float(LEFT[:, 0].mean()), float(LEFT[:, 1].mean())), 15)
    assert (right, left) == (0, 1)
    assert analysis.frames_without_face() == []

    dub = write_wav(tmp_path / "dub.wav", 1.0)
    report = tmp_path / "qc.json"
    argv = render_argv(clip, dub, tmp_path / "out.mkv", report, weights, track_id=left)
    assert main(argv) == 0, capsys.readouterr().err
    face = json.loads(report.read_text())["face"]
    assert face["track_ids"][0] == left  # the face the editor clicked, by the id the picker showed
    assert counted_backend.source_frames_seen == 30  # the render read the picker's landmark pass


def test_the_picker_and_an_engine_share_one_pass_in_either_order(tmp_path, counted_backend):
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    engine = Engine(cache_dir=tmp_path / "engine", landmark_backends={"dlib": counted_backend})
    engine_analysis = engine.analyse_clip(clip, 0, 30, "dlib")
    assert counted_backend.source_frames_seen == 30
    picked = analyse_faces(clip, 0, 30, "dlib", backend_factory=engine.landmark_backend, cache=engine.analysis_cache)
    assert counted_backend.source_frames_seen == 30
    assert [t.track_id for t in picked.tracks] == [t.track_id for t in engine_analysis.tracks] == [0, 1]
    # The picker's own default cache is another folder: a second pass there, then none for the next pick.
    analyse_faces(clip, 0, 30, "dlib")
    analyse_faces(clip, 5, 10, "dlib")
    assert counted_backend.source_frames_seen == 60


def test_a_range_without_a_face_is_refused_with_the_frames(tmp_path, counted_backend):
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    with pytest.raises(NoFaceFoundError, match=r"no face was found in clip\.mkv between frames 0 and 4"):
        analyse_faces(clip, 0, 5, "dlib")

"""Landmark backends on the real clip (dlib), their errors, face-alignment's weights handling, `inspect --faces`."""

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from media_fixtures import make_test_clip

from keydub.core.errors import InvalidParameterError, LandmarkBackendError
from keydub.core.faces import (
    BatchLandmarkBackend,
    DlibLandmarks,
    FaceDetection,
    FaceTrack,
    LandmarkBackend,
    face_coverage,
    get_landmark_backend,
    track_faces,
)
from keydub.core.faces.fan_backend import FAN_FILE, S3FD_FILE, hub_checkpoint_dir
from keydub.core.media import read_frames
from keydub.plugin.cli.main import main


pytest.importorskip("dlib", reason="the dlib backend is an extra: pip install 'keydub[dlib]'")

KEPT_FRAMES = 4


class RecordingBackend:
    """Wraps a backend and keeps every frame's raw detections (tracking keeps only the smoothed tracks)."""

    def __init__(self, backend: LandmarkBackend) -> None:
        self.name = backend.name
        self._backend = backend
        self.detections: list[list[FaceDetection]] = []

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        found = self._backend.detect(frame_rgb)
        self.detections.append(found)
        return found


@dataclass
class RealClipRun:
    detections: list[list[FaceDetection]]
    tracks: list[FaceTrack]
    first_frames: list[np.ndarray]
    seconds: float


@pytest.fixture(scope="module")
def dlib_backend() -> DlibLandmarks:
    return get_landmark_backend("dlib")


@pytest.fixture(scope="module")
def real_run(dlib_backend: DlibLandmarks) -> RealClipRun:
    """The real clip decoded once, all 250 frames tracked with dlib (detector at 640 px, landmarks at 1080x1920)."""
    from conftest import testdata_file

    path = testdata_file("talking_1080x1920_25fps.mp4")
    recorder = RecordingBackend(dlib_backend)
    first_frames: list[np.ndarray] = []

    def frames():
        for index, frame in enumerate(read_frames(path)):
            if index < KEPT_FRAMES:
                first_frames.append(frame)
            yield frame

    start = time.perf_counter()
    tracks = track_faces(frames(), recorder)
    return RealClipRun(recorder.detections, tracks, first_frames, time.perf_counter() - start)


def test_dlib_finds_the_face_on_at_least_95_percent_of_frames(real_run: RealClipRun) -> None:
    assert len(real_run.detections) == 250
    assert isinstance(get_landmark_backend("dlib"), LandmarkBackend)
    found = sum(1 for faces in real_run.detections if faces)
    assert found >= 0.95 * 250, f"face found on {found} of 250 frames"
    # One person speaking: one face per frame, followed as one track.
    assert max(len(faces) for faces in real_run.detections) == 1
    coverage = face_coverage(real_run.tracks, 250)
    assert coverage["face_share"] >= 0.95 and len(coverage["tracks"]) == 1
    width, height = coverage["tracks"][0]["mean_box_size"]
    assert 150 < width < 400 and 150 < height < 400  # a face of about a fifth of the 1080-pixel width


def test_dlib_landmarks_are_plausible_on_the_real_clip(real_run: RealClipRun) -> None:
    for faces in real_run.detections:
        for face in faces:
            points, (x0, y0, x1, y1) = face.landmarks, face.box
            assert points.shape == (68, 2) and points.dtype == np.float32
            mouth = points[48:68]
            assert (mouth[:, 0] > x0).all() and (mouth[:, 0] < x1).all()
            assert (mouth[:, 1] > y0).all() and (mouth[:, 1] < y1).all()
            assert points[0, 0] < points[30, 0] < points[16, 0]  # jaw 0 left of the nose tip, left of jaw 16
            assert points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean()  # eyes, nose, mouth downwards
            assert points[8, 1] > points[57, 1]  # chin below the lower lip
    track = real_run.tracks[0]
    assert np.isfinite(track.landmarks[track.present]).all()
    # Smoothing moves points by a fraction of a pixel to a few pixels, never off the face.
    raw = np.stack([faces[0].landmarks for faces in real_run.detections if faces])
    assert np.abs(track.landmarks[track.present] - raw).max() < 15


def test_frames_without_a_face_give_no_detection(real_run: RealClipRun, dlib_backend: DlibLandmarks) -> None:
    frame = real_run.first_frames[0]
    assert dlib_backend.detect(frame[:500]) == []  # the real frame above the face: a wall, no person
    assert dlib_backend.detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_half_hidden_face_is_detected_or_cleanly_missing(real_run: RealClipRun, dlib_backend: DlibLandmarks) -> None:
    full = real_run.first_frames[0]
    (face,) = dlib_backend.detect(full)
    shift = round((face.box[0] + face.box[2]) / 2)  # the face centre moves to the left edge
    hidden = np.zeros_like(full)
    hidden[:, : full.shape[1] - shift] = full[:, shift:]
    for found in dlib_backend.detect(hidden):
        # If the detector still sees it, the landmarks on the visible half stay where that half is.
        assert np.abs(found.landmarks[9:17] - (face.landmarks[9:17] - [shift, 0])).mean() < 15
    # In a sequence, the hidden frames are marked missing and the face continues one track.
    frames = [real_run.first_frames[0], real_run.first_frames[1], hidden, hidden, *real_run.first_frames[2:]]
    recorder = RecordingBackend(dlib_backend)
    (track,) = track_faces(iter(frames), recorder)
    hidden_found = [bool(faces) for faces in recorder.detections[2:4]]
    assert track.present.tolist() == [True, True, *hidden_found, True, True]
    assert np.isnan(track.landmarks[~track.present]).all()


def test_dlib_detects_at_reduced_size_and_fits_at_full_size(real_run: RealClipRun) -> None:
    frame = real_run.first_frames[0]
    larger = get_landmark_backend("dlib", detect_long_side=960).detect(frame)
    reduced = get_landmark_backend("dlib").detect(frame)
    assert len(larger) == len(reduced) == 1
    # HOG boxes at two scales differ in size but share their centre once mapped back to source pixels.
    centres = [np.add(face.box[:2], face.box[2:]) / 2 for face in (larger[0], reduced[0])]
    size = larger[0].box[2] - larger[0].box[0]
    assert size > 150  # a source-pixel size, not the 640-px copy's (about 75 px)
    assert np.abs(centres[0] - centres[1]).max() < 0.06 * size
    # Landmarks are fitted on the same full-size pixels from either box.
    assert np.abs(larger[0].landmarks - reduced[0].landmarks).mean() < 3


def test_inspect_lists_the_faces_of_a_clip(
    real_run: RealClipRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    half = cv2.resize(real_run.first_frames[0], (540, 960), interpolation=cv2.INTER_AREA)
    blank = np.zeros_like(half)
    path = make_test_clip(
        tmp_path / "faces.mkv",
        width=540,
        height=960,
        frame_count=8,
        frames=lambda index: blank if index in (4, 5) else half,
    )
    assert main(["inspect", str(path), "--faces", "--backend", "dlib", "--json"]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert faces["backend"] == "dlib" and faces["frame_count"] == 8 and faces["frames_with_face"] == 6
    assert [(t["track_id"], t["first_frame"], t["last_frame"], t["frames_present"]) for t in faces["tracks"]] == [
        (0, 0, 7, 6)
    ]
    assert main(["inspect", str(path), "--faces", "--backend", "dlib"]) == 0
    out = capsys.readouterr().out
    assert "Faces:       6 of 8 frames have a face (75.0 %, dlib landmarks)" in out
    assert "  track 0: frames 0-7, detected on 6, mean box " in out


def test_unknown_backend_and_options_are_refused() -> None:
    with pytest.raises(
        InvalidParameterError, match="unknown landmark backend 'mediapipe'; choose one of: dlib, face-alignment"
    ):
        get_landmark_backend("mediapipe")
    with pytest.raises(InvalidParameterError, match="has no option upsampling; its options are: upsample"):
        get_landmark_backend("dlib", upsampling=1)
    with pytest.raises(InvalidParameterError, match="upsample must be 0, 1 or 2"):
        get_landmark_backend("dlib", upsample=5)
    with pytest.raises(InvalidParameterError, match="detect_long_side"):
        get_landmark_backend("dlib", detect_long_side=10)


def test_bad_frames_are_refused(dlib_backend: DlibLandmarks) -> None:
    with pytest.raises(InvalidParameterError, match=r"shape \(height, width, 3\), got \(48, 64\)"):
        dlib_backend.detect(np.zeros((48, 64), np.uint8))
    with pytest.raises(InvalidParameterError, match="needs 8-bit frames, got uint16"):
        dlib_backend.detect(np.zeros((48, 64, 3), np.uint16))


def test_dlib_model_file_errors_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(
        LandmarkBackendError,
        match=r"missing.dat does not exist; install it with: pip install "
        r'"keydub\[dlib\]"',
    ):
        get_landmark_backend("dlib", predictor_path=tmp_path / "missing.dat")
    broken = tmp_path / "broken.dat"
    broken.write_bytes(b"not a model")
    with pytest.raises(LandmarkBackendError, match="is not a dlib shape predictor"):
        get_landmark_backend("dlib", predictor_path=broken)


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache; any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_download(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path / "torch"


def test_face_alignment_without_weights_offline_names_the_file(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("face_alignment")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkpoints = empty_torch_home / "hub" / "checkpoints"
    with pytest.raises(LandmarkBackendError) as error:
        get_landmark_backend("face-alignment", device="cpu")
    message = str(error.value)
    assert f"weights {FAN_FILE} are not in {checkpoints} and offline mode is on" in message
    url = f"https://www.adrianbulat.com/downloads/python-fan/{FAN_FILE}"
    assert f"download {url} to {checkpoints / FAN_FILE}" in message
    assert 'choose the "dlib" landmark backend, which needs no download' in message
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("KEYDUB_OFFLINE", "1")
    with pytest.raises(LandmarkBackendError, match="offline mode is on"):
        get_landmark_backend("face-alignment", device="cpu")
    with pytest.raises(LandmarkBackendError, match=r"weights file .*nowhere.pth does not exist; download it from"):
        get_landmark_backend("face-alignment", device="cpu", fan_path=empty_torch_home / "nowhere.pth")


def test_face_alignment_download_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("face_alignment")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("KEYDUB_OFFLINE", raising=False)

    def unreachable(url: str, dst: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(LandmarkBackendError, match="could not download the 2D-FAN-4 landmark weights"):
        get_landmark_backend("face-alignment", device="cpu")
    assert not (tmp_path / "hub" / "checkpoints" / FAN_FILE).exists()


@pytest.fixture
def random_face_alignment_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Random-initialised 2D-FAN-4 and S3FD weights in a temporary torch hub cache, as face-alignment names them."""
    pytest.importorskip("face_alignment")
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("KEYDUB_OFFLINE", "1")
    torch.manual_seed(0)
    hub_checkpoint_dir().mkdir(parents=True)
    torch.save(FAN(4).state_dict(), hub_checkpoint_dir() / FAN_FILE)
    torch.save(s3fd().state_dict(), hub_checkpoint_dir() / S3FD_FILE)
    return hub_checkpoint_dir()


def test_face_alignment_loads_cached_weights_and_maps_boxes_back(random_face_alignment_weights: Path) -> None:
    backend = get_landmark_backend("face-alignment", device="cpu", detect_long_side=64)
    assert backend.name == "face-alignment" and backend.device == "cpu"
    frame = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    faces = backend.find_faces(frame)
    # Random S3FD weights score everything near 0.5-0.6, so some boxes pass the 0.5 threshold: the code path runs.
    assert faces and all(0.5 < score <= 1.0 for _, score in faces)
    assert [score for _, score in faces] == sorted((score for _, score in faces), reverse=True)
    # Boxes are found on the 64x48 copy and reported in the 128x96 frame's pixels.
    assert max(box[2] for box, _ in faces) > 64
    # One S3FD pass over a batch finds what frame-by-frame detection finds.
    other = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    batched = backend.find_faces_batch([frame, other])
    for single, together in zip([faces, backend.find_faces(other)], batched, strict=True):
        assert len(single) == len(together)
        np.testing.assert_allclose([box for box, _ in together], [box for box, _ in single], atol=1e-3)
        np.testing.assert_allclose([s for _, s in together], [s for _, s in single], atol=1e-5)
    assert isinstance(backend, BatchLandmarkBackend)
    with pytest.raises(InvalidParameterError, match=r"score_threshold is a probability in \[0, 1\], got 1.5"):
        get_landmark_backend("face-alignment", score_threshold=1.5)


# Runs in a fresh interpreter: NUMBA_DISABLE_JIT spares face-alignment's 20 s numba compile of its heatmap decoder
# (the variable is read when numba is first imported), yet the pure-Python decoder still takes 10-20 s on CPU.
FIT_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from keydub.core.faces import get_landmark_backend

    backend = get_landmark_backend("face-alignment", device="cpu")
    frame = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    (face,) = backend.fit_landmarks(frame, [((20.0, 10.0, 90.0, 80.0), 0.9)])
    print(json.dumps({
        "shape": list(face.landmarks.shape), "dtype": str(face.landmarks.dtype), "box": list(face.box),
        "finite": bool(np.isfinite(face.landmarks).all()),
        "span": [float(face.landmarks.min()), float(face.landmarks.max())],
    }))
""")


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("KEYDUB_SLOW_TESTS"),
    reason="face-alignment's landmark decoding takes "
    "10-20 s on CPU without its numba compile; set KEYDUB_SLOW_TESTS=1 to run it",
)
def test_face_alignment_fits_landmarks_from_local_random_weights(random_face_alignment_weights: Path) -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run([sys.executable, "-c", FIT_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["shape"] == [68, 2] and out["dtype"] == "float32" and out["finite"]
    assert out["box"] == [20.0, 10.0, 90.0, 80.0]
    # Random weights place points anywhere in face-alignment's crop: the box enlarged about 1.95 times.
    assert -80 < out["span"][0] and out["span"][1] < 200

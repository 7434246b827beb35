"""Face identity: the recognition-backend registry, dlib's model through the weights registry, track embeddings
from the sharpest frontal frames, their place in the analysis cache, and the same-person distance on real faces."""

import cv2
import numpy as np
import pytest
from cast_fixtures import PEOPLE, Side, person_frames
from face_fixtures import IndexedFaceBackend, template_landmarks
from media_fixtures import make_test_clip, read_index

from keydub.core import analysis as analysis_module
from keydub.core import weights
from keydub.core.analysis import AnalysisCache, analyse_clip
from keydub.core.errors import InvalidParameterError, WeightsNotFoundError
from keydub.core.faces import FaceTrack, embedding_distances, get_landmark_backend, get_recognition_backend
from keydub.core.faces.track_embedding import candidate_frames, face_sharpness


WIDTH, HEIGHT = 96, 80


def test_recognition_backends_are_chosen_by_name_with_clear_refusals():
    with pytest.raises(
        InvalidParameterError, match="unknown face-recognition backend 'arcface'; choose one of: dlib-resnet"
    ):
        get_recognition_backend("arcface")
    with pytest.raises(InvalidParameterError, match="'dlib-resnet' face-recognition backend has no option gpu"):
        get_recognition_backend("dlib-resnet", gpu=True)
    with pytest.raises(InvalidParameterError, match="jitters must be a whole number from 0 to 100"):
        get_recognition_backend("dlib-resnet", jitters=-1)


def test_the_dlib_model_comes_from_its_pip_package_through_the_weights_registry(tmp_path, monkeypatch):
    path = weights.resolve_weights("dlib-face-recognition")
    assert (
        path.name == "dlib_face_recognition_resnet_model_v1.dat"
        and path.parent.parent.name == "face_recognition_models"
    )
    listed = {status.component: status for status in weights.list_weights()}
    assert listed["dlib-face-recognition"].state == "ready" and listed["silero-vad"].state == "ready"
    assert listed["silero-vad"].path.endswith("silero_vad/data/silero_vad.jit")
    # A weights config can point at another copy.
    copy = tmp_path / "models" / path.name
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert weights.resolve_weights("dlib-face-recognition", tmp_path / "models") == copy
    # Without the package: one line saying what to install.
    monkeypatch.setattr(weights, "package_folder", lambda package: None)
    with pytest.raises(
        WeightsNotFoundError,
        match=r'pip package face_recognition_models is not installed; install it with: pip install "keydub\[dlib\]"',
    ):
        weights.resolve_weights("dlib-face-recognition")
    assert {s.component: s.state for s in weights.list_weights()}["silero-vad"] == "missing"


def test_candidates_are_the_most_frontal_frame_of_each_stretch_of_the_track():
    frontal = template_landmarks(48, 40, 40)
    turned = frontal.copy()
    turned[30, 0] += 12  # the nose tip off the jaw's middle: a turned head
    missing = np.full_like(frontal, np.nan)
    landmarks = np.stack([turned, frontal, turned, missing, turned, turned, frontal, turned, turned])
    present = np.array([True, True, True, False, True, True, True, True, True])
    track = FaceTrack(3, 10, landmarks, present, np.zeros((9, 4), np.float32))
    # Two stretches of the 8 detected frames (10-12 and 14, then 15-18): their frontal frames are 11 and 16.
    assert candidate_frames(track, 2) == [11, 16]
    assert candidate_frames(track, 20) == [10, 11, 12, 14, 15, 16, 17, 18]


def test_sharpness_ranks_a_blurred_face_below_the_same_face_in_focus():
    frame = person_frames(Side("bea", 40), 1)[0]
    box = np.array([100, 100, 220, 220], np.float32)
    blurred = cv2.GaussianBlur(frame, (0, 0), 3)
    assert face_sharpness(frame, box) > 4 * face_sharpness(blurred, box)
    # Scaled to a fixed size first: the same face twice as large is not twice as sharp.
    large = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert face_sharpness(large, box * 2) == pytest.approx(face_sharpness(frame, box), rel=0.5)


class CountingRecognition:
    """A recognition backend whose embedding is (frame index, face x): the test can tell what it was shown."""

    name = "counting"
    embedding_size = 2
    same_person_distance = 0.5

    def __init__(self) -> None:
        self.faces_seen = 0

    def embed(self, frame_rgb, landmarks):
        self.faces_seen += len(landmarks)
        return np.array([[read_index(frame_rgb), points[:, 0].mean()] for points in landmarks], np.float32)


def test_track_embeddings_are_kept_in_the_analysis_cache_beside_the_landmarks(tmp_path):
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=24)
    faces = IndexedFaceBackend(
        lambda i: [template_landmarks(30, 40, 24), template_landmarks(70, 40, 24)], (HEIGHT, WIDTH)
    )
    recognition = CountingRecognition()
    cache = AnalysisCache(tmp_path / "cache")

    first = analyse_clip(clip, 0, 24, faces, recognition=recognition, cache=cache)

    assert [e.track_id for e in first.embeddings] == [0, 1]
    assert recognition.faces_seen == 12  # six candidate frames a track, one pass over the frames
    left = first.embedding_of(0)
    assert left.model == "counting" and len(left.frames) == 3 and set(left.frames) <= set(range(24))
    # The mean of the kept frames' embeddings: their mean index, and the left face's x.
    assert left.vector == pytest.approx([np.mean(left.frames), 30.0], abs=1e-3)
    assert first.for_range(4, 10).embedding_of(1).distance(left) == pytest.approx(
        float(np.hypot(np.mean(first.embedding_of(1).frames) - np.mean(left.frames), 40.0)), abs=1e-3
    )

    again = analyse_clip(clip, 0, 24, faces, recognition=recognition, cache=cache)

    assert recognition.faces_seen == 12 and faces.source_frames_seen == 24  # neither tracked nor embedded again
    assert [(e.track_id, e.frames) for e in again.embeddings] == [(e.track_id, e.frames) for e in first.embeddings]
    assert np.array_equal(again.embedding_of(1).vector, first.embedding_of(1).vector)
    assert analyse_clip(clip, 0, 24, faces, cache=cache).embeddings == ()


def test_entries_of_the_previous_cache_version_are_not_read(tmp_path, monkeypatch):
    clip = make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    cache = AnalysisCache(tmp_path / "cache")
    current = cache.path_for(clip, "dlib")
    monkeypatch.setattr(analysis_module, "ANALYSIS_VERSION", 1)
    assert cache.path_for(clip, "dlib") != current


@pytest.mark.slow
def test_dlib_distances_separate_the_three_people_of_the_test_media_at_its_documented_threshold():
    """Each person at several moments of their clip, cropped and scaled differently: every distance between two
    views of one person is under 0.6, every distance between two people above it."""
    landmarks = get_landmark_backend("dlib")
    recognition = get_recognition_backend("dlib-resnet")
    vectors = {}
    for person in PEOPLE:
        views = []
        for first, crop, size in ((10, 2.5, 320), (90, 2.0, 260), (170, 3.0, 400), (230, 1.8, 300)):
            frame = person_frames(Side(person, first, crop, size), 1)[0]
            (face,) = landmarks.detect(frame)
            views.append(recognition.embed(frame, [face.landmarks])[0])
        vectors[person] = np.array(views)
    same = np.concatenate([embedding_distances(v, v)[np.triu_indices(4, 1)] for v in vectors.values()])
    names = list(vectors)
    different = np.concatenate(
        [embedding_distances(vectors[a], vectors[b]).ravel() for i, a in enumerate(names) for b in names[:i]]
    )
    assert same.max() < recognition.same_person_distance < different.min(), (same.max(), different.min())

"""Clip analysis: whole-clip tracks cut to ranges with their ids, the on-disk cache, derived choices."""

import numpy as np
import pytest
from face_fixtures import IndexedFaceBackend, template_landmarks
from media_fixtures import make_test_clip

from keydub.core.analysis import AnalysisCache, analyse_clip, cut_tracks
from keydub.core.errors import InvalidParameterError, NoFaceFoundError
from keydub.core.faces.tracking import FaceTrack
from keydub.core.render.request import FaceChoice


WIDTH, HEIGHT = 96, 80
FACE = template_landmarks(48, 36, 36)


def track(track_id: int, first: int, present: list[bool]) -> FaceTrack:
    n = len(present)
    landmarks = np.arange(n * 68 * 2, dtype=np.float32).reshape(n, 68, 2)
    boxes = np.tile(np.arange(4, dtype=np.float32), (n, 1)) + np.arange(n, dtype=np.float32)[:, None]
    return FaceTrack(track_id, first, landmarks, np.array(present), boxes)


def test_cutting_keeps_ids_and_rebases_frames():
    tracks = (track(0, 2, [True, True, False, True, True]), track(1, 10, [True, True]))
    (cut,) = cut_tracks(tracks, 3, 7)  # frames 3..6: track 0's 3, (4 missing), 5, 6
    assert (cut.track_id, cut.first_frame, cut.present.tolist()) == (0, 0, [True, False, True, True])
    assert np.array_equal(cut.landmarks, tracks[0].landmarks[1:5])
    assert [t.track_id for t in cut_tracks(tracks, 4, 12)] == [0, 1]
    assert cut_tracks(tracks, 4, 12)[0].first_frame == 1  # frame 4 is missing: the cut starts at frame 5
    assert cut_tracks(tracks, 8, 10) == []


def test_the_cache_round_trips_tracks_exactly_and_ignores_a_damaged_entry(tmp_path):
    clip = make_test_clip(tmp_path / "clip.mkv", frame_count=3)
    cache = AnalysisCache(tmp_path / "cache")
    tracks = (track(0, 0, [True, False, True]), track(4, 1, [True]))
    assert cache.get(clip, "dlib") is None
    cache.put(clip, "dlib", tracks)
    loaded = cache.get(clip, "dlib")
    assert [(t.track_id, t.first_frame) for t in loaded] == [(0, 0), (4, 1)]
    for original, back in zip(tracks, loaded, strict=True):
        assert np.array_equal(original.landmarks, back.landmarks) and np.array_equal(original.boxes, back.boxes)
        assert np.array_equal(original.present, back.present)
    assert cache.get(clip, "face-alignment") is None  # another backend, another entry
    cache.path_for(clip, "dlib").write_bytes(b"not an npz")
    assert cache.get(clip, "dlib") is None
    cache.put(clip, "dlib", ())
    assert cache.get(clip, "dlib") == ()


def test_choices_are_derived_without_tracking_again(tmp_path):
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=20)
    backend = IndexedFaceBackend(lambda i: [FACE] if i < 8 or i >= 12 else [], (HEIGHT, WIDTH))
    analysis = analyse_clip(clip, 0, 20, backend, identity="auto", crop_size=64)
    assert backend.source_frames_seen == 20
    assert analysis.segments() == [(0, 8), (12, 20)] and len(analysis.identity_frames) == 2
    assert sum(window is None for window in analysis.windows) == 4
    later = analysis.for_range(10, 16, identity="first")
    assert later.segments() == [(12, 16)] and later.identity_frames == (2,)
    assert backend.source_frames_seen == 20
    data = later.to_dict()
    assert data["range"] == [10, 16] and data["identity_frames"] == [12] and data["faces"]["backend"] == "indexed"
    with pytest.raises(NoFaceFoundError):
        analysis.for_range(8, 12)
    with pytest.raises(InvalidParameterError, match=r"frame range \[5, 25\) is not inside the clip's 20 frames"):
        analysis.for_range(5, 25)
    with pytest.raises(Exception, match="track"):
        analysis.for_range(0, 20, face=FaceChoice(track_id=7))


def test_a_render_refuses_the_analysis_of_another_clip(tmp_path):
    from test_render import PassThroughPipeline, request_for, write_wav

    from keydub.core.render import render_clip

    clip = make_test_clip(tmp_path / "a.mkv", width=WIDTH, height=HEIGHT, frame_count=14)
    other = make_test_clip(tmp_path / "b.mkv", width=WIDTH, height=HEIGHT, frame_count=14)
    backend = IndexedFaceBackend(lambda i: [FACE], (HEIGHT, WIDTH))
    analysis = analyse_clip(other, backend=backend)
    request = request_for(clip, write_wav(tmp_path / "dub.wav", 1.0), tmp_path / "out.mkv")
    with pytest.raises(InvalidParameterError, match="the clip analysis is of .*b.mkv, not of the clip to render"):
        render_clip(request, pipeline=PassThroughPipeline(), landmark_backend=backend, analysis=analysis)
    assert not (tmp_path / "out.mkv").exists()


def test_a_cache_folder_that_cannot_be_written_costs_a_warning(tmp_path, caplog):
    import os

    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=6)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    backend = IndexedFaceBackend(lambda i: [FACE], (HEIGHT, WIDTH))
    analysis = analyse_clip(clip, backend=backend, cache=AnalysisCache(blocked / "analysis"))
    assert analysis.segments() == [(0, 6)]
    assert "cannot keep the clip analysis in" in caplog.text and "KEYDUB_CACHE_DIR" in caplog.text
    assert os.path.isfile(blocked)

"""The Engine: models loaded once and reused, clip analyses cached on disk, stable track ids, cancel, progress."""

import threading
from fractions import Fraction
from pathlib import Path

import pytest
from face_fixtures import IndexedFaceBackend, template_landmarks
from media_fixtures import make_test_clip
from test_render import FRAME_SIZE, HEIGHT, WIDTH, request_for, write_wav
from tiny_models import save_tiny_weights, tiny_weight_flags, tiny_weight_options

from keydub.core.cancel import CancelToken
from keydub.core.engine import Engine
from keydub.core.errors import RenderInterruptedError
from keydub.core.media import probe
from keydub.core.progress import Progress, Stage, Unit
from keydub.core.render.request import FaceChoice


FACE = template_landmarks(48, 36, 36)
LEFT, RIGHT = template_landmarks(26, 40, 22), template_landmarks(70, 40, 22)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), FRAME_SIZE)


def one_face(index: int) -> list:
    return [FACE]


def two_faces(index: int) -> list:
    """The right-hand face is on from frame 5 to the end, the left-hand one only on frames 10-19."""
    return ([LEFT] if 10 <= index < 20 else []) + ([RIGHT] if index >= 5 else [])


def engine_with(tmp_path: Path, faces=one_face) -> tuple[Engine, IndexedFaceBackend]:
    # Under a registered name, so that a request (whose options name only registered backends) may ask for it.
    backend = IndexedFaceBackend(faces, (HEIGHT, WIDTH), name="dlib")
    return Engine(cache_dir=tmp_path / "cache", landmark_backends={backend.name: backend}), backend


def test_one_engine_renders_two_clips_and_loads_the_pipeline_once(tmp_path, weights):
    engine, _ = engine_with(tmp_path)
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    for name, frames in (("a", 14), ("b", 20)):
        clip = make_test_clip(tmp_path / f"{name}.mkv", width=WIDTH, height=HEIGHT, frame_count=frames)
        request = request_for(clip, dub, tmp_path / f"{name}_out.mkv", weights)
        result = engine.render(request)
        assert result.frame_count == probe(result.output).frame_count == frames
    assert engine.loads["pipeline"] == 1
    assert engine.pipeline(request) is engine.pipeline(**tiny_weight_options(weights), device="cpu", dtype="float32")
    assert engine.loads["pipeline"] == 1
    engine.release()
    engine.pipeline(request)
    assert engine.loads["pipeline"] == 2


def test_the_analysis_cache_is_hit_on_the_second_call_even_by_another_engine(tmp_path):
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    engine, backend = engine_with(tmp_path)
    events: list[Progress] = []
    first = engine.analyse_clip(clip, 0, 30, "dlib", progress=events.append)
    assert backend.source_frames_seen == 30 and events[-1] == Progress(Stage.LANDMARKS, 30, 30)
    second = engine.analyse_clip(clip, 10, 20, "dlib", crop_size=FRAME_SIZE)
    again, other_backend = engine_with(tmp_path)  # same cache folder, fresh process state
    third = again.analyse_clip(clip, 5, 25, "dlib")
    assert backend.source_frames_seen == 30 and other_backend.source_frames_seen == 0  # no landmark call
    assert [t.track_id for t in second.tracks] == [t.track_id for t in first.tracks] == [0]
    assert (second.start, second.end, len(second.windows), second.crop_size) == (10, 20, 10, FRAME_SIZE)
    assert third.segments() == [(5, 25)]


def test_a_changed_file_is_analysed_again(tmp_path):
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=14)
    engine, backend = engine_with(tmp_path)
    engine.analyse_clip(clip, backend="dlib")
    make_test_clip(clip, width=WIDTH, height=HEIGHT, frame_count=16)  # re-exported under the same name
    assert engine.analyse_clip(clip, backend="dlib").info.frame_count == 16
    assert backend.source_frames_seen == 14 + 16


def test_track_ids_of_inspect_are_the_ones_a_sub_range_render_takes(tmp_path, weights, monkeypatch, capsys):
    import json

    from keydub.plugin.cli.main import main

    monkeypatch.setenv("KEYDUB_CACHE_DIR", str(tmp_path / "cache"))
    backend = IndexedFaceBackend(two_faces, (HEIGHT, WIDTH), name="dlib")
    monkeypatch.setattr("keydub.core.faces.get_landmark_backend", lambda name: backend)
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    assert main(["inspect", str(clip), "--faces", "--backend", "dlib", "--json"]) == 0
    tracks = json.loads(capsys.readouterr().out)["faces"]["tracks"]
    # Whole clip: the right-hand face comes first (frame 5), the left-hand one second (frame 10).
    assert [(t["track_id"], t["first_frame"], t["last_frame"]) for t in tracks] == [(0, 5, 29), (1, 10, 19)]

    # On [12, 30) both faces are there from the first frame: tracking the range alone would number the left one
    # 0; the clip's ids say 0 is the right-hand face.
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    report = tmp_path / "qc.json"
    argv = [
        "render",
        str(clip),
        "--audio",
        str(dub),
        "-o",
        str(tmp_path / "out.mkv"),
        "--in",
        "12",
        "--face-track",
        "0",
        "--codec",
        "ffv1",
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--quiet",
        "--landmark-backend",
        "dlib",
        "--report",
        str(report),
        *tiny_weight_flags(weights),
    ]
    assert main(argv) == 0, capsys.readouterr().err
    face = json.loads(report.read_text())["face"]
    assert face["track_ids"] == [0] and face["segments"] == [[12, 30]]
    assert backend.source_frames_seen == 30  # the render used inspect's cached analysis


def test_a_render_cancelled_mid_denoising_stops_within_one_step_and_leaves_no_file(tmp_path, weights):
    engine, _ = engine_with(tmp_path)
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    dub = write_wav(tmp_path / "dub.wav", 1.2)
    output = tmp_path / "out.mkv"
    token = CancelToken()
    steps: list[Progress] = []

    def stop_at_step_three(event: Progress) -> None:
        if event.unit == Unit.STEPS:
            steps.append(event)
            if event.stage == Stage.INTERPOLATION and event.done == 3:
                # From another thread, as the worker's command reader or a Stop button would.
                thread = threading.Thread(target=token.cancel)
                thread.start()
                thread.join()

    with pytest.raises(RenderInterruptedError):
        engine.render(request_for(clip, dub, output, weights), stop_at_step_three, cancel=token)
    interpolation = [e.done for e in steps if e.stage == Stage.INTERPOLATION]
    assert interpolation == [1, 2, 3]  # step 4 never reported: stopped right after the step it was cancelled in
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "clip.mkv", "dub.wav"]


def test_each_stage_of_a_render_ends_at_its_total_and_steps_are_steps_times_calls(tmp_path, weights):
    # Two shots of 30 and 20 frames (a cut at frame 30): two segments, each one keyframe batch.
    other = template_landmarks(30, 40, 28)
    engine, _ = engine_with(tmp_path, lambda i: [FACE] if i < 30 else [other])
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=50)
    dub = write_wav(tmp_path / "dub.wav", 2.0)
    events: list[Progress] = []
    request = request_for(clip, dub, tmp_path / "out.mkv", weights, steps=10)
    previews = []
    result = engine.render(
        request, events.append, callback_on_step_end=lambda pipe, step, sigma, kw: previews.append((kw["stage"], step))
    )
    assert result.report["face"]["segments"] == [[0, 30], [30, 50]]
    # The step callback (previews) sees every step of both segments, counted per pipeline call.
    assert previews == 2 * ([("keyframes", i) for i in range(11)] + [("interpolation", i) for i in range(11)])
    last = {}
    for event in events:
        assert 0 <= event.done <= event.total
        if event.stage in last and event.stage != Stage.AUDIO_FEATURES:
            assert event.done >= last[event.stage].done  # every stage counts up once over the whole render
        last[event.stage] = event
    for stage, event in last.items():
        assert event.done == event.total, stage
    # 10 AYS steps are 11 Euler steps; one keyframe batch and one interpolation call per segment.
    assert last[Stage.KEYFRAMES] == Progress(Stage.KEYFRAMES, 22, 22, unit=Unit.STEPS)
    assert last[Stage.INTERPOLATION] == Progress(Stage.INTERPOLATION, 22, 22, unit=Unit.STEPS)
    assert [e.done for e in events if e.stage == Stage.KEYFRAMES] == list(range(1, 23))
    assert last[Stage.RENDER].total == 50 and last[Stage.CROP].total == 50
    assert last[Stage.LANDMARKS] == Progress(Stage.LANDMARKS, 50, 50)
    assert last[Stage.LOAD_MODEL] == Progress(Stage.LOAD_MODEL, 1, 1)


def test_a_face_choice_by_click_picks_the_track_under_it(tmp_path):
    engine, _ = engine_with(tmp_path, two_faces)
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    analysis = engine.analyse_clip(clip, 10, 20, "dlib", face=FaceChoice(point=(26.0, 40.0), frame=12))
    assert set(analysis.face.track_ids.tolist()) == {1}
    assert analysis.to_dict()["target_track_ids"] == [1] * 10
    assert analysis.for_range(10, 20, face=FaceChoice(track_id=0)).face.track_ids.tolist() == [0] * 10
    assert Fraction(analysis.info.frame_rate) == 25


def test_a_cancel_during_the_landmark_pass_caches_nothing(tmp_path, weights):
    engine, backend = engine_with(tmp_path)
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30)
    token = CancelToken()

    def stop_at_frame_five(event: Progress) -> None:
        if event.stage == Stage.LANDMARKS and event.done == 5:
            token.cancel()

    request = request_for(clip, write_wav(tmp_path / "dub.wav", 1.2), tmp_path / "out.mkv", weights)
    with pytest.raises(RenderInterruptedError):
        engine.render(request, stop_at_frame_five, cancel=token)
    assert backend.source_frames_seen <= 8  # stopped within one detection batch
    assert engine.loads["pipeline"] == 0 and not (tmp_path / "out.mkv").exists()
    assert engine.analysis_cache.get(clip, "dlib") is None  # a partial pass is not kept

"""End to end: a 3-clip timeline rendered by the real engine with tiny random KeySync weights, saved and loaded the
way users load them, then placed back on a new track of the timeline."""

import dataclasses

import numpy as np
import opentimelineio as otio
import pytest
from face_fixtures import DrawnFaceBackend, template_landmarks
from otio_fixtures import RATE, write_three_clip_timeline
from ray_fixtures import tiny_render_options
from tiny_models import TINY_FRAME_SIZE, save_tiny_weights

from keydub.core.cancel import CancelToken
from keydub.core.engine import Engine
from keydub.core.errors import RenderInterruptedError
from keydub.core.media import probe, read_frames
from keydub.core.progress import Stage
from keydub.plugin.store import JobState, JobStore
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.executors import InProcessExecutor
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions
from keydub.plugin.timeline.timecode import to_frames


WIDTH, HEIGHT = 96, 80
# A frontal face in the middle of the synthetic frames, where the stand-in landmark backend reports it.
FACE = template_landmarks(48, 36, 36)


def _tiny_batch(tmp_path):
    weights = save_tiny_weights(tmp_path / "weights", TINY_FRAME_SIZE)
    fixture = write_three_clip_timeline(tmp_path, durations=(4, 3, 5), size=(WIDTH, HEIGHT))
    options = PlanOptions(
        dub_tracks=("DX es-419",),
        handles=1,
        render_options=tiny_render_options(weights),
    )
    # Synthetic clips have no face a detector could find: a stand-in backend reports the drawn one.
    engine = Engine(
        cache_dir=tmp_path / "cache",
        landmark_backends={"face-alignment": DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH))},
    )
    return fixture, options, engine


def test_a_timeline_renders_with_the_engine_and_lines_up(tmp_path):
    fixture, options, engine = _tiny_batch(tmp_path)
    executor = InProcessExecutor(engine)

    run = render_timeline(fixture.path, tmp_path / "renders", tmp_path / "out.otio", options, executor=executor)

    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 3 and run.rendered_count == 3
    assert engine.loads["pipeline"] == 1, "the model is loaded once for the whole batch"
    output = read_timeline(tmp_path / "out.otio")
    assert [track.name for track in output.tracks] == ["Video 1", "Keydub DX es-419 v1", "DX es-419"]
    news = [item for item in output.tracks[1] if isinstance(item, otio.schema.Clip)]
    originals = [item for item in output.tracks[0] if isinstance(item, otio.schema.Clip)]
    for planned, outcome, new, old in zip(run.plan.clips, run.outcomes, news, originals, strict=True):
        job = planned.job
        info = probe(outcome.output)
        assert (info.frame_count, info.frame_rate, info.start_frame) == (job.frame_count, RATE, job.timecode_start)
        assert (new.range_in_parent(), new.source_range) == (old.range_in_parent(), old.source_range)
        assert to_frames(new.available_range().start_time, RATE, "start") == info.start_frame
        assert new.metadata["keydub"]["qc"]["frames"] == job.frame_count
        assert new.metadata["keydub"]["qc"]["passed_through"] == 0
        # Regenerated inside the face, the source's own pixels in the top rows (far from the mouth).
        source = list(read_frames(job.source.path, job.start_frame, job.end_frame))
        rendered = list(read_frames(outcome.output))
        assert all(np.array_equal(a[:8], b[:8]) for a, b in zip(source, rendered, strict=True))
        assert any(not np.array_equal(a, b) for a, b in zip(source, rendered, strict=True))

    again = render_timeline(fixture.path, tmp_path / "renders", tmp_path / "again.otio", options, executor=executor)
    assert again.rendered_count == 0 and engine.loads["pipeline"] == 1


def test_a_batch_cancelled_mid_denoising_leaves_the_clip_pending_and_a_rerun_finishes_it(tmp_path):
    fixture, options, engine = _tiny_batch(tmp_path)
    options = dataclasses.replace(options, only=("sh010", "sh020"))
    cancel = CancelToken()
    steps = []

    def stop_in_the_first_clip(update):
        if update.stage == f"[1/2] sh010: {Stage.KEYFRAMES}":
            steps.append(update.done)
            if update.done == 1:
                cancel.cancel()

    with pytest.raises(RenderInterruptedError, match=r"before 2 clip\(s\) were rendered \(sh010, sh020\)"):
        render_timeline(
            fixture.path,
            tmp_path / "renders",
            tmp_path / "out.otio",
            options,
            executor=InProcessExecutor(engine),
            progress=stop_in_the_first_clip,
            cancel=cancel,
        )
    # The stop reaches the render within a denoising step (the heartbeat watches the batch's token every 50 ms).
    assert steps and max(steps) <= 2
    with JobStore.for_folder(tmp_path / "renders", read_only=True) as store:
        assert sorted((record.name, record.state, record.attempts) for record in store.records()) == [
            ("sh010", JobState.PENDING, 1),
            ("sh020", JobState.PENDING, 0),
        ]
    assert not list((tmp_path / "renders").rglob("*.mkv"))

    run = render_timeline(
        fixture.path,
        tmp_path / "renders",
        tmp_path / "out.otio",
        dataclasses.replace(options, only=("sh010",)),
        executor=InProcessExecutor(engine),
    )
    assert [(outcome.name, outcome.state, outcome.was_rendered) for outcome in run.outcomes] == [
        ("sh010", JobState.DONE, True)
    ]
    assert probe(run.outcomes[0].output).frame_count == run.plan.clips[0].job.frame_count
    assert engine.loads["pipeline"] == 1

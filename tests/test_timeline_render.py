"""End to end: a 3-clip timeline rendered by the real engine with tiny random KeySync weights, saved and loaded the
way users load them, then placed back on a new track of the timeline."""

import numpy as np
import opentimelineio as otio
from face_fixtures import DrawnFaceBackend, template_landmarks
from otio_fixtures import RATE, write_three_clip_timeline
from tiny_models import TINY_FRAME_SIZE, save_tiny_weights

from keydub.core import render as core_render
from keydub.core.media import probe, read_frames
from keydub.plugin.store import JobState
from keydub.plugin.timeline.batch import EngineRenderer, render_timeline
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions
from keydub.plugin.timeline.timecode import to_frames


WIDTH, HEIGHT = 96, 80
# A frontal face in the middle of the synthetic frames, where the stand-in landmark backend reports it.
FACE = template_landmarks(48, 36, 36)



def test_a_timeline_renders_with_the_engine_and_lines_up(tmp_path, monkeypatch):
    weights = save_tiny_weights(tmp_path / "weights", TINY_FRAME_SIZE)
    fixture = write_three_clip_timeline(tmp_path, durations=(4, 3, 5), size=(WIDTH, HEIGHT))
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={
        "weights": str(weights["keysync"]), "vae": str(weights["vae"]), "hubert": str(weights["hubert"]),
        "wavlm": str(weights["wavlm"]), "codec": "ffv1", "device": "cpu", "dtype": "float32"})
    loads = []
    load_pipeline = core_render.load_pipeline
    monkeypatch.setattr(core_render, "load_pipeline", lambda request: loads.append(request) or load_pipeline(request))
    # Synthetic clips have no face a detector could find: a stand-in backend reports the drawn one.
    engine = EngineRenderer(landmark_backend=lambda request: DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH)))

    run = render_timeline(fixture.path, tmp_path / "renders", tmp_path / "out.otio", options, render=engine)

    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 3 and run.rendered_count == 3
    assert len(loads) == 1, "the model is loaded once for the whole batch"
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

    again = render_timeline(fixture.path, tmp_path / "renders", tmp_path / "again.otio", options, render=engine)
    assert again.rendered_count == 0 and len(loads) == 1

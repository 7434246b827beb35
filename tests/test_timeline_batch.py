"""Batch re-render of a timeline with the stand-in renderer: output timeline, re-runs, changes, kill and resume."""

import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from media_fixtures import read_index
from otio_fixtures import (
    RATE,
    SLOW_RENDER_ENV,
    START,
    copy_renderer,
    write_dubbing_timeline,
    write_three_clip_timeline,
)
from queue_fixtures import FunctionEngine, in_process, subprocess_environment

from keydub.core.cancel import CancelToken
from keydub.core.errors import (
    InvalidParameterError,
    JobStoreError,
    NoFaceFoundError,
    OutputExistsError,
    RenderInterruptedError,
)
from keydub.core.media import probe, read_frames
from keydub.plugin.store import JobState, JobStore
from keydub.plugin.timeline.batch import OutputFolder, render_timeline, run_batch
from keydub.plugin.timeline.executors import InProcessExecutor, WorkerExecutor
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline
from keydub.plugin.timeline.timecode import to_frames
from keydub.plugin.worker.client import WorkerCrashedError


OPTIONS = PlanOptions(dub_tracks=("DX es-419",), render_options={"codec": "ffv1"})
TESTS = Path(__file__).resolve().parent


class CountingRenderer:
    """The copy stand-in, remembering which clips it rendered (and failing the ones named in `fail`)."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.rendered: list[str] = []
        self.fail = fail

    def __call__(self, request, progress=None):
        name = request.output.name.rsplit("_", 1)[0]
        if name in self.fail:
            raise NoFaceFoundError(f"no face found in {name}; pick the face with metadata keydub.face")
        self.rendered.append(name)
        return copy_renderer(request, progress)


def _check_render_file(path: Path, job) -> None:
    info = probe(path)
    assert (info.frame_count, info.frame_rate, info.start_frame) == (job.frame_count, RATE, job.timecode_start)
    first, last = read_frames(path, 0, 1, info=info), read_frames(path, job.frame_count - 1, None, info=info)
    # The source frames spell their own index: the render holds exactly frames [start_frame, end_frame).
    assert read_index(next(first)) == job.start_frame and read_index(next(last)) == job.end_frame - 1


def test_three_clips_render_and_line_up_frame_exactly_on_a_new_track(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    input_bytes = fixture.path.read_bytes()
    renderer = CountingRenderer()
    run = render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "out.otio", OPTIONS, executor=in_process(renderer)
    )

    assert sorted(renderer.rendered) == ["sh010", "sh020", "sh030"] and run.rendered_count == 3
    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 3
    for planned in run.plan.clips:
        _check_render_file(tmp_path / "renders" / planned.job.output_name(), planned.job)
    assert fixture.path.read_bytes() == input_bytes, "the input timeline is never changed"

    output = read_timeline(tmp_path / "out.otio")
    names = [track.name for track in output.tracks]
    assert names == ["Video 1", "Keydub DX es-419 v1", "DX es-419"]
    original, rendered = output.tracks[0], output.tracks[1]
    assert rendered.metadata["Resolve_OTIO"] == {"Locked": False}
    assert rendered.metadata["keydub"]["role"] == "output"
    assert [type(item).__name__ for item in rendered] == ["Clip", "Clip", "Gap", "Clip"]
    originals = [item for item in original if isinstance(item, otio.schema.Clip)]
    news = [item for item in rendered if isinstance(item, otio.schema.Clip)]
    for old, new, planned in zip(originals, news, run.plan.clips, strict=True):
        assert new.range_in_parent() == old.range_in_parent()
        assert new.source_range == old.source_range
        available = new.media_reference.available_range
        assert to_frames(available.start_time, RATE, "start") == planned.source_start - planned.head
        assert to_frames(available.duration, RATE, "duration") == planned.job.frame_count
        # The render's own timecode is where the new clip says its media starts.
        media = probe(new.media_reference.target_url)
        assert media.start_frame == to_frames(available.start_time, RATE, "start")
        assert new.metadata["keydub"]["job_hash"] == planned.job.content_hash()
        assert new.metadata["keydub"]["qc"]["frames"] == planned.job.frame_count
    assert rendered.range_of_child_at_index(2) == otio.opentime.TimeRange(
        otio.opentime.RationalTime(36, float(RATE)), otio.opentime.RationalTime(4, float(RATE))
    )
    assert output.global_start_time.to_frames() == START
    # Resolve's importer needs Clip.2 with a media_references map holding a bare path.
    document = json.loads((tmp_path / "out.otio").read_text())
    first = document["tracks"]["children"][1]["children"][0]
    assert first["OTIO_SCHEMA"] == "Clip.2" and first["active_media_reference_key"] == "DEFAULT_MEDIA"
    assert first["media_references"]["DEFAULT_MEDIA"]["target_url"].startswith("/")


def test_a_second_run_renders_nothing_and_a_changed_face_renders_one_clip(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    render_timeline(fixture.path, tmp_path / "renders", tmp_path / "v1.otio", OPTIONS, executor=in_process())

    again = CountingRenderer()
    run = render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "v1b.otio", OPTIONS, executor=in_process(again)
    )
    assert again.rendered == [] and run.rendered_count == 0
    assert [outcome.message for outcome in run.outcomes] == ["up to date"] * 3
    forced = CountingRenderer()
    render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "forced.otio", OPTIONS, executor=in_process(forced), force=True
    )
    assert forced.rendered == ["sh010", "sh020", "sh030"]

    changed = write_three_clip_timeline(tmp_path, keydub={"sh020": {"face": {"point": [30.0, 20.0]}}})
    third = CountingRenderer()
    run = render_timeline(
        changed.path, tmp_path / "renders", tmp_path / "v2.otio", OPTIONS, executor=in_process(third)
    )
    assert third.rendered == ["sh020"] and run.rendered_count == 1
    sh020 = next(clip.job for clip in run.plan.clips if clip.name == "sh020")
    _check_render_file(tmp_path / "renders" / sh020.output_name(), sh020)


def test_a_failed_clip_is_recorded_and_the_batch_goes_on(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    run = render_timeline(
        fixture.path,
        tmp_path / "renders",
        tmp_path / "out.otio",
        OPTIONS,
        executor=in_process(CountingRenderer(fail=("sh020",))),
    )
    states = {outcome.name: (outcome.state, outcome.message) for outcome in run.outcomes}
    assert states["sh020"] == (JobState.FAILED, "no face found in sh020; pick the face with metadata keydub.face")
    assert states["sh010"][0] is JobState.DONE and states["sh030"][0] is JobState.DONE
    output = read_timeline(tmp_path / "out.otio")
    rendered = output.tracks[1]
    assert [type(item).__name__ for item in rendered] == ["Clip", "Gap", "Clip"]
    assert not list((tmp_path / "renders" / ".keydub" / "staging").iterdir())

    retry = CountingRenderer()
    render_timeline(fixture.path, tmp_path / "renders", tmp_path / "out2.otio", OPTIONS, executor=in_process(retry))
    assert retry.rendered == ["sh020"]


def test_dry_run_reports_what_would_happen_and_writes_nothing(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "out.otio", OPTIONS, executor=in_process(), progress=None
    )
    changed = write_three_clip_timeline(tmp_path, keydub={"sh030": {"params": {"seed": 3}}})
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    run = render_timeline(
        changed.path,
        tmp_path / "renders",
        tmp_path / "dry.otio",
        OPTIONS,
        dry_run=True,
        executor=in_process(CountingRenderer(fail=("sh010", "sh020", "sh030"))),
    )
    assert (
        sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if not path.name.startswith("jobs.sqlite-"))
        == before
    )
    assert [(outcome.name, outcome.state, outcome.message) for outcome in run.outcomes] == [
        ("sh010", JobState.DONE, "up to date"),
        ("sh020", JobState.DONE, "up to date"),
        ("sh030", JobState.PENDING, "would render (changed since the last render)"),
    ]
    assert run.is_dry_run and run.output_timeline is None and run.track_name == "Keydub DX es-419 v1"


def test_the_output_of_a_run_takes_the_next_version_when_used_as_input(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    render_timeline(fixture.path, tmp_path / "renders", tmp_path / "v1.otio", OPTIONS, executor=in_process())
    renderer = CountingRenderer()
    run = render_timeline(
        tmp_path / "v1.otio", tmp_path / "renders", tmp_path / "v2.otio", OPTIONS, executor=in_process(renderer)
    )
    # The v1 track is Keydub's output, not picture: the same three clips, already done.
    assert renderer.rendered == [] and [clip.name for clip in run.plan.clips] == ["sh010", "sh020", "sh030"]
    output = read_timeline(tmp_path / "v2.otio")
    assert [track.name for track in output.tracks] == [
        "Video 1",
        "Keydub DX es-419 v1",
        "Keydub DX es-419 v2",
        "DX es-419",
    ]


def test_progress_reports_clips_and_frames(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    updates = []
    render_timeline(
        fixture.path,
        tmp_path / "renders",
        tmp_path / "out.otio",
        OPTIONS,
        executor=in_process(),
        progress=updates.append,
    )
    clips = [(update.done, update.total) for update in updates if update.stage == "clips"]
    assert clips == [(0, 3), (1, 3), (2, 3), (3, 3)]
    first_clip = [update for update in updates if update.stage == "[1/3] sh010: copy"]
    assert [update.done for update in first_clip] == list(range(1, 45)) and first_clip[0].total == 44


def test_destinations_are_checked_before_any_render(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    renderer = CountingRenderer(fail=("sh010", "sh020", "sh030"))
    with pytest.raises(InvalidParameterError, match="is the input; Keydub never changes the input timeline"):
        render_timeline(fixture.path, tmp_path / "renders", fixture.path, OPTIONS, executor=in_process(renderer))
    (tmp_path / "taken.otio").write_text("{}")
    with pytest.raises(OutputExistsError, match="taken.otio already exists; choose another path with -o or pass"):
        render_timeline(
            fixture.path, tmp_path / "renders", tmp_path / "taken.otio", OPTIONS, executor=in_process(renderer)
        )
    assert (tmp_path / "taken.otio").read_text() == "{}"


def test_a_second_batch_on_the_same_folder_is_refused(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    folder = OutputFolder(tmp_path / "renders")
    folder.prepare()
    plan = plan_timeline(read_timeline(fixture.path), fixture.path.parent, folder.audio_cache, OPTIONS)
    with open(folder.lock_path, "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(JobStoreError, match="another Keydub batch is rendering into .*renders; wait for it"):
            run_batch(plan, folder, executor=in_process())


_BATCH_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from queue_fixtures import in_process
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.plan import PlanOptions
render_timeline(Path({timeline!r}), Path({renders!r}), Path({output!r}),
                PlanOptions(dub_tracks=("DX es-419",), render_options={{"codec": "ffv1"}}), executor=in_process())
"""


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the batch subprocess")
        time.sleep(0.02)


def test_a_batch_killed_mid_render_resumes_without_redoing_finished_clips(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    renders = tmp_path / "renders"
    script = _BATCH_SCRIPT.format(
        tests=str(TESTS), timeline=str(fixture.path), renders=str(renders), output=str(tmp_path / "killed.otio")
    )
    environment = {**os.environ, SLOW_RENDER_ENV: "0.05"}
    batch = subprocess.Popen([sys.executable, "-c", script], env=environment)
    try:

        def second_clip_is_being_written() -> bool:
            with JobStore.for_folder(renders, read_only=True) as store:
                states = [record.state for record in store.records()]
            staged = list((renders / ".keydub" / "staging").rglob(".*.partial.mkv"))
            return states.count(JobState.DONE) == 1 and JobState.RUNNING in states and bool(staged)

        _wait_for(lambda: (renders / ".keydub" / "jobs.sqlite").is_file() and second_clip_is_being_written())
    finally:
        batch.send_signal(signal.SIGKILL)
        batch.wait()
    assert batch.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.otio").exists()
    finished = [path.name for path in renders.glob("*.mkv")]
    assert len(finished) == 1 and finished[0].startswith("sh010_")

    resumed = CountingRenderer()
    run = render_timeline(fixture.path, renders, tmp_path / "resumed.otio", OPTIONS, executor=in_process(resumed))
    assert resumed.rendered == ["sh020", "sh030"]
    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 3
    for planned in run.plan.clips:
        _check_render_file(renders / planned.job.output_name(), planned.job)
    leftovers = [path for path in renders.rglob("*") if path.is_file() and "partial" in path.name]
    assert leftovers == [] and not list((renders / ".keydub" / "staging").iterdir())
    assert sorted(path.name for path in renders.glob("*.mkv")) == sorted(
        planned.job.output_name() for planned in run.plan.clips
    )


def test_frame_rate_fraction_is_exact_in_the_plan(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    plan = plan_timeline(
        read_timeline(fixture.path), fixture.path.parent, tmp_path / "audio", OPTIONS, write_audio=False
    )
    assert plan.rate == Fraction(24000, 1001) and all(job.frame_rate == plan.rate for job in plan.jobs)


def test_a_dissolve_between_two_renders_is_mirrored_and_covered_by_their_handles(tmp_path):
    fixture = write_dubbing_timeline(tmp_path)
    options = PlanOptions(
        dub_tracks=("DX es-419",), only=("sh010", "sh020"), handles=2, render_options={"codec": "ffv1"}
    )
    run = render_timeline(fixture.path, tmp_path / "renders", tmp_path / "out.otio", options, executor=in_process())
    # 2-frame handles are widened to the 4 frames the dissolve shows past each cut.
    assert [(clip.head, clip.tail) for clip in run.plan.clips] == [(2, 4), (4, 2)]
    output = read_timeline(tmp_path / "out.otio")
    original, rendered = output.tracks[0], output.tracks[1]
    assert [type(item).__name__ for item in rendered] == ["Clip", "Transition", "Clip", "Gap"]
    assert (rendered[1].in_offset, rendered[1].out_offset) == (original[1].in_offset, original[1].out_offset)
    for new, old in ((rendered[0], original[0]), (rendered[2], original[2])):
        assert new.visible_range() == old.visible_range() and new.range_in_parent() == old.range_in_parent()
        available = new.available_range()
        assert available.start_time <= new.visible_range().start_time
        assert available.end_time_exclusive() >= new.visible_range().end_time_exclusive()
    assert rendered.duration() == original.duration()


def test_clips_on_two_picture_tracks_get_one_output_track_each(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    timeline = read_timeline(fixture.path)
    overlay = timeline.tracks[0].deepcopy()
    overlay.name = "Video 2"
    del overlay[1:]  # only sh010, over the same record frames
    timeline.tracks.insert(1, overlay)
    path = tmp_path / "two.otio"
    otio.adapters.write_to_file(timeline, str(path))
    run = render_timeline(path, tmp_path / "renders", tmp_path / "out.otio", OPTIONS, executor=in_process())
    assert [clip.clip_id for clip in run.plan.clips] == [
        "Video 1@01:00:00:00",
        "Video 1@01:00:00:20",
        "Video 1@01:00:01:16",
        "Video 2@01:00:00:00",
    ]
    # Same media and settings: the overlay's sh010 is the same render as the one on Video 1.
    assert run.rendered_count == 3 and run.outcomes[0].output == run.outcomes[3].output
    output = read_timeline(tmp_path / "out.otio")
    assert [track.name for track in output.tracks] == [
        "Video 1",
        "Video 2",
        "Keydub DX es-419 v1 (Video 1)",
        "Keydub DX es-419 v1 (Video 2)",
        "DX es-419",
    ]


def _crashing_renderer(request, progress=None):
    raise RuntimeError("CUDA error: an illegal memory access was encountered")


def _short_renderer(request, progress=None):
    result = copy_renderer(request, progress)
    return dataclasses.replace(result, frame_count=result.frame_count - 1)


@pytest.mark.parametrize(
    "renderer, message",
    [
        (
            _crashing_renderer,
            "internal error RuntimeError: CUDA error: an illegal memory access was encountered "
            "(please report it with the log above)",
        ),
        (_short_renderer, "the render of 'sh010' has 43 frames, expected 44; the clip was not placed"),
    ],
)
def test_an_engine_failure_costs_one_clip_and_leaves_no_file(tmp_path, renderer, message):
    fixture = write_three_clip_timeline(tmp_path)
    options = dataclasses.replace(OPTIONS, only=("sh010",))
    run = render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "out.otio", options, executor=in_process(renderer)
    )
    (outcome,) = run.outcomes
    assert (outcome.state, outcome.message) == (JobState.FAILED, message)
    assert not list((tmp_path / "renders").glob("*.mkv")) and not list(
        (tmp_path / "renders" / ".keydub" / "staging").iterdir()
    )
    with JobStore.for_folder(tmp_path / "renders", read_only=True) as store:
        assert store.get(outcome.job_id).message == message


def test_a_batch_cancelled_mid_clip_leaves_that_job_pending_and_a_rerun_finishes_it(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    cancel = CancelToken()
    renders = tmp_path / "renders"

    def cancel_during_sh020(request, progress=None):
        def tick(update):
            if request.output.name.startswith("sh020_") and update.done == 5:
                cancel.cancel()  # as the panel's Stop button would, from any thread
                time.sleep(0.2)  # the stop reaches the render through the heartbeat's watch
            progress(update)

        return copy_renderer(request, tick)

    with pytest.raises(
        RenderInterruptedError,
        match=r"stopped before 2 clip\(s\) were rendered \(sh020, sh030\); "
        "they are pending: run it again to finish",
    ):
        render_timeline(
            fixture.path,
            renders,
            tmp_path / "out.otio",
            OPTIONS,
            executor=in_process(cancel_during_sh020),
            cancel=cancel,
        )
    assert not (tmp_path / "out.otio").exists()
    with JobStore.for_folder(renders, read_only=True) as store:
        states = {record.name: (record.state, record.attempts) for record in store.records()}
    assert states == {"sh010": (JobState.DONE, 1), "sh020": (JobState.PENDING, 1), "sh030": (JobState.PENDING, 0)}
    assert [path.name.split("_")[0] for path in renders.glob("*.mkv")] == ["sh010"]
    assert not [path for path in renders.rglob("*") if "partial" in path.name]
    assert list((renders / ".keydub" / "staging").iterdir()) == []

    rerun = CountingRenderer()
    run = render_timeline(fixture.path, renders, tmp_path / "out.otio", OPTIONS, executor=in_process(rerun))
    assert rerun.rendered == ["sh020", "sh030"] and [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 3
    for planned in run.plan.clips:
        _check_render_file(renders / planned.job.output_name(), planned.job)


def test_a_batch_renders_through_a_worker_process_and_relays_its_progress(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    updates = []
    executor = WorkerExecutor(engine="queue_fixtures:copy_engine", lease_seconds=5.0, env=subprocess_environment())
    run = render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "out.otio", OPTIONS, executor=executor, progress=updates.append
    )
    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 3 and run.rendered_count == 3
    for planned in run.plan.clips:
        _check_render_file(tmp_path / "renders" / planned.job.output_name(), planned.job)
    output = read_timeline(tmp_path / "out.otio")
    assert [track.name for track in output.tracks] == ["Video 1", "Keydub DX es-419 v1", "DX es-419"]
    assert [(update.done, update.total) for update in updates if update.stage == "clips"] == [
        (0, 3),
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    last = [update for update in updates if update.stage == "[3/3] sh030: copy"][-1]
    assert (last.done, last.total, last.job_id) == (42, 42, run.plan.clips[2].job.job_id)


def test_a_crashed_worker_fails_the_batch_with_one_line_and_a_rerun_finishes_its_job(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    renders = tmp_path / "renders"
    executor = WorkerExecutor(engine="queue_fixtures:dying_engine", env=subprocess_environment())
    with pytest.raises(
        WorkerCrashedError,
        match=r"stopped unexpectedly \(exit code -9\) while rendering "
        r"'DX es-419/Video 1@01:00:00:00'; its job is kept: run the batch",
    ):
        render_timeline(fixture.path, renders, tmp_path / "out.otio", OPTIONS, executor=executor)
    with JobStore.for_folder(renders, read_only=True) as store:
        assert {record.name: record.state for record in store.records()} == {
            "sh010": JobState.RUNNING,
            "sh020": JobState.PENDING,
            "sh030": JobState.PENDING,
        }
    assert list((renders / ".keydub" / "staging").rglob("*.partial.mkv")), "the killed render left its partial"

    rerun = CountingRenderer()
    run = render_timeline(fixture.path, renders, tmp_path / "out.otio", OPTIONS, executor=in_process(rerun))
    assert rerun.rendered == ["sh010", "sh020", "sh030"] and run.rendered_count == 3
    assert not [path for path in renders.rglob("*") if "partial" in path.name]
    assert list((renders / ".keydub" / "staging").iterdir()) == []


def test_a_clip_cancelled_from_the_queue_while_the_batch_runs_is_left_out_and_the_rest_rendered(tmp_path):
    fixture = write_three_clip_timeline(tmp_path)
    renders = tmp_path / "renders"

    def cancel_sh020_from_outside(request, progress=None):
        def tick(update):
            if request.output.name.startswith("sh020_") and update.done == 3:
                with JobStore.for_folder(renders) as store:  # as the panel's queue would
                    store.cancel(next(r.job_id for r in store.records() if r.name == "sh020"))
                time.sleep(0.3)  # the render's heartbeat reads the request
            progress(update)

        return copy_renderer(request, tick)

    executor = InProcessExecutor(FunctionEngine(cancel_sh020_from_outside), lease_seconds=1.0)
    run = render_timeline(fixture.path, renders, tmp_path / "out.otio", OPTIONS, executor=executor)
    assert [(outcome.name, outcome.state) for outcome in run.outcomes] == [
        ("sh010", JobState.DONE),
        ("sh020", JobState.CANCELLED),
        ("sh030", JobState.DONE),
    ]
    assert run.to_dict()["counts"]["cancelled"] == 1
    output = read_timeline(tmp_path / "out.otio")
    assert [type(item).__name__ for item in output.tracks[1]] == ["Clip", "Gap", "Clip"]
    rerun = CountingRenderer()
    render_timeline(fixture.path, renders, tmp_path / "again.otio", OPTIONS, executor=in_process(rerun))
    assert rerun.rendered == ["sh020"], "a re-run queues the cancelled clip again"

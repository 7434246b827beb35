"""A timeline rendered on Ray actors (a local Ray on CPU, two actors): the same renders as the in-process batch, an
actor killed mid-job, shared storage seen under another path by the nodes, and Ray missing.

One Ray session serves the whole module (starting Ray costs seconds); the actors build their engines from
`ray_fixtures`.
"""

import functools
import os
import re
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from ray_fixtures import (
    NodePathEngine,
    SlowCopyEngine,
    drawn_face_engine,
    ray_runtime_env,
    tiny_render_options,
    write_clip_timeline,
)
from tiny_models import TINY_FRAME_SIZE, save_tiny_weights

from keydub.core.media import probe, read_frames
from keydub.plugin.cli.main import main
from keydub.plugin.cluster.path_map import PathMap
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobState, JobStore
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.executors import InProcessExecutor
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", runtime_env=ray_runtime_env())
    yield ray
    ray.shutdown()


def farm(ray_session, engine_factory, actors=2, **options):
    from keydub.plugin.cluster.executor import RayExecutor

    return RayExecutor(gpus_per_job=0, actors=actors, engine_factory=engine_factory, **options)


def assert_store_consistent(out_dir: Path, expected_outputs: set[str]) -> list:
    """Every job done exactly once in the store, nothing running, no staged or partial file anywhere."""
    with JobStore.for_folder(out_dir, read_only=True) as store:
        records = store.records()
    assert {record.state for record in records} == {JobState.DONE}
    staged = [path for path in (out_dir / ".keydub" / "staging").rglob("*") if path.is_file()]
    assert staged == [], "no partial file is left behind"
    assert {path.name for path in out_dir.iterdir() if path.is_file()} == expected_outputs
    return records


# Tests --------------------------------------------------------------------------------------------------------
def test_two_actors_render_each_clip_once_exactly_as_the_in_process_batch(tmp_path, ray_session):
    weights = save_tiny_weights(tmp_path / "weights", TINY_FRAME_SIZE)
    timeline = write_clip_timeline(tmp_path)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options=tiny_render_options(weights))

    local = render_timeline(
        timeline,
        tmp_path / "local",
        tmp_path / "local.otio",
        options,
        executor=InProcessExecutor(drawn_face_engine(str(tmp_path / "cache_local"))),
    )
    executor = farm(ray_session, functools.partial(drawn_face_engine, str(tmp_path / "cache_ray")))
    remote = render_timeline(timeline, tmp_path / "ray", tmp_path / "ray.otio", options, executor=executor)

    assert [outcome.state for outcome in remote.outcomes] == [JobState.DONE] * 4 and remote.rendered_count == 4
    renders = {outcome.output.name for outcome in remote.outcomes}
    # Each FFV1 render has its Content Credentials beside it, and the folder's usage record a line for it.
    credentials = {Path(name).with_suffix(".c2pa").name for name in renders}
    records = assert_store_consistent(tmp_path / "ray", renders | credentials | {"keydub-usage.jsonl"})
    assert len((tmp_path / "ray" / "keydub-usage.jsonl").read_text().splitlines()) == 4
    assert [record.attempts for record in records] == [1] * 4, "every clip is rendered exactly once"
    assert len({where["pid"] for where in executor.nodes.values()}) == 2, "both actors rendered"
    for here, there in zip(local.outcomes, remote.outcomes, strict=True):
        assert here.output.name == there.output.name
        frames_here, frames_there = list(read_frames(here.output)), list(read_frames(there.output))
        assert len(frames_here) == probe(here.output).frame_count == 5
        assert all(np.array_equal(a, b) for a, b in zip(frames_here, frames_there, strict=True)), "bit-exact"

    # The output timelines differ only in the folder the renders are in and their manifests' ids.
    def written(name: str) -> str:
        text = otio.adapters.write_to_string(read_timeline(tmp_path / name))
        return re.sub(r"urn:c2pa:[0-9a-f-]+", "urn:c2pa:ID", text)

    assert written("ray.otio") == written("local.otio").replace(str(tmp_path / "local"), str(tmp_path / "ray"))


def test_a_killed_actor_s_job_is_finished_by_another_and_a_rerun_renders_nothing(tmp_path, ray_session):
    timeline = write_clip_timeline(tmp_path, frames=8)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={"codec": "ffv1"})
    killed = {}

    def kill_mid_job(job):
        if not killed and job.stage == "copy" and 3 <= job.done <= job.total - 3:  # well inside the render
            killed.update(job_id=job.job_id, pid=job.pid)
            os.kill(job.pid, signal.SIGKILL)

    executor = farm(ray_session, functools.partial(SlowCopyEngine, 0.1), running_job=kill_mid_job)
    run = render_timeline(timeline, tmp_path / "renders", tmp_path / "out.otio", options, executor=executor)

    assert killed, "an actor was killed mid-job"
    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 4
    records = assert_store_consistent(tmp_path / "renders", {outcome.output.name for outcome in run.outcomes})
    attempts = {record.job_id: record.attempts for record in records}
    assert attempts.pop(killed["job_id"]) == 2 and set(attempts.values()) == {1}
    assert executor.nodes[killed["job_id"]]["pid"] != killed["pid"], "another actor finished it"
    for outcome in run.outcomes:
        assert probe(outcome.output).frame_count == outcome.frames == 10

    again = render_timeline(timeline, tmp_path / "renders", tmp_path / "again.otio", options, executor=executor)
    assert again.rendered_count == 0 and {outcome.state for outcome in again.outcomes} == {JobState.DONE}


def test_ctrl_c_puts_the_running_jobs_back_to_pending_and_a_rerun_finishes_them(tmp_path, ray_session):
    timeline = write_clip_timeline(tmp_path, frames=8)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={"codec": "ffv1"})

    def ctrl_c_mid_job(job):
        if job.stage == "copy" and 3 <= job.done <= job.total - 3:
            raise KeyboardInterrupt  # as Ctrl-C would, on the driver's main thread

    executor = farm(ray_session, functools.partial(SlowCopyEngine, 0.1), running_job=ctrl_c_mid_job)
    with pytest.raises(KeyboardInterrupt):
        render_timeline(timeline, tmp_path / "renders", tmp_path / "out.otio", options, executor=executor)

    with JobStore.for_folder(tmp_path / "renders", read_only=True) as store:
        records = store.records()
    states = [record.state for record in records]
    assert set(states) <= {JobState.DONE, JobState.PENDING} and JobState.PENDING in states
    assert not [path for path in (tmp_path / "renders" / ".keydub").rglob("*.mkv")], "no partial render"
    # Only the clips finished before Ctrl-C are in place.
    assert {path.name for path in (tmp_path / "renders").glob("*.mkv")} == {
        record.output.name for record in records if record.state is JobState.DONE
    }
    finished = farm(ray_session, functools.partial(SlowCopyEngine, 0.0), actors=1)
    run = render_timeline(timeline, tmp_path / "renders", tmp_path / "out.otio", options, executor=finished)
    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 4
    assert_store_consistent(tmp_path / "renders", {outcome.output.name for outcome in run.outcomes})


def test_an_actor_no_node_can_take_ends_the_batch_with_one_clear_error(tmp_path, ray_session, monkeypatch):
    import time

    from keydub.plugin.cluster import executor as executor_module
    from keydub.plugin.cluster.errors import ClusterUnavailableError

    monkeypatch.setattr(executor_module, "ACTOR_START_TIMEOUT_S", 3.0)
    timeline = write_clip_timeline(tmp_path, frames=8)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={"codec": "ffv1"})
    # The local cluster has 2 CPUs: an actor asking for 64 is never placed.
    executor = farm(ray_session, functools.partial(SlowCopyEngine, 0.0), actors=1, cpus_per_actor=64)
    began = time.monotonic()
    with pytest.raises(ClusterUnavailableError) as raised:
        render_timeline(timeline, tmp_path / "renders", tmp_path / "out.otio", options, executor=executor)
    assert time.monotonic() - began < 30, "the batch gave up instead of waiting for ever"
    assert str(raised.value) == (
        "4 clip(s) were not rendered: no node of the Ray cluster took a render actor within 3 s (each asks for "
        "64 CPUs; free now: 0 GPUs, 2 CPUs); they stay pending: run the batch again when the cluster has room, "
        "or ask for fewer GPUs per job (--gpus-per-job)"
    )
    with JobStore.for_folder(tmp_path / "renders", read_only=True) as store:
        assert {record.state for record in store.records()} == {JobState.PENDING}
    # The cluster is free again: nothing waits on the pending actor.
    assert ray_session.available_resources().get("CPU") == 2


def test_a_batch_ends_when_the_placed_actors_took_every_job_while_another_waits_for_a_node(
    tmp_path, ray_session, monkeypatch
):
    import time

    from keydub.plugin.cluster import executor as executor_module

    monkeypatch.setattr(executor_module, "ACTOR_START_TIMEOUT_S", 120.0)
    monkeypatch.setattr(executor_module, "GROW_INTERVAL_S", 0.5)
    timeline = write_clip_timeline(tmp_path, frames=8)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={"codec": "ffv1"})
    # 1.5 CPUs each on a 2-CPU cluster: the first actor is placed, the second waits for a node that never comes.
    executor = farm(ray_session, functools.partial(SlowCopyEngine, 0.0), actors=2, cpus_per_actor=1.5)
    began = time.monotonic()
    run = render_timeline(timeline, tmp_path / "renders", tmp_path / "out.otio", options, executor=executor)
    assert time.monotonic() - began < 60, "the batch did not wait for the unplaced actor's time limit"
    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 4
    assert len({node["pid"] for node in executor.nodes.values()}) == 1, "one actor rendered every clip"
    assert_store_consistent(tmp_path / "renders", {outcome.output.name for outcome in run.outcomes})
    # Both actors are gone (killing the placed one frees its CPUs a moment later).
    deadline = time.monotonic() + 20
    while ray_session.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray_session.available_resources().get("CPU") == 2


def test_nodes_see_the_shared_storage_under_their_own_path_and_the_timeline_keeps_the_editor_s(tmp_path, ray_session):
    editor = tmp_path / "Volumes" / "SAN"
    node = tmp_path / "mnt" / "san"
    editor.mkdir(parents=True)
    node.parent.mkdir(parents=True)
    node.symlink_to(editor, target_is_directory=True)  # one storage, mounted at two places
    timeline = write_clip_timeline(editor)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=0, render_options={"codec": "ffv1"})
    paths = PathMap.parse([f"{editor}={node}"])

    run = render_timeline(
        timeline,
        editor / "renders",
        editor / "out.otio",
        options,
        executor=farm(ray_session, functools.partial(NodePathEngine, str(node)), path_map=paths),
    )

    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 4, [o.message for o in run.outcomes]
    track = read_timeline(editor / "out.otio").tracks[1]
    urls = [clip.media_reference.target_url for clip in track if isinstance(clip, otio.schema.Clip)]
    assert urls == [str(editor / "renders" / outcome.output.name) for outcome in run.outcomes]

    # A node that does not have the mount fails each clip at once, naming the path and the node.
    lost = PathMap.parse([f"{editor}={tmp_path / 'missing'}"])
    failed = render_timeline(
        timeline,
        editor / "renders2",
        editor / "out2.otio",
        options,
        executor=farm(ray_session, functools.partial(NodePathEngine, str(node)), actors=1, path_map=lost),
    )
    assert {outcome.state for outcome in failed.outcomes} == {JobState.FAILED}
    assert failed.outcomes[0].message == (
        f"render node {socket.gethostname()} cannot read the source {tmp_path / 'missing' / 'media' / 'A001.mov'}; "
        "mount the shared storage there, or map the path with --path-map FROM=TO"
    )


def test_actors_are_counted_from_the_cluster_s_gpus(ray_session):
    from keydub.plugin.cluster.errors import ClusterUnavailableError
    from keydub.plugin.cluster.executor import RayExecutor

    with pytest.raises(
        ClusterUnavailableError,
        match="^the Ray cluster has 0 GPUs and each job asks for 1; add GPU "
        r"nodes \(ray start --address\) or pass --gpus-per-job 0",
    ):
        RayExecutor().actor_count(jobs=4)
    assert RayExecutor(gpus_per_job=0).actor_count(jobs=4) == 2, "one CPU actor per CPU of the local cluster"
    assert RayExecutor(gpus_per_job=0).actor_count(jobs=1) == 1, "never more actors than jobs"


def test_a_drain_starts_one_more_actor_when_the_cluster_grows(tmp_path, ray_session, monkeypatch, caplog):
    import time

    from keydub.plugin.cluster import executor as executor_module

    monkeypatch.setattr(executor_module, "GROW_INTERVAL_S", 1.0)
    real_resources, began = ray_session.cluster_resources, []

    def one_cpu_then_two():  # as if a second node joined the cluster 3 s into the batch
        began.append(began[0] if began else time.monotonic())
        return {**real_resources(), "CPU": 1.0} if time.monotonic() - began[0] < 3 else real_resources()

    monkeypatch.setattr(ray_session, "cluster_resources", one_cpu_then_two)
    caplog.set_level("INFO", logger=executor_module.__name__)
    timeline = write_clip_timeline(tmp_path, clips=6, frames=8)
    options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options={"codec": "ffv1"})
    executor = farm(ray_session, functools.partial(SlowCopyEngine, 0.2), actors=None)
    run = render_timeline(timeline, tmp_path / "renders", tmp_path / "out.otio", options, executor=executor)

    assert [outcome.state for outcome in run.outcomes] == [JobState.DONE] * 6
    records = assert_store_consistent(tmp_path / "renders", {outcome.output.name for outcome in run.outcomes})
    assert [record.attempts for record in records] == [1] * 6, "every clip is rendered exactly once"
    assert len({where["pid"] for where in executor.nodes.values()}) == 2, "the actor started later rendered too"
    grew = [record.getMessage() for record in caplog.records if "grew" in record.getMessage()]
    assert grew == ["the cluster grew: 2 render actors now"], "one more actor, for the one more CPU"


def test_a_farm_grows_only_without_a_given_actor_count_and_never_past_the_open_jobs(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from keydub.plugin.cluster.executor import RayExecutor

    ray = pytest.importorskip("ray")
    free = {"CPU": 62.0}
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 64.0})
    monkeypatch.setattr(ray, "available_resources", lambda: free)
    job_ids = ["job0", "job1", "job2"]
    with JobStore.for_folder(tmp_path) as store:
        for job_id in job_ids:
            store.submit(job_id, job_id, "hash", {})
    folder = OutputFolder(tmp_path)
    placed = SimpleNamespace(is_alive=lambda: True, engine=SimpleNamespace(info={"pid": 1}))
    waiting = SimpleNamespace(is_alive=lambda: True, engine=SimpleNamespace(info=None))
    ended = SimpleNamespace(is_alive=lambda: False, engine=SimpleNamespace(info={"pid": 2}))

    assert RayExecutor(gpus_per_job=0).should_grow(folder, job_ids, [placed, placed, ended])
    assert not RayExecutor(gpus_per_job=0, actors=2).should_grow(folder, job_ids, [placed, placed]), "fixed"
    assert not RayExecutor(gpus_per_job=0).should_grow(folder, job_ids, [placed, waiting]), "one waits"
    assert not RayExecutor(gpus_per_job=0).should_grow(folder, job_ids, [placed] * 3), "one actor per open job"
    assert not RayExecutor(gpus_per_job=0, cpus_per_actor=32).should_grow(folder, job_ids, [placed] * 2), "64 CPUs: 2"
    assert not RayExecutor(gpus_per_job=1).should_grow(folder, job_ids, [placed]), "no GPU free"
    with JobStore.for_folder(tmp_path) as store:
        for job_id in job_ids[:2]:
            store.claim_next("host:1", 60.0, [job_id])
        store.claim_next("host:1", 60.0, job_ids)
    assert not RayExecutor(gpus_per_job=0).should_grow(folder, job_ids, [placed]), "every job is claimed"
    free["CPU"] = 0.5
    with JobStore.for_folder(tmp_path) as store:
        store.release(job_ids[2], "host:1")
    assert not RayExecutor(gpus_per_job=0).should_grow(folder, job_ids, [placed]), "half a CPU free"
    free["CPU"] = 1.0
    assert RayExecutor(gpus_per_job=0).should_grow(folder, job_ids, [placed]), "a job pending, a CPU free"


def test_without_ray_the_farm_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    timeline = write_clip_timeline(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed

    assert main(["timeline", str(timeline), "--dub-track", "DX es-419", "--executor", "ray"]) == 1
    assert capsys.readouterr().err == (
        'Error: --executor ray needs Ray, which is not installed; install it with: pip install "keydub[cluster]"\n'
    )
    assert not (tmp_path / "timeline_keydub").exists()

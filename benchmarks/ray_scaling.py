"""Render-farm scaling: the same timeline rendered in-process and on 1 and 2 Ray actors (tiny weights, CPU).

Prints, for each run, the wall clock of the batch, its speed-up over one actor, and the per-clip overhead of Ray
scheduling: for every clip, the time the driver waited for its render (from the claim to the result) minus the time
the engine spent rendering it on the actor, averaged. Ray itself is started once before the runs and is not timed;
each run starts its own actors, whose start-up (a new process, the engine's imports, the model load on the first
clip) is in the wall clock and printed apart.

Usage:

    python benchmarks/ray_scaling.py                       # 8 clips of 5 frames, 1 and 2 actors
    python benchmarks/ray_scaling.py --clips 8 --frames 8 --actors 1 2 4 --json
"""

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the tiny weights, the synthetic timeline and the stand-in landmarks of the tests

from ray_fixtures import TimedEngine, ray_runtime_env, tiny_render_options, write_clip_timeline  # noqa: E402
from tiny_models import TINY_FRAME_SIZE, save_tiny_weights  # noqa: E402

from keydub.plugin.cluster.executor import RayExecutor, RunningJob  # noqa: E402
from keydub.plugin.store import JobState, JobStore  # noqa: E402
from keydub.plugin.timeline.batch import render_timeline  # noqa: E402
from keydub.plugin.timeline.executors import InProcessExecutor  # noqa: E402
from keydub.plugin.timeline.plan import PlanOptions  # noqa: E402


class ClaimClock:
    """When the driver handed each job to an actor and when its result came back."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.claimed: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def __call__(self, job: RunningJob) -> None:
        now = time.perf_counter()
        if job.is_finished:
            self.finished[job.job_id] = now
        elif job.stage == "starting":
            self.claimed[job.job_id] = now


def time_batch(timeline: Path, out_dir: Path, options: PlanOptions, executor) -> float:
    began = time.perf_counter()
    run = render_timeline(timeline, out_dir, out_dir.with_suffix(".otio"), options, executor=executor)
    seconds = time.perf_counter() - began
    failed = [outcome.message for outcome in run.outcomes if outcome.state is not JobState.DONE]
    if failed:
        raise SystemExit(f"the batch did not render every clip: {failed[0]}")
    return seconds


def engine_seconds(out_dir: Path) -> dict[str, float]:
    """The engine's own render time of each job, as the actor reported it (`TimedEngine`)."""
    with JobStore.for_folder(out_dir, read_only=True) as store:
        return {record.job_id: record.result["engine_seconds"] for record in store.records()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8, help="clips in the timeline (default 8)")
    parser.add_argument("--frames", type=int, default=5, help="frames per clip, before handles (default 5)")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts to time (default 1 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        weights = save_tiny_weights(root / "weights", TINY_FRAME_SIZE)
        timeline = write_clip_timeline(root, clips=args.clips, frames=args.frames)
        options = PlanOptions(dub_tracks=("DX es-419",), handles=1, render_options=tiny_render_options(weights))

        local = time_batch(
            timeline, root / "local", options, InProcessExecutor(TimedEngine(str(root / "cache_local")))
        )
        rows = [
            {
                "executor": "in-process",
                "actors": 0,
                "wall_s": local,
                "engine_s": sum(engine_seconds(root / "local").values()),
            }
        ]
        ray.init(
            num_cpus=max(args.actors), include_dashboard=False, logging_level="ERROR", runtime_env=ray_runtime_env()
        )
        try:
            for count in args.actors:
                clock = ClaimClock()
                executor = RayExecutor(
                    gpus_per_job=0,
                    actors=count,
                    running_job=clock,
                    engine_factory=functools.partial(TimedEngine, str(root / f"cache_{count}")),
                )
                wall = time_batch(timeline, root / f"ray_{count}", options, executor)
                engine = engine_seconds(root / f"ray_{count}")
                overheads = [clock.finished[job] - clock.claimed[job] - engine[job] for job in engine]
                rows.append(
                    {
                        "executor": "ray",
                        "actors": count,
                        "wall_s": wall,
                        "engine_s": sum(engine.values()),
                        "first_claim_s": min(clock.claimed.values()) - clock.began,
                        "overhead_per_clip_s": statistics.mean(overheads),
                        "overhead_max_s": max(overheads),
                    }
                )
        finally:
            ray.shutdown()

    one_actor = next((row["wall_s"] for row in rows if row["actors"] == 1), None)
    for row in rows:
        row["speedup_vs_1_actor"] = one_actor / row["wall_s"] if one_actor else None
    report = {"clips": args.clips, "frames_per_clip": args.frames + 2, "runs": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.clips} clips of {args.frames + 2} frames (handles included), tiny weights, CPU")
    print(
        f"{'executor':<11}{'actors':>7}{'wall s':>9}{'engine s':>10}{'speed-up':>10}{'actor start s':>15}"
        f"{'overhead/clip s':>17}{'max s':>8}"
    )
    for row in rows:
        speedup = f"{row['speedup_vs_1_actor']:.2f}" if row["speedup_vs_1_actor"] else "-"
        start = f"{row['first_claim_s']:.2f}" if "first_claim_s" in row else "-"
        overhead = f"{row['overhead_per_clip_s']:.3f}" if "overhead_per_clip_s" in row else "-"
        largest = f"{row['overhead_max_s']:.3f}" if "overhead_max_s" in row else "-"
        print(
            f"{row['executor']:<11}{row['actors']:>7}{row['wall_s']:>9.2f}{row['engine_s']:>10.2f}{speedup:>10}"
            f"{start:>15}{overhead:>17}{largest:>8}"
        )


if __name__ == "__main__":
    main()

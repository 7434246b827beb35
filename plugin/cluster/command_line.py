"""The render farm on the command line: the options of `--executor ray`, the executor they describe, one progress
line per running job, and the node of each render in the `--json` report."""

import argparse
import sys
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from tqdm import tqdm

from keydub.plugin.cli._numbers import finite_number
from keydub.plugin.cluster.estimate import format_duration
from keydub.plugin.cluster.executor import RayExecutor, RunningJob
from keydub.plugin.cluster.path_map import PathMap, PathMapping


# A job asks for at most a whole 8-GPU box or so.
_gpu_count = finite_number(0, 64)


def add_farm_options(parser: argparse.ArgumentParser) -> None:
    """`--address`, `--gpus-per-job` and `--path-map`."""
    farm = parser.add_argument_group("render farm (--executor ray)")
    farm.add_argument(
        "--address",
        metavar="auto|HOST:PORT",
        help="the Ray cluster for --executor ray: 'auto' (the cluster this machine joined with ray "
        "start) or the head node's HOST:PORT (default: that cluster if this machine runs one, else "
        "a local Ray using this machine's GPUs)",
    )
    farm.add_argument(
        "--gpus-per-job",
        type=_gpu_count,
        default=1,
        metavar="N",
        help="GPUs each render actor holds (default: 1, one actor per GPU); 0 renders on CPUs",
    )
    farm.add_argument(
        "--path-map",
        action="append",
        default=[],
        type=path_mapping_type("--path-map"),
        metavar="FROM=TO",
        help="the folder FROM (as this machine and the timeline see it) is TO on the render nodes; "
        "repeat for several mounts",
    )


def ray_executor(args: argparse.Namespace) -> RayExecutor:
    """The Ray executor the options describe, drawing one progress line per running job (none with `--json`).

    Raises:
        `ClusterUnavailableError`: Ray is not installed (the message gives the install line).
    """
    return RayExecutor(
        args.address,
        path_map=PathMap(tuple(args.path_map)),
        running_job=JobLines(disable=args.json),
        gpus_per_job=args.gpus_per_job,
    )


def with_nodes(report: dict[str, Any], executor: RayExecutor) -> dict[str, Any]:
    """The `--json` report with, for each clip this run rendered, the node (and GPUs) that rendered it."""
    for clip in report["clips"]:
        where = executor.nodes.get(clip.get("job_id") or "")
        if where is not None and clip.get("was_rendered"):
            clip["node"], clip["gpus"] = where["node"], where["gpus"]
    return report


class JobLines:
    """One progress line per running farm job on stderr: clip, node, GPU, stage, done/total and ETA.

    Args:
        disable (`bool`, defaults to `False`): draw nothing (`--json`).
    """

    def __init__(self, disable: bool = False) -> None:
        self._disable = disable
        self._bars: dict[str, tqdm] = {}

    def __call__(self, event: RunningJob) -> None:
        bar = self._bars.get(event.job_id)
        if event.is_finished:
            if bar is not None:
                self._bars.pop(event.job_id).close()
            return
        if bar is None:
            bar = self._bars[event.job_id] = tqdm(
                total=event.total,
                file=sys.stderr,
                disable=self._disable,
                leave=False,
                bar_format="{desc} {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt}{postfix}",
            )
        gpus = f"GPU {','.join(event.gpus)}" if event.gpus else "CPU"
        bar.set_description_str(f"{event.name} on {event.node} {gpus}: {event.stage}", refresh=False)
        bar.total = event.total
        bar.n = event.done
        bar.set_postfix_str(
            f"ETA {format_duration(Fraction(event.eta_s))}" if event.eta_s is not None else "", refresh=False
        )
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def path_mapping_type(option: str) -> Callable[[str], PathMapping]:
    """An argparse `type` reading `FROM=TO` for `option` (`--path-map`, `--relink`)."""

    def parse(text: str) -> PathMapping:
        try:
            return PathMapping.parse(text, option)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return parse

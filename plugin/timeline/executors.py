"""Executors: who renders the jobs a timeline batch submitted to its output folder's queue.

The batch driver (`run_batch`) plans the timeline, submits every job that is not done yet to the folder's job
store, calls one executor's `drain`, and then reads each job's outcome back from the store. An executor decides
only *where* the drain loop (`keydub.plugin.worker.drain.Drainer`) runs:

- `InProcessExecutor`: in this process, with one engine (the default of `keydub timeline`);
- `WorkerExecutor`: in one `keydub worker` subprocess (`keydub timeline --worker`), its JSON-lines events relayed;
- `RayExecutor` (`keydub.plugin.cluster`) runs one drain loop per Ray actor (one per GPU) on the same folder.

Any executor follows `BatchExecutor`. Adding one is a new class plus an `ExecutorEntry` in `EXECUTORS`: its name
(what `--executor` takes), its help, its own options and how they build it; the commands that render a batch, the
driver, the store and the loop stay as they are.
"""

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keydub.core.cancel import CancelToken
from keydub.plugin.cluster import command_line as farm
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.worker.client import WorkerCrashedError, WorkerProcess, worker_command
from keydub.plugin.worker.drain import DEFAULT_LEASE_SECONDS, Drainer, EventSink, RenderEngine
from keydub.plugin.worker.protocol import Bye, Claimed, ShutdownCommand


logger = logging.getLogger(__name__)


class BatchExecutor(Protocol):
    """Renders the jobs a batch submitted to an output folder's queue.

    The contract, which `run_batch` relies on:

    - Jobs are claimed from the folder's store (`JobStore.claim_next` with a lease) and rendered by the drain loop
      (`Drainer`), wherever it runs, so each job is rendered once, its state changes are those of the loop, and a
      renderer that dies leaves its job to be reclaimed. An executor never writes job states itself.
    - Every event of the loop (`keydub.plugin.worker.protocol`: `claimed`, `progress`, `done`, `failed`,
      `cancelled`, `lost`, `idle`, ...) is passed to `events`, on the thread that called `drain`, in the order
      each renderer sent them.
    - `drain` returns when no job of `job_ids` is pending or running any more, or soon after `cancel` is set:
      then every render it started has stopped within one denoising step and its job is back to `pending` with
      no staged file, so a re-run finishes it.
    - It raises a `KeydubError` when it cannot render at all (a worker that will not start or crashed); the jobs
      stay in the store, resumable.
    """

    def drain(
        self, folder: OutputFolder, job_ids: Sequence[str], events: EventSink, cancel: CancelToken | None = None
    ) -> None:
        """Render the pending jobs `job_ids` of `folder`'s queue (see the class docstring for the contract).

        Args:
            folder (`OutputFolder`): the prepared output folder; its store holds the submitted jobs.
            job_ids (`Sequence[str]`): the jobs the batch submitted, in plan order.
            events (`EventSink`): receives every event of the drain loop.
            cancel (`CancelToken | None`): stops the drain (the job being rendered goes back to pending).
        """
        ...


class InProcessExecutor:
    """Renders in this process with one engine, models loaded once for the whole batch.

    Args:
        engine (`RenderEngine | None`): what renders; defaults to a `keydub.core.engine.Engine`, created on the
            first drain (so a dry run never loads the engine's imports).
        device (`str | None`): render every job on this device instead of its own `device` option.
        lease_seconds (`float`, defaults to 60): the lease on a claimed job.
    """

    def __init__(
        self,
        engine: RenderEngine | None = None,
        *,
        device: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self._engine = engine
        self.device = device
        self.lease_seconds = lease_seconds

    @property
    def engine(self) -> RenderEngine:
        if self._engine is None:
            from keydub.core.engine import Engine

            self._engine = Engine()
        return self._engine

    def drain(
        self, folder: OutputFolder, job_ids: Sequence[str], events: EventSink, cancel: CancelToken | None = None
    ) -> None:
        Drainer(
            folder,
            self.engine,
            events,
            lease_seconds=self.lease_seconds,
            device=self.device,
            job_ids=job_ids,
            stop=cancel,
        ).run()


class WorkerExecutor:
    """Renders in one `keydub worker --once` subprocess on the folder, relaying its events.

    The worker renders every pending job of the folder's queue (the batch's and any other client's) and exits
    when the queue is empty. Ctrl-C or `cancel` shuts it down: the job it renders goes back to pending.

    Args:
        device (`str | None`): the worker's `--device`.
        lease_seconds (`float | None`): the worker's `--lease`.
        engine (`str | None`): the worker's `--engine` (`module:factory`).
        env (`dict[str, str] | None`): the worker's environment; defaults to this process's.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        lease_seconds: float | None = None,
        engine: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.device = device
        self.lease_seconds = lease_seconds
        self.engine = engine
        self.env = env

    def drain(
        self, folder: OutputFolder, job_ids: Sequence[str], events: EventSink, cancel: CancelToken | None = None
    ) -> None:
        argv = worker_command(
            folder.root, once=True, device=self.device, lease_seconds=self.lease_seconds, engine=self.engine
        )
        said_bye = False
        current: str | None = None
        with WorkerProcess(argv, env=self.env) as worker:
            asked_to_stop = False
            while not worker.has_ended:
                if cancel is not None and cancel.is_cancelled and not asked_to_stop:
                    asked_to_stop = worker.send(ShutdownCommand())
                event = worker.next_event(timeout=0.05)
                if event is None:
                    continue
                current = event.job_id if isinstance(event, Claimed) else current
                said_bye = said_bye or isinstance(event, Bye)
                events(event)
        if not said_bye:
            during = f" while rendering {current!r}" if current else ""
            raise WorkerCrashedError(
                f"the worker {worker.pid} stopped unexpectedly (exit code {worker.returncode})"
                f"{during}; its job is kept: run the batch again to finish it"
            )


def _no_options(parser: argparse.ArgumentParser) -> None:
    """An executor without options of its own."""


def _report_as_is(report: dict[str, Any], executor: BatchExecutor) -> dict[str, Any]:
    return report


@dataclass(frozen=True)
class ExecutorEntry:
    """One way to render a batch, as `--executor NAME` offers it: its help, its options and how they build it.

    Calling an entry builds its executor with the defaults of its options (`EXECUTORS["worker"]()`).

    Args:
        help (`str`): what it does, for `--executor`'s help.
        build (`Callable[[argparse.Namespace], BatchExecutor]`): the executor of a parsed command line (the options
            `add_arguments` added, and `json`: no progress drawn on stderr).
        add_arguments (`Callable[[argparse.ArgumentParser], None]`): adds its own options (none by default).
        runs_locally (`bool`, defaults to `True`): it renders on this machine, so `--device` must name one of this
            machine's devices (a farm's devices are its nodes').
        report (`Callable[[dict, BatchExecutor], dict]`): the `--json` report with what only the executor knows
            (a farm: the node of each render); as it is by default.
    """

    help: str
    build: Callable[[argparse.Namespace], BatchExecutor]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_options
    runs_locally: bool = True
    report: Callable[[dict[str, Any], BatchExecutor], dict[str, Any]] = _report_as_is

    def __call__(self) -> BatchExecutor:
        parser = argparse.ArgumentParser(add_help=False)
        self.add_arguments(parser)
        return self.build(parser.parse_args([], namespace=argparse.Namespace(json=False)))


def executor_entry(name: str) -> ExecutorEntry:
    """The entry `name` of `EXECUTORS`; a plain zero-argument factory put there (a stand-in) is one without options."""
    entry = EXECUTORS[name]
    return entry if isinstance(entry, ExecutorEntry) else ExecutorEntry("", build=lambda args: entry())


# The executors of the commands that render a batch (`--executor NAME`); the first is the default.
EXECUTORS: dict[str, ExecutorEntry | Callable[[], BatchExecutor]] = {
    "in-process": ExecutorEntry("one engine in this process", build=lambda args: InProcessExecutor()),
    "worker": ExecutorEntry("a `keydub worker` process on the output folder", build=lambda args: WorkerExecutor()),
    "ray": ExecutorEntry(
        'Ray actors, one per GPU of a cluster (needs pip install "keydub[cluster]")',
        build=farm.ray_executor,
        add_arguments=farm.add_farm_options,
        runs_locally=False,
        report=farm.with_nodes,
    ),
}

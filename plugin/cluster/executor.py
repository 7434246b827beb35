"""The Ray executor of a timeline batch: one render actor per GPU of the cluster, the job store kept by the driver.

`RayExecutor` follows the batch's `BatchExecutor` contract. For each actor it runs the batch's own drain loop
(`keydub.plugin.worker.drain.Drainer`) on a thread of the driver, with an `ActorEngine` as its engine: the loop
claims, stages, places and records jobs exactly as the in-process batch does, and only the render itself
(`Engine.render`, models loaded once per actor) runs on the actor, on the devices Ray assigned to it. The SQLite
store therefore never leaves the driver's machine (SQLite must not be shared over a network mount), and the nodes
only need the media and the output folder on shared storage, mapped with `PathMap`.

Faults: an actor that dies under a job (SIGKILL, out of memory, node lost) hands the job back to the queue, where
another actor's loop claims it; after `RetryPolicy.max_attempts` losses the job fails with the reason. A dead
actor is replaced while the replacement budget lasts. Ctrl-C stops every loop: running renders are cancelled
within one denoising step (or their actors killed after `CANCEL_GRACE_S`), their jobs go back to pending and
their staged files are removed.

Growth: unless the actor count was given, a drain starts one more actor whenever the cluster grew (nodes joined
with `ray start --address`, an autoscaler added some) and has room for it, while jobs are still pending.
"""

import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from keydub.core.cancel import CancelToken
from keydub.core.errors import KeydubError, RenderInterruptedError
from keydub.core.progress import Progress, ProgressCallback
from keydub.core.render.request import RenderRequest, RenderResult
from keydub.plugin.cluster.actor import ACTOR_CONCURRENCY, EngineFactory, RenderActor
from keydub.plugin.cluster.errors import ClusterUnavailableError, import_ray
from keydub.plugin.cluster.path_map import PathMap
from keydub.plugin.cluster.retry import RetryPolicy
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.store import JobState, JobStore, current_owner
from keydub.plugin.worker.drain import Drainer, EventSink
from keydub.plugin.worker.protocol import Cancelled, Claimed, Done, Event, Failed, Lost, ProgressEvent


logger = logging.getLogger(__name__)

# How often an actor is asked for progress while it renders (and the driver looks for a cancel).
POLL_INTERVAL_S = 0.5
# After a cancel, how long a render gets to stop by itself (one denoising step) before its actor is killed.
CANCEL_GRACE_S = 15.0
# The lease of a job an actor renders. Each actor claims under its own name (so its staging folder is its own),
# which the queue cannot check for a live process: a driver killed outright leaves its jobs to the next run once
# their leases run out, so keep them short.
LEASE_SECONDS = 20.0
# How long an actor may wait to be placed and started before the drain gives up on it: a cluster whose free GPUs
# were taken by other work (or whose GPU node died) would otherwise leave the batch waiting for ever.
ACTOR_START_TIMEOUT_S = 300.0
# How often a drain whose actor count was not given looks whether the cluster has room for one more actor.
GROW_INTERVAL_S = 5.0


class ActorLostError(RenderInterruptedError):
    """The actor rendering a job died (killed, out of memory, node lost); the job goes back to the queue."""


class RemoteRenderError(KeydubError):
    """A render failed on a node; the message is the node's error."""


@dataclass(frozen=True)
class RunningJob:
    """A farm job as its per-job progress line shows it.

    Args:
        job_id (`str`), name (`str`): the job.
        node (`str`), pid (`int`), gpus (`tuple[str, ...]`): the actor rendering it.
        stage (`str`), done (`int`), total (`int`): its latest progress (`"starting"`, 0, 0 before any).
        eta_s (`float | None`): seconds left, when known.
        is_finished (`bool`): the job left its actor (done, failed, lost or cancelled): the line can go.
    """

    job_id: str
    name: str
    node: str
    pid: int
    gpus: tuple[str, ...]
    stage: str = "starting"
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    is_finished: bool = False


RunningJobCallback = Callable[[RunningJob], None]


class ActorEngine:
    """A `RenderEngine` whose renders run on one Ray actor: requests go out with node paths, results come back with
    the driver's, progress is polled, a cancel is passed on.

    Args:
        ray (`module`): the imported Ray.
        handle (`ActorHandle`): the `RenderActor`.
        path_map (`PathMap`): how the node sees the driver's paths.
        losses (`dict[str, int]`): actor losses per staged file name, shared by the executor's engines.
        retry (`RetryPolicy`): when a job lost too often fails.
        losses_lock (`threading.Lock`): guards `losses`.

    Once its actor is lost, the engine cancels `stop`, the token of the drain loop using it, so that the loop hands
    the job back and claims nothing more for a dead actor.
    """

    def __init__(
        self,
        ray: Any,
        handle: Any,
        path_map: PathMap,
        losses: dict[str, int],
        retry: RetryPolicy,
        losses_lock: threading.Lock,
        *,
        resources: str = "1 CPU",
    ) -> None:
        self.stop = CancelToken("the render actor was lost")
        self.resources = resources
        self._ray = ray
        self.handle = handle
        self._path_map = path_map
        self._losses = losses
        self._retry = retry
        self._losses_lock = losses_lock
        self.info: dict[str, Any] | None = None
        self.is_lost = False
        self.is_unplaced = False

    def describe(self) -> dict[str, Any]:
        """Where the actor runs (`node`, `address`, `pid`, `gpus`); waits for it to start, at most
        `ACTOR_START_TIMEOUT_S` and no longer than the drain runs.

        Raises:
            `ActorLostError`: it died before it could start, the drain stopped meanwhile, or no node could take it
                in time (then `is_unplaced` is set).
        """
        if self.info is None:
            reply_ref = self.handle.describe.remote()
            deadline = time.monotonic() + ACTOR_START_TIMEOUT_S
            while not self._ray.wait([reply_ref], timeout=POLL_INTERVAL_S)[0]:
                if self.stop.is_cancelled:  # not lost: told to stop (nothing left, or the batch was stopped)
                    self._ray.kill(self.handle)
                    raise ActorLostError("the drain stopped before a render actor was placed")
                if time.monotonic() > deadline:
                    self._ray.kill(self.handle)
                    self.is_lost, self.is_unplaced = True, True
                    self.stop.cancel()
                    raise ActorLostError(
                        f"no node of the Ray cluster took a render actor within {ACTOR_START_TIMEOUT_S:g} s (each "
                        f"asks for {self.resources}; free now: {_free_resources(self._ray)})"
                    )
            try:
                self.info = self._ray.get(reply_ref)
            except self._ray.exceptions.RayError as error:
                self.is_lost = True
                self.stop.cancel()
                raise ActorLostError(f"a render actor failed to start ({_first_line(error)})") from error
        return self.info

    def render(
        self, request: RenderRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> RenderResult:
        info = self.describe()
        call_id = uuid.uuid4().hex
        reply_ref = self.handle.render.remote(call_id, self._path_map.request_to_node(request))
        asked_to_stop_at: float | None = None
        while not self._ray.wait([reply_ref], timeout=POLL_INTERVAL_S)[0]:
            if cancel is not None and cancel.is_cancelled:
                # Asked again at every poll: a cancel that reaches the actor before its render began is a no-op.
                self.handle.cancel.remote(call_id)
                asked_to_stop_at = asked_to_stop_at or time.monotonic()
            if asked_to_stop_at is not None and time.monotonic() - asked_to_stop_at > CANCEL_GRACE_S:
                logger.warning(
                    "the render on %s did not stop within %.0f s; killing its actor", info["node"], CANCEL_GRACE_S
                )
                self._ray.kill(self.handle)
            self._relay_progress(progress)
        try:
            reply = self._ray.get(reply_ref)
        except self._ray.exceptions.RayTaskError as error:  # the actor turns every render error into a reply
            raise RemoteRenderError(f"the render actor on {info['node']} failed: {_first_line(error)}") from error
        except self._ray.exceptions.RayError as error:
            raise self._lost(request, info, _first_line(error)) from error
        if reply["status"] == "interrupted":
            raise RenderInterruptedError(reply["message"])
        if reply["status"] == "failed":
            raise RemoteRenderError(reply["message"])
        result = self._path_map.result_to_editor(reply["result"])
        # The driver names the file it staged; the node's name for it is the same file on the shared storage.
        return replace(result, output=request.output)

    def _relay_progress(self, progress: ProgressCallback | None) -> None:
        if progress is None:
            return
        try:
            event = self._ray.get(self.handle.progress.remote(), timeout=POLL_INTERVAL_S * 4)
        except self._ray.exceptions.RayError:
            return  # a dead actor is told by the render's reply; a busy one answers next time
        if event is not None:
            progress(Progress(event["stage"], event["done"], event["total"], unit=event["unit"]))

    def _lost(self, request: RenderRequest, info: dict[str, Any], reason: str) -> KeydubError:
        """The error for a job whose actor died: back to the queue, or failed once it was lost too often."""
        self.is_lost = True
        self.stop.cancel()
        with self._losses_lock:
            losses = self._losses[request.output.name] = self._losses.get(request.output.name, 0) + 1
        reason = f"{reason} (node {info['node']})"
        if self._retry.should_retry(losses):
            logger.warning(
                "the render actor on %s died under %s; the job goes back to the queue: %s",
                info["node"],
                request.output.name,
                reason,
            )
            return ActorLostError(f"its render node was lost: {reason}")
        return RemoteRenderError(self._retry.give_up_message(losses, reason))


class RayExecutor:
    """Renders a batch's queued jobs on Ray actors, one per GPU (or a number of CPU actors), each holding one
    Engine; the driver keeps the job store. A `BatchExecutor`.

    Args:
        address (`str | None`): the cluster: `"auto"` joins the cluster this machine belongs to (`ray start`),
            `"HOST:PORT"` a head node; `None` does as Ray does: `RAY_ADDRESS`, else the cluster this machine
            started, else a new local Ray on this machine (every GPU of it). Ignored when Ray is already
            initialised in this process.
        gpus_per_job (`float`, defaults to 1): GPUs each actor holds; 0 renders on CPUs.
        actors (`int | None`): how many actors to start, a fixed count; defaults to the cluster's GPUs divided by
            `gpus_per_job` (with `gpus_per_job=0`: its CPUs divided by `cpus_per_actor`), never more than the
            jobs, and more as the cluster grows during the drain (`GROW_INTERVAL_S`).
        cpus_per_actor (`float`, defaults to 1): CPUs each actor holds (decoding, landmarks, encoding).
        path_map (`PathMap | None`): how the nodes see the driver's paths.
        retry (`RetryPolicy | None`): how often a job may lose its actor.
        engine_factory (`EngineFactory | None`): builds each actor's engine, on the node; defaults to
            `keydub.core.engine.Engine`. Must be importable there.
        running_job (`RunningJobCallback | None`): receives every change of a running job, for progress lines;
            then the stage progress of each job goes there only (the batch still hears of claims and endings).

    Raises:
        `ClusterUnavailableError`: Ray is not installed.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        gpus_per_job: float = 1,
        actors: int | None = None,
        cpus_per_actor: float = 1,
        path_map: PathMap | None = None,
        retry: RetryPolicy | None = None,
        engine_factory: EngineFactory | None = None,
        running_job: RunningJobCallback | None = None,
    ) -> None:
        self._ray = import_ray()
        self.address = address
        self.gpus_per_job = gpus_per_job
        self.actors = actors
        self.cpus_per_actor = cpus_per_actor
        self.path_map = path_map or PathMap()
        self.retry = retry or RetryPolicy()
        self._engine_factory = engine_factory
        self._running_job = running_job
        self.nodes: dict[str, dict[str, Any]] = {}
        """Where each job of the last `drain` was rendered: job id -> `node`, `address`, `pid`, `gpus`."""
        self._names: dict[str, str] = {}

    def actor_count(self, jobs: int) -> int:
        """How many actors a drain of `jobs` jobs starts on the connected cluster.

        Raises:
            `ClusterUnavailableError`: the cluster has no GPU for a job asking for one.
        """
        if self.actors is not None:
            return max(1, min(self.actors, jobs))
        resources = self._ray.cluster_resources()
        count = self._actors_fitting(resources)
        if count == 0 and self.gpus_per_job > 0:
            raise ClusterUnavailableError(
                f"the Ray cluster has {resources.get('GPU', 0):g} GPUs and each job asks for "
                f"{self.gpus_per_job:g}; add GPU nodes (ray start --address) or "
                "pass --gpus-per-job 0 to render on CPUs"
            )
        return max(1, min(count, jobs))

    def _actors_fitting(self, resources: dict[str, float]) -> int:
        """How many actors the cluster's `resources` (its totals) hold: its GPUs, or its CPUs for CPU actors."""
        if self.gpus_per_job > 0:
            return int(resources.get("GPU", 0) // self.gpus_per_job)
        return int(resources.get("CPU", 1) // self.cpus_per_actor)

    def should_grow(self, folder: OutputFolder, job_ids: Sequence[str], loops: "Sequence[_ActorLoop]") -> bool:
        """Whether a drain running `loops` should start one more actor now.

        It does when the actor count was not given, no actor waits to be placed (until it is, the cluster's room
        is not known), the cluster holds more actors than run and has the resources of one more free (so that it
        does not start only to wait for work holding them), and jobs are still pending, never for more actors
        than pending and running jobs.

        Args:
            folder (`OutputFolder`), job_ids (`Sequence[str]`): the drain's queue and jobs.
            loops (`Sequence[_ActorLoop]`): the drain's loops, ended ones included.
        """
        if self.actors is not None:
            return False
        live = [loop for loop in loops if loop.is_alive()]
        if any(loop.engine.info is None for loop in live):
            return False
        free = self._ray.available_resources()
        has_room = free.get("GPU", 0) >= self.gpus_per_job and free.get("CPU", 0) >= self.cpus_per_actor
        if not has_room or self._actors_fitting(self._ray.cluster_resources()) <= len(live):
            return False
        states = _job_states(folder, job_ids)
        return states[JobState.PENDING] > 0 and len(live) < states[JobState.PENDING] + states[JobState.RUNNING]

    def drain(
        self, folder: OutputFolder, job_ids: Sequence[str], events: EventSink, cancel: CancelToken | None = None
    ) -> None:
        """Render the pending jobs `job_ids` of `folder`'s queue on the cluster (see `BatchExecutor`).

        Raises:
            `ClusterUnavailableError`: Ray cannot be started or reached, or has no GPU.
            `KeyboardInterrupt`: after every running job went back to pending.
        """
        started_ray = self._connect()
        inbox: queue.Queue[tuple[ActorEngine, Event | None]] = queue.Queue()
        losses: dict[str, int] = {}
        losses_lock = threading.Lock()
        loops: list[_ActorLoop] = []
        self.nodes = {}

        def start_loop() -> None:
            engine = ActorEngine(
                self._ray,
                self._start_actor(),
                self.path_map,
                losses,
                self.retry,
                losses_lock,
                resources=self._actor_resources(),
            )
            owner = f"{current_owner()}+ray{len(loops) + 1}"
            loops.append(_ActorLoop(folder, engine, job_ids, inbox, owner))

        unplaced: ActorEngine | None = None
        try:
            count = self.actor_count(len(job_ids))
            # A dead actor is replaced; the bound stops a clip that kills every actor from starting them forever.
            # Each actor the farm grows by adds its share.
            replacements = count * (self.retry.max_attempts - 1)
            for _ in range(count):
                start_loop()
            running = count
            next_look = time.monotonic() + GROW_INTERVAL_S
            while running:
                if cancel is not None and cancel.is_cancelled:
                    self._stop(loops)
                elif time.monotonic() >= next_look:
                    next_look = time.monotonic() + GROW_INTERVAL_S
                    waiting = [loop for loop in loops if loop.is_alive() and loop.engine.info is None]
                    if waiting and not _job_states(folder, job_ids)[JobState.PENDING]:
                        # The placed actors took every job: an actor still waiting for a node has nothing to do.
                        self._stop(waiting)
                    elif unplaced is None and self.should_grow(folder, job_ids, loops):
                        replacements += self.retry.max_attempts - 1
                        start_loop()
                        running += 1
                        logger.info("the cluster grew: %d render actors now", running)
                try:
                    engine, event = inbox.get(timeout=POLL_INTERVAL_S)
                except queue.Empty:
                    continue
                if event is not None:
                    self._relay(engine, event, events)
                    continue
                # A loop ended: the queue is empty, the batch was stopped, or its actor died (then it is replaced,
                # and the new actor's loop ends at once if nothing is left). An actor no node could take is not,
                # and the farm grows no more: another would wait just as long.
                running -= 1
                if engine.is_unplaced:
                    unplaced = engine
                elif engine.is_lost and replacements > 0 and not (cancel is not None and cancel.is_cancelled):
                    replacements -= 1
                    start_loop()
                    running += 1
            if unplaced is not None:
                self._refuse_if_left_pending(folder, job_ids, unplaced)
        except KeyboardInterrupt:
            self._stop(loops)
            self._wait_for_loops(loops)
            raise
        finally:
            for loop in loops:
                self._ray.kill(loop.engine.handle)
            if started_ray:
                self._ray.shutdown()
            while not inbox.empty():  # what the loops said as they stopped
                engine, event = inbox.get()
                if event is not None:
                    self._relay(engine, event, events)

    def _connect(self) -> bool:
        """Start or join Ray unless it already runs in this process; whether this call started it."""
        if self._ray.is_initialized():
            return False
        try:
            self._ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"at {self.address}" if self.address else "on this machine"
            raise ClusterUnavailableError(
                f"cannot start or reach the Ray cluster {where} ({_first_line(error)}); "
                "start one with `ray start --head` and pass its address with --address"
            ) from error
        return True

    def _actor_resources(self) -> str:
        """What each actor asks the cluster for, in words."""
        gpus = f"{self.gpus_per_job:g} GPU{'s' if self.gpus_per_job != 1 else ''} and " if self.gpus_per_job else ""
        return f"{gpus}{self.cpus_per_actor:g} CPU{'s' if self.cpus_per_actor != 1 else ''}"

    def _refuse_if_left_pending(self, folder: OutputFolder, job_ids: Sequence[str], unplaced: ActorEngine) -> None:
        """After the loops ended: when jobs are still pending because actors could not be placed, say so."""
        pending = _job_states(folder, job_ids)[JobState.PENDING]
        if pending:
            raise ClusterUnavailableError(
                f"{pending} clip(s) were not rendered: no node of the Ray cluster took a render actor within "
                f"{ACTOR_START_TIMEOUT_S:g} s (each asks for {unplaced.resources}; free now: "
                f"{_free_resources(self._ray)}); they stay pending: run the batch again when the cluster has "
                "room, or ask for fewer GPUs per job (--gpus-per-job)"
            )

    def _start_actor(self) -> Any:
        remote_class = self._ray.remote(RenderActor).options(
            num_gpus=float(self.gpus_per_job),
            num_cpus=float(self.cpus_per_actor),
            max_concurrency=ACTOR_CONCURRENCY,
            max_restarts=0,
        )
        return remote_class.remote(self._engine_factory)

    def _relay(self, engine: ActorEngine, event: Event, events: EventSink) -> None:
        """Pass a loop's event on, note where each job renders, and update its progress line. A job's stages go to
        its own line when there are lines, not on: jobs render side by side, and on the batch's one bar their
        stages would take turns."""
        if self._running_job is None or not isinstance(event, ProgressEvent):
            events(event)
        job_id = getattr(event, "job_id", None)
        if job_id is None or engine.info is None:
            return
        info = engine.info

        def line(name: str, **state: Any) -> None:
            self._line(RunningJob(job_id, name, info["node"], info["pid"], tuple(info["gpus"]), **state))

        if isinstance(event, Claimed):
            self.nodes[job_id] = dict(info)
            line(event.name)
        elif isinstance(event, ProgressEvent):
            line(
                self._names.get(job_id, ""),
                stage=event.stage,
                done=event.done,
                total=event.total,
                eta_s=event.eta_seconds,
            )
        elif isinstance(event, (Done, Failed, Cancelled, Lost)):
            line(self._names.get(job_id, ""), stage=type(event).__name__.lower(), is_finished=True)

    def _line(self, job: RunningJob) -> None:
        self._names[job.job_id] = job.name
        if self._running_job is not None:
            self._running_job(job)

    @staticmethod
    def _stop(loops: "list[_ActorLoop]") -> None:
        for loop in loops:
            loop.drainer.stop()

    def _wait_for_loops(self, loops: "list[_ActorLoop]") -> None:
        """After Ctrl-C: let the loops hand their jobs back (a second Ctrl-C kills the actors at once)."""
        deadline = time.monotonic() + CANCEL_GRACE_S + POLL_INTERVAL_S * 4
        try:
            for loop in loops:
                loop.join(max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            pass
        for loop in loops:
            if loop.is_alive():
                self._ray.kill(loop.engine.handle)
        for loop in loops:
            loop.join(CANCEL_GRACE_S)


class _ActorLoop(threading.Thread):
    """The batch's drain loop for one actor, on a driver thread, claiming as `owner`; its events go to the
    executor's inbox."""

    def __init__(
        self,
        folder: OutputFolder,
        engine: ActorEngine,
        job_ids: Sequence[str],
        inbox: "queue.Queue[tuple[ActorEngine, Event | None]]",
        owner: str,
    ) -> None:
        super().__init__(name=f"keydub-{owner}", daemon=True)
        self.engine = engine
        self._inbox = inbox
        self.drainer = Drainer(
            folder,
            engine,
            lambda event: inbox.put((engine, event)),
            owner=owner,
            lease_seconds=LEASE_SECONDS,
            job_ids=job_ids,
            stop=engine.stop,
        )
        self.start()

    def run(self) -> None:
        try:
            self.engine.describe()  # the actor starts before the loop claims a job for it
            self.drainer.run()
        except ActorLostError as error:
            if self.engine.is_lost:
                logger.warning("%s", error)
        except Exception:  # a loop must end with its message to the executor, whatever happened
            logger.exception("the drain loop of a render actor stopped")
        finally:
            self._inbox.put((self.engine, None))


def _job_states(folder: OutputFolder, job_ids: Sequence[str]) -> Counter[JobState]:
    """How many of the jobs `job_ids` of `folder`'s queue are in each state."""
    with JobStore(folder.store_path, read_only=True) as store:
        return Counter(record.state for job_id in job_ids if (record := store.get(job_id)) is not None)


def _free_resources(ray: Any) -> str:
    """The cluster's free GPUs and CPUs, in words."""
    try:
        free = ray.available_resources()
    except Exception:  # the message must not fail because the cluster went away
        return "unknown"
    return f"{free.get('GPU', 0):g} GPUs, {free.get('CPU', 0):g} CPUs"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

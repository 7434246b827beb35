"""The render actor: one per GPU of the farm, holding one Engine so the models load once per actor, not per clip.

The class is plain Python; `RayExecutor` turns it into a Ray actor, so this module imports without Ray. Requests
and results cross the wire as plain data (`RenderRequest.to_dict`), with paths already as the node sees them.

The actor runs two calls at a time: `render` on one thread, and `progress` / `cancel` from the driver on the
other, so the driver can follow and stop a render while it runs.
"""

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from keydub.core.errors import KeydubError, RenderInterruptedError
from keydub.core.render.request import RenderRequest
from keydub.plugin.cluster.errors import NodeAccessError


logger = logging.getLogger(__name__)

# `render` plus one driver call (progress or cancel) at a time.
ACTOR_CONCURRENCY = 2

EngineFactory = Callable[[], Any]


def default_engine() -> Any:
    """The Engine every client renders with (imported on the node, where torch and the models live)."""
    from keydub.core.engine import Engine

    return Engine()


class RenderActor:
    """Renders requests on the devices Ray assigned to this actor, with one Engine for its whole life.

    Args:
        engine_factory (`EngineFactory | None`): builds the engine (anything with `render(request, progress=,
            cancel=)`), called on the node at the first render; defaults to `keydub.core.engine.Engine`.
    """

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        self._engine_factory = engine_factory or default_engine
        self._engine: Any = None
        self._lock = threading.Lock()
        self._call_id: str | None = None
        self._cancel: Any = None
        self._progress: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """Where this actor runs: node name and address, process id and the GPUs Ray gave it."""
        import ray

        return {
            "node": socket.gethostname(),
            "address": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "gpus": [str(gpu) for gpu in ray.get_gpu_ids()],
        }

    def render(self, call_id: str, request_data: dict[str, Any]) -> dict[str, Any]:
        """Render one request (node paths) and say how it went, as plain data.

        Args:
            call_id (`str`): names this render for `progress` and `cancel`.
            request_data (`dict`): the request as `RenderRequest.to_dict`, with the node's paths.

        Returns:
            `dict`: `{"status": "done", "result": {output, frame_count, passed_through, report}}`, or
            `{"status": "failed" | "interrupted", "message": ...}`. Only the loss of the actor itself (killed, out
            of memory, node lost) reaches the driver as a Ray error, which is what makes it retryable.
        """
        from keydub.core.cancel import CancelToken

        request = _on_assigned_devices(RenderRequest.from_dict(request_data), self.describe()["gpus"])
        token = CancelToken()
        with self._lock:
            self._call_id, self._cancel, self._progress = call_id, token, None
        try:
            check_node_access(request)
            if self._engine is None:
                self._engine = self._engine_factory()
            result = self._engine.render(request, progress=lambda update: self._record(call_id, update), cancel=token)
        except RenderInterruptedError as error:
            request.output.unlink(missing_ok=True)
            return {"status": "interrupted", "message": str(error)}
        except KeydubError as error:
            request.output.unlink(missing_ok=True)
            return {"status": "failed", "message": str(error)}
        except Exception as error:  # an engine bug must cost one clip, not the actor and the jobs behind it
            logger.exception("rendering %s failed", request.video)
            request.output.unlink(missing_ok=True)
            return {
                "status": "failed",
                "message": f"internal error {type(error).__name__}: {error} on node "
                f"{socket.gethostname()} (please report it with that node's log)",
            }
        finally:
            with self._lock:
                self._call_id, self._cancel = None, None
        return {
            "status": "done",
            "result": {
                "output": str(result.output),
                "frame_count": result.frame_count,
                "passed_through": [list(item) for item in result.passed_through],
                "report": result.report,
            },
        }

    def progress(self) -> dict[str, Any] | None:
        """The latest progress event of the running render (`call_id`, `stage`, `done`, `total`, `unit`), if any."""
        with self._lock:
            return dict(self._progress) if self._progress is not None and self._call_id is not None else None

    def cancel(self, call_id: str) -> bool:
        """Stop the render `call_id` if it is the one running (it returns `interrupted` within one denoising step);
        `False` when it is not running (yet)."""
        with self._lock:
            if self._call_id != call_id or self._cancel is None:
                return False
            self._cancel.cancel()
            return True

    def _record(self, call_id: str, update: Any) -> None:
        with self._lock:
            self._progress = {
                "call_id": call_id,
                "stage": update.stage,
                "done": update.done,
                "total": update.total,
                "unit": update.unit,
            }


def check_node_access(request: RenderRequest) -> None:
    """Check, before any GPU work, that this node can read the request's sources and write its output folder.

    Raises:
        `NodeAccessError`: naming the path and the node.
    """
    node = socket.gethostname()
    hint = "mount the shared storage there, or map the path with --path-map FROM=TO"
    reads = [("source", request.video), ("dub audio", request.audio), ("original audio", request.original_audio)]
    reads += [(f"dub audio of {s.name or 'a speaker'}", s.audio) for s in request.speakers]
    for what, path in reads:
        if path is None:
            continue
        if not os.access(path, os.R_OK) or not path.is_file():
            raise NodeAccessError(f"render node {node} cannot read the {what} {path}; {hint}")
    folder = request.output.parent
    try:
        # Creating a file is the only test that holds on network mounts, where permission bits can lie.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".keydub-probe-"):
            pass
    except OSError as error:
        raise NodeAccessError(
            f"render node {node} cannot write the output folder {folder} ({error.strerror or error}); {hint}"
        ) from error


def _on_assigned_devices(request: RenderRequest, gpus: list[str]) -> RenderRequest:
    """A GPU request runs on the GPU Ray assigned (Ray limits `CUDA_VISIBLE_DEVICES` to it, so it is `cuda`)."""
    if gpus and (request.options.device in ("auto", "cuda") or request.options.device.startswith("cuda:")):
        return request.with_options(device="cuda")
    return request

"""The render farm: a timeline batch rendered on Ray actors, one per GPU, over storage the nodes share.

Public API:
    RayExecutor: the batch executor (`render_timeline(..., executor=RayExecutor(...))`, `--executor ray`).
    PathMap, PathMapping: the editor's paths as the render nodes see them (`--path-map FROM=TO`).
    RetryPolicy: how often a job may lose its actor before it fails.
    estimate_cost, CostEstimate, DEFAULT_THROUGHPUT_S_PER_S: the GPU time of what is left to render.
    ClusterUnavailableError, NodeAccessError: Ray missing or unreachable; a node without the shared storage.

Ray itself is imported only when a `RayExecutor` is created, so this package imports without it.
"""

from keydub.plugin.cluster.errors import ClusterUnavailableError, NodeAccessError
from keydub.plugin.cluster.estimate import DEFAULT_THROUGHPUT_S_PER_S, CostEstimate, estimate_cost
from keydub.plugin.cluster.executor import RayExecutor
from keydub.plugin.cluster.path_map import PathMap, PathMapping
from keydub.plugin.cluster.retry import RetryPolicy


__all__ = [
    "DEFAULT_THROUGHPUT_S_PER_S",
    "ClusterUnavailableError",
    "CostEstimate",
    "NodeAccessError",
    "PathMap",
    "PathMapping",
    "RayExecutor",
    "RetryPolicy",
    "estimate_cost",
]

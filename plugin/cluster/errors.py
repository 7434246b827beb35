"""The errors of the render farm: Ray missing or unreachable, and a node that cannot reach the shared storage."""

from types import ModuleType

from keydub.core.errors import KeydubError


# The install line every "Ray is missing" message gives.
INSTALL_HINT = 'pip install "keydub[cluster]"'


class ClusterUnavailableError(KeydubError):
    """Ray is not installed, the cluster cannot be reached, or it has none of the resources a job asks for."""


class NodeAccessError(KeydubError):
    """A render node cannot read a job's sources or write its output folder (a missing mount or `--path-map`)."""


def import_ray() -> ModuleType:
    """Import Ray, or raise `ClusterUnavailableError` with the install line."""
    try:
        import ray
    except ImportError as error:
        raise ClusterUnavailableError(
            f"--executor ray needs Ray, which is not installed; install it with: {INSTALL_HINT}"
        ) from error
    return ray

"""The errors of the Resolve bridge: Resolve cannot be reached, or a call of its API did not do what it should."""

from keydub.core.errors import KeydubError


class ResolveUnavailableError(KeydubError):
    """Keydub cannot talk to DaVinci Resolve: not installed, not running, external scripting off, free edition,
    the scripting library not loadable, no project open, or Resolve not answering.

    Args:
        message (`str`): what happened and the fix.
        cause (`str`): a short machine-readable cause (`"not_installed"`, `"library"`, `"not_running"`,
            `"refused"`, `"timeout"`, `"no_database"`, `"no_project"`, `"no_timeline"`).
    """

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class ResolveCallError(KeydubError):
    """A call of Resolve's API failed (it fails silently, with `False`, `None` or `[]`), or what it wrote did not
    read back as written."""

"""The project and timelines of a connected Resolve, and `probe`: what Keydub can reach, or why not."""

from dataclasses import asdict, dataclass
from typing import Any

from keydub.plugin.resolve.checks import as_list, require, require_int, require_str
from keydub.plugin.resolve.connection import DEFAULT_TIMEOUT, FIX_FREE_EDITION, ScriptPaths, connect
from keydub.plugin.resolve.errors import ResolveUnavailableError
from keydub.plugin.resolve.version import ResolveVersion, require_supported


_RETRY = "check that Resolve is responsive (no dialog open) and try again"


@dataclass(frozen=True)
class BridgeStatus:
    """What `probe` found.

    Args:
        product (`str`): e.g. `"DaVinci Resolve Studio"`.
        edition (`str`): `"Studio"` or `"free"`.
        version (`str`): e.g. `"20.2.1.6"`.
        problem (`str | None`): why Keydub cannot use this Resolve (e.g. older than 19.0.2), with what to do.
        database (`str`): the project database's name.
        project (`str | None`): the open project.
        timeline (`str | None`): the project's current timeline.
        timelines (`tuple[str, ...]`): every timeline of the project.
    """

    product: str
    edition: str
    version: str
    problem: str | None
    database: str
    project: str | None
    timeline: str | None
    timelines: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timelines"] = list(self.timelines)
        return data

    def summary(self) -> str:
        """One line for people."""
        where = f"project {self.project!r}" if self.project else "no project open"
        current = f", current timeline {self.timeline!r}" if self.timeline else ", no current timeline"
        line = f"{self.product} {self.version} ({self.edition}), database {self.database!r}, {where}{current}"
        return line if self.problem is None else f"{line}. Keydub cannot use it: {self.problem}"

    @property
    def is_usable(self) -> bool:
        return self.problem is None


def probe(resolve: Any = None, *, paths: ScriptPaths | None = None, timeout: float = DEFAULT_TIMEOUT) -> BridgeStatus:
    """Connect to Resolve (unless given) and report product, edition, version, project and timeline.

    Args:
        resolve (`Any`): a `Resolve` object already connected (e.g. the one a menu script is given); `None` to
            connect with `connect()`.
        paths (`ScriptPaths | None`), timeout (`float`): see `connect`.

    Raises:
        `ResolveUnavailableError`: Resolve cannot be reached; the message names the cause and the fix.
    """
    resolve = resolve if resolve is not None else connect(paths, timeout)
    product = require_str(resolve.GetProductName(), "report its product name", _RETRY)
    answer = resolve.GetVersion()
    version = ".".join(str(part) for part in as_list(answer, "report its version", _RETRY) if part not in ("", None))
    problem = None
    try:
        require_supported(ResolveVersion.parse(answer), product)
    except ResolveUnavailableError as error:
        problem = str(error)
    if "Studio" not in product:
        problem = f"this is {product}, whose scripting cannot edit timelines from Keydub; {FIX_FREE_EDITION}"
    manager = require(resolve.GetProjectManager(), "give its project manager", _RETRY)
    database = require(manager.GetCurrentDatabase(), "report its project database", _RETRY)
    project = manager.GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project is not None else None
    return BridgeStatus(
        product=product,
        edition="Studio" if "Studio" in product else "free",
        version=version,
        problem=problem,
        database=str(database.get("DbName", "")) if isinstance(database, dict) else str(database),
        project=project.GetName() if project is not None else None,
        timeline=timeline.GetName() if timeline is not None else None,
        timelines=tuple(timeline_names(project)) if project is not None else (),
    )


def current_project(resolve: Any, in_app: bool = False) -> Any:
    """The open project.

    Args:
        resolve (`Any`): the connected `Resolve`.
        in_app (`bool`): `resolve` is the object a menu script was given inside Resolve, where the free edition
            runs scripts too (from outside, only Studio answers).

    Raises:
        `ResolveUnavailableError`: no project is open (cause `"no_project"`), or the free edition from outside.
    """
    product = resolve.GetProductName()
    if not in_app and isinstance(product, str) and "Studio" not in product:
        raise ResolveUnavailableError(
            f"this is {product}, whose scripting cannot edit timelines from Keydub; {FIX_FREE_EDITION}",
            cause="refused",
        )
    manager = require(resolve.GetProjectManager(), "give its project manager", _RETRY)
    project = manager.GetCurrentProject()
    if project is None:
        raise ResolveUnavailableError(
            "no project is open in DaVinci Resolve; open the project in the Project Manager and try again",
            cause="no_project",
        )
    return project


def timelines(project: Any) -> list[Any]:
    """Every timeline of `project`, in the project's order (indices are 1-based)."""
    count = require_int(project.GetTimelineCount(), "count the project's timelines", _RETRY)
    return [
        require(project.GetTimelineByIndex(index), f"give timeline {index} of {count}", _RETRY)
        for index in range(1, count + 1)
    ]


def timeline_names(project: Any) -> list[str]:
    return [timeline.GetName() for timeline in timelines(project)]


def find_timeline(project: Any, name: str | None = None) -> Any:
    """The timeline named `name`, or the current one.

    Raises:
        `ResolveUnavailableError`: no timeline has that name (the message lists them), or none is current.
    """
    if name is None:
        timeline = project.GetCurrentTimeline()
        if timeline is None:
            raise ResolveUnavailableError(
                f"project {project.GetName()!r} has no current timeline; open a timeline "
                "in Resolve or name one with --timeline",
                cause="no_timeline",
            )
        return timeline
    every = timelines(project)
    for timeline in every:
        if timeline.GetName() == name:
            return timeline
    names = ", ".join(repr(timeline.GetName()) for timeline in every) or "none"
    raise ResolveUnavailableError(
        f"project {project.GetName()!r} has no timeline named {name!r}; timelines: {names}", cause="no_timeline"
    )

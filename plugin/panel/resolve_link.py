"""The panel's way back to DaVinci Resolve: Send to Resolve, Qt-free.

A panel opened on a Resolve timeline (`keydub panel --resolve`, or the Workspace > Scripts > Keydub menu entry)
knows its project, timeline and output folder (`ResolveTarget`; the folder is `keydub resolve render`'s, so both
share one job store). Send to Resolve writes the finished renders back with `apply` (a new track, takes, or a copy
of the timeline). When Keydub cannot reach Resolve from outside (external scripting off, the free edition, Resolve
closed), the result is saved in the output folder for the "Keydub - Import renders" menu entry instead, and the
outcome says so.

Every Resolve call of the panel runs on the one thread a `ResolveLink` owns: Resolve's scripting objects are not
meant for concurrent callers, and some calls block; the window never waits on them.
"""

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.plugin.resolve import ApplyReport, ResolveUnavailableError, apply, connect


if TYPE_CHECKING:
    import opentimelineio as otio

# Reasons Keydub cannot talk to Resolve from outside that the menu entry, running inside Resolve, does not have.
_MENU_ROUTE_CAUSES = frozenset({"not_installed", "library", "not_running", "refused", "timeout"})
IMPORT_MENU = "Workspace > Scripts > Keydub - Import renders"


@dataclass(frozen=True)
class ResolveTarget:
    """The Resolve timeline a panel was opened on: `project` and `timeline` names, and the output folder."""

    project: str
    timeline: str
    out_dir: Path


@dataclass(frozen=True)
class SendOutcome:
    """What Send to Resolve did: applied (`report`), or saved for the menu entry (`saved`, with the `reason`
    Resolve could not be reached)."""

    report: ApplyReport | None = None
    saved: Path | None = None
    reason: str | None = None

    def headline(self) -> str:
        """One line for the status bar."""
        if self.report is not None:
            kinds = {"track": "on a new track", "takes": "as takes", "duplicate": "on a copy of the timeline"}
            return f"Sent to Resolve's timeline {self.report.timeline!r} {kinds[self.report.strategy]}"
        return f"Saved for Resolve: choose {IMPORT_MENU} there"

    def details(self) -> list[str]:
        """What was done, or why Resolve could not be reached and what to do, a line each."""
        if self.report is not None:
            return self.report.details()
        return [
            f"Keydub could not reach Resolve: {self.reason}",
            f"The renders are saved in {self.saved}; in Resolve, choose {IMPORT_MENU} to place them.",
        ]


class ResolveLink:
    """Sends results to the Resolve timeline of `target`, on a thread of its own.

    Args:
        target (`ResolveTarget`): where the results go.
        connect_resolve (`Callable[[], Any]`): returns a connected `Resolve` (defaults to the documented
            connection).
    """

    def __init__(self, target: ResolveTarget, connect_resolve: Callable[[], Any] = connect) -> None:
        self.target = target
        self._connect = connect_resolve
        self._resolve: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keydub-resolve")

    def send(self, result: "otio.schema.Timeline", strategy: str) -> "Future[SendOutcome]":
        """Write `result` (a Keydub result timeline) back with `strategy` (`track`, `takes` or `duplicate`)."""
        return self._thread.submit(self._send, result, strategy)

    def _send(self, result: "otio.schema.Timeline", strategy: str) -> SendOutcome:
        from keydub.plugin.resolve.handoff import save_for_import

        try:
            if self._resolve is None:
                self._resolve = self._connect()
            return SendOutcome(report=apply(result, strategy, timeline=self.target.timeline, resolve=self._resolve))
        except ResolveUnavailableError as error:
            self._resolve = None
            if error.cause not in _MENU_ROUTE_CAUSES:
                raise
            return SendOutcome(saved=save_for_import(result, self.target.out_dir, strategy), reason=str(error))

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

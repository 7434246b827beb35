"""The events of the panel's Qt-free controllers, typed as the worker protocol's events are.

A controller is an `EventSource`: callbacks subscribe by event class and receive the event object. The controller
runs without a `QApplication`; the Qt side (`keydub.ui.events.EventBridge`) delivers its events to slots on the
GUI thread.

- `PanelController` emits `ClipsChanged`, `CurrentChanged`, `ClipChanged` and `OptionsChanged`;
- `QueueController` emits `QueueChanged` and `WorkerChanged`;
- `OccluderEditor` emits `ObjectsChanged`, `MasksChanged` and `TrackingProgressed` (the last two from the thread
  that runs the model);
- `CastEditor` emits `CastChanged` and `CastMatched`.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_args


@dataclass(frozen=True)
class ClipsChanged:
    """The clip list was replaced (a video or timeline was opened)."""


@dataclass(frozen=True)
class CurrentChanged:
    """Another clip became the current one (`None`: an opened folder without a clip)."""

    clip_id: str | None


@dataclass(frozen=True)
class ClipChanged:
    """A clip's session changed: face, range, occluders or per-clip options."""

    clip_id: str


@dataclass(frozen=True)
class OptionsChanged:
    """The folder's render options or handles changed: every clip's job may have changed."""


@dataclass(frozen=True)
class QueueChanged:
    """Queue rows changed: submitting, submitted, cancelled, retried, or a worker event about them.

    Args:
        job_ids (`list[str]`): the jobs whose rows changed.
        is_stale (`bool`): the store's rows changed and were not read again yet (call `QueueController.reload`).
    """

    job_ids: list[str]
    is_stale: bool


@dataclass(frozen=True)
class WorkerChanged:
    """The worker started, said hello, went idle, ended or crashed (`QueueController.worker` says which)."""


@dataclass(frozen=True)
class ObjectsChanged:
    """An occluder was added, renamed, shown, hidden or deleted."""


@dataclass(frozen=True)
class MasksChanged:
    """The occluder masks shown on these source frames changed."""

    frames: list[int]


@dataclass(frozen=True)
class TrackingProgressed:
    """One more frame was tracked: `done` of `total` frames, the last one source frame `frame`."""

    done: int
    total: int
    frame: int


@dataclass(frozen=True)
class CastChanged:
    """The cast changed (a character added, renamed or removed, a dub track, a reference or a shot's override):
    the clips must be matched again."""


@dataclass(frozen=True)
class CastMatched:
    """Who is who in the clips changed (a matching was applied, or a shot's override set)."""


PanelEvent = (
    ClipsChanged
    | CurrentChanged
    | ClipChanged
    | OptionsChanged
    | QueueChanged
    | WorkerChanged
    | ObjectsChanged
    | MasksChanged
    | TrackingProgressed
    | CastChanged
    | CastMatched
)
EVENT_TYPES: tuple[type, ...] = get_args(PanelEvent)
E = TypeVar("E")


class EventSource:
    """Callbacks by event class; `_emit(event)` calls those of `type(event)`, in the order they subscribed."""

    def __init__(self) -> None:
        self._callbacks: dict[type, list[Callable[[Any], None]]] = defaultdict(list)

    def register_event_callback(self, event_type: type[E], callback: Callable[[E], None]) -> None:
        """Call `callback(event)` whenever an event of class `event_type` is emitted.

        Raises:
            `TypeError`: `event_type` is not one of this module's event classes.
        """
        if event_type not in EVENT_TYPES:
            names = ", ".join(kind.__name__ for kind in EVENT_TYPES)
            raise TypeError(f"{event_type!r} is not a panel event; subscribe to one of {names}")
        self._callbacks[event_type].append(callback)

    def unregister_event_callback(self, event_type: type[E], callback: Callable[[E], None]) -> None:
        """Stop calling `callback` for `event_type` (nothing happens when it was not registered)."""
        callbacks = self._callbacks[event_type]
        if callback in callbacks:
            callbacks.remove(callback)

    def _emit(self, event: PanelEvent) -> None:
        for callback in list(self._callbacks[type(event)]):
            callback(event)

"""Topic events for the panel's Qt-free controllers: widgets subscribe to a topic, the controller emits it.

A controller that reports this way runs without a `QApplication`; the Qt side turns the callbacks into signals.
"""

from collections import defaultdict
from collections.abc import Callable
from typing import Any


EventCallback = Callable[[dict[str, Any]], None]


class TopicEvents:
    """Callbacks by topic. Each callback gets one `dict`: `{"topic": topic, **data}`."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[EventCallback]] = defaultdict(list)

    def register_event_callback(self, topic: str, callback: EventCallback) -> None:
        """Call `callback(event)` whenever `topic` is emitted."""
        self._callbacks[topic].append(callback)

    def _emit(self, topic: str, **data: Any) -> None:
        for callback in list(self._callbacks[topic]):
            callback({"topic": topic, **data})

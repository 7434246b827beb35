"""The one Qt adapter between the panel's Qt-free controllers and its widgets.

A controller (`keydub.plugin.panel.events.EventSource`) calls its subscribers on whatever thread the change happens:
the GUI thread for the clip and queue controllers, the model thread for the occluder editor while it tracks. An
`EventBridge` subscribes a widget's slots to a controller and calls each slot on the bridge's own thread, the GUI
thread: at once when the event is emitted there (as a plain callback would be), queued to it otherwise. A widget
that goes away, or drops a controller, unsubscribes with `unsubscribe`, so no event reaches a deleted widget.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore

from keydub.plugin.panel.events import EventSource


Slot = Callable[[Any], None]


class EventBridge(QtCore.QObject):
    """Delivers controllers' events to slots on this object's thread.

    ```py
    self.events = EventBridge(self)
    self.events.subscribe(controller, {ClipChanged: self._on_controller_clip_changed})
    ```
    """

    # Emitted on the controller's thread with (subscription, event); Qt's automatic connection calls `_deliver`
    # directly when that is this object's thread, and queues the call to this object's thread otherwise.
    _emitted = QtCore.Signal(object, object)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._subscriptions: list[_Subscription] = []
        self._emitted.connect(self._deliver)

    def subscribe(self, source: EventSource, slots: Mapping[type, Slot]) -> None:
        """Call `slots[type(event)](event)` on this object's thread for each of `source`'s events of those types."""
        for event_type, slot in slots.items():
            subscription = _Subscription(self, source, event_type, slot)
            source.register_event_callback(event_type, subscription)
            self._subscriptions.append(subscription)

    def unsubscribe(self, source: EventSource | None = None) -> None:
        """Stop delivering `source`'s events (every source's when `None`), those already queued included."""
        for subscription in [item for item in self._subscriptions if source is None or item.source is source]:
            subscription.source.unregister_event_callback(subscription.event_type, subscription)
            self._subscriptions.remove(subscription)

    @QtCore.Slot(object, object)
    def _deliver(self, subscription: "_Subscription", event: Any) -> None:
        if subscription in self._subscriptions:
            subscription.slot(event)


@dataclass(eq=False)
class _Subscription:
    """One slot subscribed to one event type of one source; the source calls it on its own thread."""

    bridge: EventBridge
    source: EventSource
    event_type: type
    slot: Slot

    def __call__(self, event: Any) -> None:
        self.bridge._emitted.emit(self, event)

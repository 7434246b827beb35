"""Rendering an output folder's job queue: the drain loop every executor runs, and `keydub worker`'s protocol.

- `drain`: `Drainer`, the loop that claims a job, renders it with an engine, places and records it;
  `RenderEngine`, what it renders with.
- `protocol`: the versioned JSON-lines events and commands of `keydub worker` (README.md, "Worker protocol").
- `validation`: what a renderer accepts from a job row.
- `client`: `WorkerProcess`, a `keydub worker` subprocess and its events, for clients without Qt.
"""

from keydub.plugin.worker.drain import DEFAULT_LEASE_SECONDS, Drainer, DrainSummary, EventSink, RenderEngine
from keydub.plugin.worker.protocol import PROTOCOL_VERSION, Event, ProtocolError, encode_event, parse_event


__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "PROTOCOL_VERSION",
    "DrainSummary",
    "Drainer",
    "Event",
    "EventSink",
    "ProtocolError",
    "RenderEngine",
    "encode_event",
    "parse_event",
]

"""The worker's JSON-lines protocol, version 1: events on stdout, commands on stdin, one per line.

Every event is one JSON object on one line of stdout, with `"protocol": 1` and `"event"` naming it; the other
keys are those of the event's dataclass below. Nothing else is ever written to stdout (logs go to stderr), so a
client reads stdout line by line and parses each line with `parse_event`. A client must ignore keys it does not
know: later minor additions add keys, never remove or change one; a change that would is a new protocol version.

Commands are one line each on stdin, either plain words or the equivalent JSON object:

- `cancel JOB_ID` (or `{"command": "cancel", "job_id": "..."}`): take the job out of the queue; if it is
  rendering, stop it within one denoising step. Answered by a `cancelled` event (or `error`).
- `shutdown` (or `{"command": "shutdown"}`): stop; a job being rendered goes back to pending; then `bye`.

Anything else is answered with an `error` event; the worker goes on.

The same events are what the drain loop (`keydub.plugin.worker.drain`) reports to any client, in-process or
not: `keydub timeline` shows them as a progress bar, the worker prints them, and a batch on another executor
forwards them.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from keydub.core.errors import KeydubError


PROTOCOL_VERSION = 1

# The longest job id a worker accepts in a command (ids are "<dub label>/<track>@<timecode>", far shorter).
MAX_JOB_ID_LENGTH = 512


class ProtocolError(KeydubError):
    """A line on the worker's stdin or stdout does not follow the protocol."""


@dataclass(frozen=True)
class Hello:
    """First event: the worker is up, its engine will load models on the first job.

    Args:
        pid (`int`), host (`str`): the worker process. owner (`str`): `host:pid`, as in the store's `owner`.
        device (`str | None`): the device it renders on (`None`: each job's own option).
        store (`str`): the output folder it renders.
        lease_seconds (`float`): its lease on a claimed job (a killed worker's job is reclaimed after it).
        removed_stale_files (`list[str]`, defaults to `[]`): what killed runs had left that the worker removed
            before this event: partial files in the store's folder and its staging folder, then crop caches.
            Added within protocol 1; a hello without it (an older worker) removed nothing.
    """

    EVENT: ClassVar[str] = "hello"
    pid: int
    host: str
    owner: str
    device: str | None
    store: str
    lease_seconds: float
    removed_stale_files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """A job was claimed and its render starts. `attempt` counts claims of the job, this one included."""

    EVENT: ClassVar[str] = "claimed"
    job_id: str
    name: str
    attempt: int
    owner: str
    device: str | None


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of the job being rendered: a `keydub.core.progress.Progress` with its ETA.

    Args:
        stage (`str`): a `Stage` name. done (`int`), total (`int`): units of the stage. unit (`str`): a `Unit`.
        eta_seconds (`float | None`): wall-clock seconds until the job ends (`None` until there is a rate).
    """

    EVENT: ClassVar[str] = "progress"
    job_id: str
    stage: str
    done: int
    total: int
    unit: str
    eta_seconds: float | None = None


@dataclass(frozen=True)
class Done:
    """The job's render is complete and renamed into place at `output`; `qc` holds its report's figures."""

    EVENT: ClassVar[str] = "done"
    job_id: str
    output: str
    qc: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """The job stopped with an error; `error` is one line saying what and what to do. The job is `failed`."""

    EVENT: ClassVar[str] = "failed"
    job_id: str
    error: str


@dataclass(frozen=True)
class Cancelled:
    """The job's render stopped and left no file. `state` is where the job went: `cancelled` (a `cancel`
    command or the store's `cancel`) or `pending` (a shutdown or interrupt: it is rendered again later)."""

    EVENT: ClassVar[str] = "cancelled"
    job_id: str
    state: str


@dataclass(frozen=True)
class Lost:
    """The worker's lease on the job ran out (or the job was submitted again) and it went to another owner;
    this worker's render of it was discarded."""

    EVENT: ClassVar[str] = "lost"
    job_id: str


@dataclass(frozen=True)
class Idle:
    """No job is pending. A worker run with `--once` then says `bye`; else it waits for new jobs."""

    EVENT: ClassVar[str] = "idle"


@dataclass(frozen=True)
class Error:
    """A command could not be carried out (unknown, malformed, or about a job that cannot be cancelled);
    `message` says why. The worker goes on."""

    EVENT: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True)
class Bye:
    """Last event: the worker exits. `reason` is `shutdown`, `idle` (with `--once`), `interrupted` (a signal)
    or `error` (the worker cannot go on; `message` says why)."""

    EVENT: ClassVar[str] = "bye"
    reason: str
    message: str | None = None


Event = Hello | Claimed | ProgressEvent | Done | Failed | Cancelled | Lost | Idle | Error | Bye
EVENT_TYPES: dict[str, type] = {
    kind.EVENT: kind for kind in (Hello, Claimed, ProgressEvent, Done, Failed, Cancelled, Lost, Idle, Error, Bye)
}


def encode_event(event: Event) -> str:
    """The event as one line of JSON (without the newline)."""
    return json.dumps(
        {"protocol": PROTOCOL_VERSION, "event": event.EVENT, **asdict(event)}, default=str, separators=(",", ":")
    )


def parse_event(line: str) -> Event:
    """Read one line of a worker's stdout back into its event.

    Raises:
        `ProtocolError`: not JSON, another protocol version, an unknown event, or missing fields.
    """
    data = _json_object(line, "event")
    if data.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the worker speaks protocol {data.get('protocol')!r}, this Keydub speaks "
            f"{PROTOCOL_VERSION}; run the same Keydub version on both sides"
        )
    kind = EVENT_TYPES.get(data.get("event"))
    if kind is None:
        raise ProtocolError(f"unknown worker event {data.get('event')!r}; events: {', '.join(EVENT_TYPES)}")
    names = {item.name for item in fields(kind)}
    try:
        return kind(**{key: value for key, value in data.items() if key in names})
    except TypeError as error:
        raise ProtocolError(f"the worker's {kind.EVENT!r} event is incomplete: {line.strip()[:200]}") from error


@dataclass(frozen=True)
class CancelCommand:
    """`cancel JOB_ID`."""

    job_id: str


@dataclass(frozen=True)
class ShutdownCommand:
    """`shutdown`."""


Command = CancelCommand | ShutdownCommand


def parse_command(line: str) -> Command:
    """Read one line of the worker's stdin.

    Raises:
        `ProtocolError`: anything but `cancel JOB_ID`, `shutdown` or their JSON forms (the message says which).
    """
    text = line.strip()
    if text.startswith(("{", "[")):
        data = _json_object(text, "command")
        name, job_id = data.get("command"), data.get("job_id")
    else:
        name, _, job_id = text.partition(" ")
        job_id = job_id.strip() or None
    if name == "shutdown" and job_id is None:
        return ShutdownCommand()
    if name == "cancel":
        return CancelCommand(job_id=check_job_id(job_id))
    raise ProtocolError(
        f"unknown command {text[:200]!r}; commands: 'cancel JOB_ID', 'shutdown' (or JSON "
        '{"command": "cancel", "job_id": "..."} / {"command": "shutdown"})'
    )


def command_line(command: Command) -> str:
    """A command as the JSON line a client writes to the worker's stdin (without the newline)."""
    if isinstance(command, CancelCommand):
        return json.dumps({"command": "cancel", "job_id": command.job_id})
    return json.dumps({"command": "shutdown"})


def check_job_id(job_id: Any) -> str:
    """`job_id` when it is a job id a worker accepts: text of 1 to 512 printable characters.

    Raises:
        `ProtocolError`: anything else (the message names the value).
    """
    if (
        not isinstance(job_id, str)
        or not 0 < len(job_id) <= MAX_JOB_ID_LENGTH
        or not job_id.isprintable()
        or job_id != job_id.strip()
    ):
        raise ProtocolError(
            f"a job id is 1 to {MAX_JOB_ID_LENGTH} printable characters without surrounding "
            f"spaces, not {str(job_id)[:80]!r}"
        )
    return job_id


def _json_object(line: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"a worker {what} line is not JSON ({error.msg}): {line.strip()[:200]!r}") from error
    if not isinstance(data, dict):
        raise ProtocolError(f"a worker {what} line must be a JSON object, not {line.strip()[:200]!r}")
    return data

"""The consent and usage record of an output folder: one JSON line per render, appended durably.

`keydub-usage.jsonl` in the folder the renders go to says, for each render, who ran it (user and host) and when,
the SHA-256 of the source clip and of each dub, whose faces were regenerated (each face's character and the consent
reference given for that person, and the face tracks), the weights that ran, and whether the output was signed
(with the manifest's id) or rendered with provenance off.

Durability: each record is one `write` of a whole line to a file opened for appending, under an exclusive lock
(renders of one batch may run in several processes), followed by `fsync` before the call returns. A process killed
at any point, SIGKILL included, leaves every line it reported written whole and no partial line: the kernel
completes a `write` to a regular file that it has started. Only a power cut in the middle of a write can leave a
torn last line; the next append then starts on a new line, and `read_usage_records` skips the torn one with a
warning, so one damaged line never hides the others.

Consent never blocks a render by itself: `require_consent` is the check a render or batch run with consent
required (`--require-consent`) makes on every shot before rendering any.
"""

import datetime
import getpass
import json
import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.core.errors import ConsentMissingError, OutputNotWritableError
from keydub.core.files import waiting_lock
from keydub.core.provenance.facts import RenderFacts
from keydub.core.provenance.signing import SignedOutput


if TYPE_CHECKING:
    from keydub.core.render.request import Speaker

logger = logging.getLogger(__name__)

USAGE_LOG = "keydub-usage.jsonl"
RECORD_VERSION = 1


@dataclass(frozen=True)
class UsageRecord:
    """One render, as the usage record keeps it.

    Args:
        time (`str`): when the render finished, ISO 8601 in UTC.
        user (`str`), host (`str`): who ran it, and on which machine.
        output (`str`): the rendered file.
        source (`dict`): `{"path", "sha256"}` of the source clip.
        dubs (`list[dict]`): `{"path", "sha256"}` of each dub that drove a face (each speaker's own stem).
        faces (`list[dict]`): each regenerated face: `{"character", "consent", "face"}` (`DubbedFace.to_dict`).
        face_tracks (`list[int]`): the face tracks the regenerated faces were followed through.
        weights (`dict[str, str]`): weight file -> SHA-256.
        provenance (`str`): `"signed"`, or `"off"` for a render asked to carry no Content Credentials.
        manifest_id (`str | None`): the manifest's label when signed.
        signer (`str | None`): who signed, in words, when signed.
        keydub_usage (`int`): the record's format version.
    """

    time: str
    user: str
    host: str
    output: str
    source: dict[str, str]
    dubs: list[dict[str, str]]
    faces: list[dict[str, Any]]
    face_tracks: list[int]
    weights: dict[str, str]
    provenance: str
    manifest_id: str | None = None
    signer: str | None = None
    keydub_usage: int = field(default=RECORD_VERSION)

    @classmethod
    def for_render(cls, output: Path, facts: RenderFacts, signed: SignedOutput | None) -> "UsageRecord":
        """The record of a render that just finished, by this user on this host now.

        Args:
            output (`Path`): the rendered file.
            facts (`RenderFacts`): what the render did.
            signed (`SignedOutput | None`): its signing, or `None` when provenance was off.
        """
        return cls(
            time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            user=_user(),
            host=socket.gethostname(),
            output=str(Path(output).absolute()),
            source=facts.source.to_dict(),
            dubs=[dub.to_dict() for dub in facts.dubs],
            faces=[face.to_dict() for face in facts.faces],
            face_tracks=list(facts.face_tracks),
            weights=dict(facts.weights),
            provenance="off" if signed is None else "signed",
            manifest_id=None if signed is None else signed.manifest_id,
            signer=None if signed is None else signed.signer,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UsageRecord":
        return cls(**data)


def usage_log_path(folder: Path) -> Path:
    """The usage record of the output folder `folder`."""
    return Path(folder) / USAGE_LOG


def append_usage_record(folder: Path, record: UsageRecord) -> Path:
    """Append `record` as one line to the usage record of `folder`, on disk before returning; returns the file.

    Raises:
        `OutputNotWritableError`: the record cannot be written (read-only folder, full disk).
    """
    path = usage_log_path(folder)
    line = (json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    is_new = not path.exists()
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write the usage record {path} ({error.strerror or error}); make {path.parent} writable"
        ) from error
    try:
        with waiting_lock(descriptor):
            if not _ends_a_line(descriptor):
                line = b"\n" + line  # close a line a power cut tore, rather than continue it
            _write_all(descriptor, line)
            os.fsync(descriptor)
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write the usage record {path} ({error.strerror or error}); free some space or make "
            f"{path.parent} writable"
        ) from error
    finally:
        os.close(descriptor)
    if is_new:
        _sync_folder(path.parent)
    return path


def read_usage_records(folder: Path) -> list[UsageRecord]:
    """Every whole record of the usage record of `folder`, in order; a torn or damaged line is skipped (logged)."""
    path = usage_log_path(folder)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(UsageRecord.from_dict(json.loads(line)))
        except (ValueError, TypeError) as error:
            logger.warning("%s line %d is not a whole usage record (%s); skipped", path, number, error)
    return records


def require_consent(shots: Iterable[tuple[str, Sequence["Speaker"]]]) -> None:
    """Refuse, before any render, the shots with a face that has no consent reference (a batch run with consent
    required).

    Args:
        shots (`Iterable[tuple[str, Sequence[Speaker]]]`): each shot's name, as the batch reports it, and the faces
            it would regenerate (`RenderRequest.face_speakers()`: their characters and consent references).

    Raises:
        `ConsentMissingError`: one line naming each shot and its character (or its face, when it names none).
    """
    missing = [
        f"{shot} ({face_words(speaker)})"
        for shot, speakers in shots
        for speaker in speakers
        if not speaker.consent.strip()
    ]
    if missing:
        raise ConsentMissingError(
            f"consent is required and {len(missing)} face(s) have no consent reference: {', '.join(missing)}; give "
            "each character a consent reference (the cast's consent, --consent) or render without requiring consent"
        )


def face_words(speaker: "Speaker") -> str:
    """A face as a person reads it: its character, else how it was picked."""
    if speaker.name:
        return f"character {speaker.name!r}"
    face = speaker.face
    if face.track_id is not None:
        return f"face track {face.track_id}, no character named"
    if face.point is not None:
        x, y = face.point
        on_frame = "" if face.frame is None else f" on frame {face.frame}"
        return f"the face at {x:g},{y:g}{on_frame}, no character named"
    return "the largest face, no character named"


def _user() -> str:
    """The name of the user running Keydub (the user id when the system has no name for it, as in a container)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _ends_a_line(descriptor: int) -> bool:
    """Whether the file is empty or its last byte ends a line."""
    size = os.fstat(descriptor).st_size
    if size == 0:
        return True
    # Reading moves the offset, not where the next write goes: with O_APPEND every write goes to the end.
    os.lseek(descriptor, size - 1, os.SEEK_SET)
    return os.read(descriptor, 1) == b"\n"


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _sync_folder(folder: Path) -> None:
    """Make a new file's name durable: fsync its folder (where the platform allows opening a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

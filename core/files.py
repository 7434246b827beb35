"""Small file helpers every writer shares: output checks, hidden partial files, hashes and atomic writes.

Every path Keydub writes goes through `check_outputs` before any work starts, so each obeys the rules `-o` obeys:
never an input, never an existing file without `--overwrite` (unless it is one a resumed run reuses, such as an
evaluation's finished renders), never a folder, never a name the file system cannot hold, never in a folder that
cannot be written, and two outputs of one command never the same file. The bytes then go to a hidden partial file
beside the target (`partial_path`), renamed over it only when complete. A partial file is locked while its writer
lives, so after a kill the next run can tell its own stale partials from a running writer's and remove them
(`remove_stale_partials`).
"""

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from keydub.core.errors import InvalidParameterError, OutputExistsError, OutputNotWritableError
from keydub.core.progress import ProgressCallback, Stage, Unit, report


logger = logging.getLogger(__name__)

if os.name == "nt":
    import msvcrt
else:
    import fcntl

# The longest file name most file systems hold (ext4, APFS, NTFS, XFS), used where the folder cannot be asked.
DEFAULT_NAME_MAX = 255
_PARTIAL_MARK = ".partial"
# An empty, unlocked partial file younger than this may belong to a writer between creating and locking it.
_NEW_PARTIAL_SECONDS = 2
_DIGEST_CHARS = 8
_TOKEN_CHARS = 8
# Suffixes longer than this are not kept on the partial name (they are not a container's extension).
_MAX_KEPT_SUFFIX = 16

PathMap = Mapping[str, "str | os.PathLike[str] | None"]


# What a path is --------------------------------------------------------------------------------------------------
def path_kind(path: str | os.PathLike[str]) -> str:
    """What is at `path`, in words: "a file", "a folder", "a FIFO (named pipe)", "a character device", ...

    Returns "nothing" when the path does not exist (a dangling link included).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "nothing"
    kinds = (
        (stat.S_ISREG, "a file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


# The first bytes of the containers an editor hands over, and what to call them.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
    (4, b"ftyp", "a QuickTime/MP4 file"),
    (4, b"moov", "a QuickTime file"),
    (4, b"mdat", "a QuickTime file"),
    (0, b"\x06\x0e\x2b\x34", "an MXF file"),
    (8, b"AVI ", "an AVI file"),
    (8, b"WAVE", "a WAV file"),
    (0, b"FORM", "an AIFF file"),
    (0, b"OggS", "an Ogg file"),
    (0, b"fLaC", "a FLAC file"),
    (0, b"ID3", "an MP3 file"),
    (0, b"PK\x03\x04", "a ZIP archive (a PyTorch checkpoint, an .otioz?)"),
    (0, b"{", "a text (JSON?) file"),
)


def describe_contents(path: Path) -> str:
    """What a file that FFmpeg refused looks like, from its size and first bytes: "an empty file (0 bytes)",
    "a Matroska/WebM file of 531 bytes", "a file of 12 bytes of text"."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError:
        return "a file"
    if size == 0:
        return "an empty file (0 bytes)"
    for offset, signature, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return f"{name} of {size} bytes"
    if head.isascii() and all(byte >= 9 for byte in head):
        return f"a text file of {size} bytes"
    return f"a file of {size} bytes in no media format Keydub knows"


def name_limit(folder: str | os.PathLike[str]) -> int:
    """The longest file name, in bytes, the file system of `folder` (or its nearest existing parent) holds."""
    folder = _nearest_existing(Path(folder))
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    # os.path.exists, not Path.exists: a name too long for the file system is "not there", not an OSError.
    while not os.path.exists(path) and path != path.parent:
        path = path.parent
    return path


def _identities(path: Path) -> set[object]:
    """What two paths to one file share: the resolved path (links followed), and device and inode when it exists
    (a hard link). Computed once per path, so comparing hundreds of outputs with each other stays linear."""
    keys: set[object] = {path.resolve()}
    with contextlib.suppress(OSError):
        status = path.stat()
        keys.add((status.st_dev, status.st_ino))
    return keys


# Checking outputs before any work --------------------------------------------------------------------------------
def check_outputs(
    outputs: PathMap,
    *,
    inputs: PathMap | None = None,
    overwrite: bool = False,
    folders: tuple[str, ...] = (),
    reused: PathMap | None = None,
) -> dict[str, Path]:
    """Refuse, before any work, every output that could damage a file or could not be written.

    Args:
        outputs (`Mapping[str, path | None]`): each output by the option that names it (`{"-o": ..., "--report":
            ...}`); `None` entries are skipped.
        inputs (`Mapping[str, path | None]`): the command's inputs by option, files or folders; never written.
        overwrite (`bool`, defaults to `False`): whether existing output files may be replaced.
        folders (`tuple[str, ...]`): the options of `outputs` that name folders to write into (created when
            missing) rather than files. An output file's folder must exist, unless it is one of these (a command
            that writes into `-o DIR` names its files inside it).
        reused (`Mapping[str, path | None]`): output files that are kept and used again when a finished one is
            already there (the renders of an evaluation that resumes), by option: checked like `outputs`, except
            that an existing file is accepted whatever `overwrite` says.

    Returns:
        `dict[str, Path]`: the outputs given (the reused ones last), absolute.

    Raises:
        `InvalidParameterError`: an output is an input, is a folder where a file is wanted (or the reverse), has a
            name longer than the file system holds, or two outputs are the same file.
        `OutputExistsError`: an output file that is not a reused one exists and `overwrite` is false.
        `OutputNotWritableError`: an output file's folder does not exist, or a folder cannot be created or written.
    """
    kept = dict(reused or {})
    given = {option: _absolute(path) for option, path in {**outputs, **kept}.items() if path is not None}
    created = {path for option, path in given.items() if option in folders}
    identities = {option: _identities(path) for option, path in given.items()}
    source_identities = {
        option: _identities(_absolute(path)) for option, path in (inputs or {}).items() if path is not None
    }
    for option, path in given.items():
        _check_names(option, path)
        for source_option, source_identity in source_identities.items():
            if identities[option] & source_identity:
                raise InvalidParameterError(
                    f"{option} {path} is also the {source_option} input; Keydub never writes over its inputs: "
                    "choose another path"
                )
        if option in folders:
            _check_output_folder(option, path)
        else:
            may_exist = overwrite or option in kept
            _check_output_file(option, path, may_exist, may_create_folder=path.parent in created)
    _check_distinct(given, identities)
    return given


def check_output_file(
    path: str | os.PathLike[str], *, inputs: PathMap | None = None, overwrite: bool = False, option: str = "-o"
) -> Path:
    """`check_outputs` of one output file; returns it absolute."""
    return check_outputs({option: path}, inputs=inputs, overwrite=overwrite)[option]


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(path)).expanduser().absolute()


def _check_output_file(option: str, path: Path, overwrite: bool, *, may_create_folder: bool = False) -> None:
    kind = path_kind(path)
    if kind == "a folder":
        raise InvalidParameterError(
            f"{option} {path} is an existing folder, not a file name; name a file inside it, e.g. "
            f"{path / 'output.mov'}"
        )
    if kind not in ("nothing", "a file"):
        raise InvalidParameterError(f"{option} {path} is {kind}, not a file Keydub can write; choose a file path")
    if kind == "a file" and not overwrite:
        raise OutputExistsError(f"{option} {path} already exists; choose another name or pass --overwrite")
    _check_writable_folder(option, path.parent, may_create=may_create_folder)


def _check_output_folder(option: str, path: Path) -> None:
    kind = path_kind(path)
    if kind not in ("nothing", "a folder"):
        raise InvalidParameterError(f"{option} {path} is {kind}, not a folder; name a folder for the outputs")
    _check_writable_folder(option, path, may_create=True)


def _check_names(option: str, path: Path) -> None:
    """Every name that would be created on the way to `path` fits the file system's limit."""
    existing = _nearest_existing(path)
    limit = name_limit(existing)
    for part in path.relative_to(existing).parts:
        size = len(os.fsencode(part))
        if size > limit:
            raise InvalidParameterError(
                f"{option}: the name {part[:40]}... is {size} bytes long, but the file system of {existing} holds "
                f"names of at most {limit} bytes; choose a shorter name"
            )


def _check_writable_folder(option: str, folder: Path, *, may_create: bool = False) -> None:
    folder = Path(os.path.abspath(folder))
    existing = _nearest_existing(folder)
    if existing != folder and not may_create:
        raise OutputNotWritableError(f"{option}: the folder {folder} does not exist; create it first")
    if not existing.is_dir():
        raise OutputNotWritableError(
            f"{option}: {existing} is {path_kind(existing)}, not a folder, so {folder} cannot be created; choose "
            "another output path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "the folder" if existing == folder else f"{folder} would be created in"
        raise OutputNotWritableError(
            f"{option}: {what} {existing} is read-only for this user; choose another output folder or make it "
            f"writable (chmod u+w {existing})"
        )


def _check_distinct(outputs: Mapping[str, Path], identities: Mapping[str, set[object]]) -> None:
    named_by: dict[object, str] = {}
    for second in outputs:
        first = next((named_by[key] for key in identities[second] if key in named_by), None)
        if first is not None:
            raise InvalidParameterError(
                f"{first} and {second} both name {outputs[first]}; give each output its own file"
            )
        named_by.update(dict.fromkeys(identities[second], second))


# Hidden partial files ----------------------------------------------------------------------------------------------
def partial_path(path: str | os.PathLike[str]) -> Path:
    """A new hidden partial name beside `path`, short enough for its folder whatever the length of `path`'s name.

    The name is `.<stem, cut to fit>~<digest of the whole name>.<random token>.partial<suffix>`: the prefix belongs
    to `path` alone, so `remove_stale_partials(path)` finds this target's partials and no other's, and the suffix is
    kept so tools that look at extensions still recognise the container.
    """
    path = Path(path)
    return path.with_name(f"{_partial_prefix(path)}{secrets.token_hex(_TOKEN_CHARS // 2)}{_partial_suffix(path)}")


def _partial_suffix(path: Path) -> str:
    return _PARTIAL_MARK + (path.suffix if len(os.fsencode(path.suffix)) <= _MAX_KEPT_SUFFIX else "")


def _partial_prefix(path: Path) -> str:
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:_DIGEST_CHARS]
    fixed = len(os.fsencode(f".~{digest}.{'0' * _TOKEN_CHARS}{_partial_suffix(path)}"))
    room = max(0, name_limit(path.parent) - fixed)
    # Cut the stem on a character boundary: a name cut inside a UTF-8 sequence would not be valid text.
    stem = os.fsencode(Path(path.name).stem)[:room].decode("utf-8", errors="ignore")
    return f".{stem}~{digest}."


class PartialFile:
    """The hidden partial file of one output, locked for as long as its writer holds it.

    Create it, write into `path` (directly through `stream`, or by opening `path` again, as FFmpeg does), then
    `commit()` renames it over the target; `discard()` (or leaving the `with` block on an error) removes it. The
    lock tells `remove_stale_partials` that a live process owns the file; the kernel drops it when the process
    dies, SIGKILL included.

    Args:
        target (`str | os.PathLike`): the output the partial file will become.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target)
        self.path = partial_path(self.target)
        # Exclusive: never reuses (or, on failure, deletes) another writer's file. A new file's mode follows the
        # umask, where mkstemp's 0600 would leave outputs unreadable to everyone else on a shared machine.
        self.stream: IO[bytes] = open(self.path, "xb")
        _lock(self.stream)

    def commit(self, *, overwrite: bool = True) -> Path:
        """Flush to disk and rename over the target; returns the target."""
        self.stream.flush()
        # On disk before the rename, so a power cut leaves the old file or the new one, never an empty one.
        os.fsync(self.stream.fileno())
        if not overwrite and self.target.exists():
            raise OutputExistsError(f"{self.target} appeared while it was being written; nothing was replaced")
        os.replace(self.path, self.target)
        self.stream.close()
        return self.target

    def discard(self) -> None:
        """Remove the partial file; never raises, so the error that caused it is the one reported."""
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "PartialFile":
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None or not self.stream.closed:
            self.discard()


def lock_exclusively(handle: IO[Any]) -> None:
    """Lock `handle`'s file for this process, without waiting, until the handle is closed or the process dies.

    POSIX: an advisory `flock`. Windows: a lock on the file's first byte (`msvcrt`), which Windows enforces, so it
    suits files nobody else writes (a lock file), not a file another library reopens to write.

    Raises:
        `OSError`: another process holds the lock (`BlockingIOError` on POSIX), or the file system has no locks.
    """
    if os.name == "nt":
        handle.seek(0)  # msvcrt locks bytes from the current position: every locker must lock the same byte
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock(stream: IO[bytes]) -> None:
    """Hold a lock on a partial file or a scratch folder's lock file for as long as the writer lives.

    Best effort: on a file system without locks (some network and FUSE mounts) the file is written unlocked rather
    than not at all (a second Keydub writing the same target at the same time could then take it for stale). Not on
    Windows, where the lock would stop FFmpeg writing the partial file it reopens; there no file is taken for stale.
    """
    if os.name != "nt":
        with contextlib.suppress(OSError):
            lock_exclusively(stream)


@contextlib.contextmanager
def waiting_lock(descriptor: int) -> Iterator[None]:
    """Hold an exclusive lock on the open file `descriptor` for the block, waiting while another process holds it.

    For writers that take turns on one shared file (an append-only log, a folder's one-time setup); the kernel
    drops the lock if the holder dies. Best effort like `_lock`: unlocked where the file system has no locks.
    """
    locked = False
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            locked = True
    try:
        yield
    finally:
        if locked:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


def is_locked(path: str | os.PathLike[str]) -> bool:
    """Whether a live process holds the lock on `path` (a partial file or a scratch folder's lock file)."""
    if os.name == "nt":
        return True
    try:
        with open(path, "rb") as handle:
            lock_exclusively(handle)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def stale_partials(target: str | os.PathLike[str]) -> list[Path]:
    """Partial files of `target` whose writer died (killed, crashed, power cut): no live process locks them.

    The unlocked `.<stem>.partial<suffix>` name of earlier Keydub versions counts as well.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    prefix, suffix = _partial_prefix(target), _partial_suffix(target)
    legacy = f".{target.stem}{_PARTIAL_MARK}{target.suffix}"
    found = []
    for entry in target.parent.iterdir():
        name = entry.name
        ours = (
            name.startswith(prefix) and name.endswith(suffix) and len(name) == len(prefix) + _TOKEN_CHARS + len(suffix)
        )
        if (ours or name == legacy) and _is_abandoned(entry):
            found.append(entry)
    return sorted(found)


def remove_stale_partials(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the partial files a dead writer left for `target`; returns what was removed."""
    return _remove(stale_partials(target))


def remove_stale_partials_in(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove every Keydub partial file in `folder` whose writer died, whatever its target; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return _remove(
        [entry for entry in sorted(folder.iterdir()) if _PARTIAL_NAME.match(entry.name) and _is_abandoned(entry)]
    )


def _is_abandoned(path: Path) -> bool:
    """A partial file no live process holds: unlocked, and not an empty one created a moment ago (its writer may be
    between creating and locking it)."""
    if not path.is_file() or is_locked(path):
        return False
    status = path.stat()
    return status.st_size > 0 or time.time() - status.st_mtime >= _NEW_PARTIAL_SECONDS


# `.<stem>~<digest>.<token>.partial[.suffix]`, as `partial_path` writes it.
_PARTIAL_NAME = re.compile(rf"^\..*~[0-9a-f]{{{_DIGEST_CHARS}}}\.[0-9a-f]{{{_TOKEN_CHARS}}}\.partial(\.[^.]*)?$")


def _remove(paths: list[Path]) -> list[Path]:
    removed = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


# Scratch folders --------------------------------------------------------------------------------------------------
_SCRATCH_LOCK = ".lock"
# A scratch folder without its lock file is left alone this long: its owner may be between creating and locking it.
_NEW_SCRATCH_SECONDS = 60


class ScratchFolder:
    """A new private folder under the system's temporary folder, locked for as long as its owner lives.

    `cleanup()` removes it; after a kill, `remove_stale_scratch` finds it by its free lock and removes it.

    Args:
        prefix (`str`): the start of the folder's name, e.g. `"keydub-crops-"`.
    """

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            self._lock = open(self.path / _SCRATCH_LOCK, "xb")
            _lock(self._lock)
        except BaseException:  # a Ctrl-C between the two leaves no folder behind either
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    def cleanup(self) -> None:
        self._lock.close()
        shutil.rmtree(self.path, ignore_errors=True)


def remove_stale_scratch(prefix: str) -> list[Path]:
    """Remove the scratch folders named `prefix*` whose owner died (their lock is free); returns them.

    Folders of other users cannot be opened and are left alone.
    """
    removed = []
    for folder in sorted(Path(tempfile.gettempdir()).glob(f"{prefix}*")):
        lock = folder / _SCRATCH_LOCK
        if not folder.is_dir() or not os.access(folder, os.R_OK | os.W_OK | os.X_OK) or is_locked(lock):
            continue
        if not lock.exists() and time.time() - folder.stat().st_mtime < _NEW_SCRATCH_SECONDS:
            continue  # created a moment ago by a process that has not locked it yet
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


# Writing -----------------------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike[str], progress: ProgressCallback | None = None) -> str:
    """SHA-256 of a file, read in 16 MiB blocks (reports bytes done under the stage `"hash"`)."""
    path = Path(path)
    block = 16 * 2**20
    total = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        done = 0
        while chunk := stream.read(block):
            digest.update(chunk)
            done += len(chunk)
            report(progress, Stage.HASH, done, total, unit=Unit.BYTES)
    return digest.hexdigest()


def claim_partial(path: str | os.PathLike[str]) -> PartialFile:
    """The new, locked partial file of `path`, after removing (and logging) those a killed writer of it left.

    Raises:
        `OutputNotWritableError`: the partial file cannot be created (read-only folder, full disk, ...).
    """
    path = Path(path)
    for stale in remove_stale_partials(path):
        logger.warning("removed %s, a partial %s left by a run that was killed or crashed", stale, path.name)
    try:
        return PartialFile(path)
    except OSError as error:
        raise OutputNotWritableError(
            f"cannot write {path} ({error.strerror or error}); choose another folder or make {path.parent} writable"
        ) from error


def make_folder(folder: str | os.PathLike[str], fix: str = "choose another output folder") -> Path:
    """`folder`, created with its parents where missing.

    Raises:
        `OutputNotWritableError`: it cannot be created; the message ends with `fix`.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise OutputNotWritableError(f"cannot create the folder {folder} ({reason}); {fix}") from error
    return folder


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a hidden partial file beside `path` and rename it into place: readers see all or none."""
    path = Path(path)
    make_folder(path.parent)
    with claim_partial(path) as partial:
        partial.stream.write(data)
        partial.commit()


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """`write_bytes_atomically` of `text` encoded as UTF-8."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path: str | os.PathLike[str], value: Any) -> None:
    """`write_text_atomically` of `value` as indented JSON."""
    write_text_atomically(path, json.dumps(value, indent=2, default=str) + "\n")


def umask_mode(mode: int = 0o777) -> int:
    """`mode` with the process's umask applied: what a new folder (0o777) or file (0o666) gets from `open`."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def apply_umask_modes(folder: str | os.PathLike[str]) -> None:
    """Give `folder`, and every folder and file under it, the mode a new one gets from the umask.

    Some writers (safetensors' 0600, mkdtemp's 0700) make files only their owner can read; a model converted on a
    shared machine must load for every user the umask lets read it.
    """
    folder = Path(folder)
    folder_mode, file_mode = umask_mode(0o777), umask_mode(0o666)
    folder.chmod(folder_mode)
    for path in folder.rglob("*"):
        path.chmod(folder_mode if path.is_dir() else file_mode)


def first_unreadable(path: str | os.PathLike[str]) -> Path | None:
    """The first folder or file at or under `path` this user cannot read (folders: list and enter), or `None`."""
    path = Path(path)
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            return path
        for root, folders, names in os.walk(path):
            for name in sorted(folders):
                if not os.access(Path(root) / name, os.R_OK | os.X_OK):
                    return Path(root) / name
            for name in sorted(names):
                if not os.access(Path(root) / name, os.R_OK):
                    return Path(root) / name
        return None
    return None if os.access(path, os.R_OK) else path

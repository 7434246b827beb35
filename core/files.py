"""Small file helpers every writer shares: content hashes and atomic text/JSON writes."""

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from keydub.core.progress import ProgressCallback, report


def sha256_file(path: str | os.PathLike[str], progress: ProgressCallback | None = None) -> str:
    """SHA-256 of a file, read in 16 MiB blocks (reports MiB done under the stage `"hash"`)."""
    path = Path(path)
    block = 16 * 2**20
    total = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        done = 0
        while chunk := stream.read(block):
            digest.update(chunk)
            done += len(chunk)
            report(progress, "hash", done // 2**20, total // 2**20)
    return digest.hexdigest()


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a temporary file beside `path` and rename it into place: readers see all of it or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name beside the target, created like any new file: its mode follows the umask, where
    # mkstemp's 0600 would leave reports and plots unreadable to everyone else on a shared machine.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    stream = open(partial, "xb")  # exclusive: never reuses (or, on failure, deletes) another writer's file
    try:
        with stream:
            stream.write(data)
            stream.flush()
            # On disk before the rename, so a power cut leaves the old file or the new one, never an empty one.
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """`write_bytes_atomically` of `text` encoded as UTF-8."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path: str | os.PathLike[str], value: Any) -> None:
    """`write_text_atomically` of `value` as indented JSON."""
    write_text_atomically(path, json.dumps(value, indent=2, default=str) + "\n")

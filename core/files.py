"""Small file helpers every writer shares: content hashes and atomic text/JSON writes."""

import hashlib
import json
import os
import tempfile
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


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to a temporary file beside `path` and rename it into place: readers see all of it or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def write_json_atomically(path: str | os.PathLike[str], value: Any) -> None:
    """`write_text_atomically` of `value` as indented JSON."""
    write_text_atomically(path, json.dumps(value, indent=2, default=str) + "\n")

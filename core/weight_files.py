"""The files of a converted model folder, and the cheap check that a folder's files are whole.

Light to import (no torch): the weights resolver checks folders with it before any loader sees them, and the
converter writes the layout named here.
"""

import json
import os
from pathlib import Path

from keydub.core.errors import CheckpointConversionError
from keydub.core.files import describe_contents


# A converted KeySync model folder: `unet/` and `audio_projector/` (diffusers model folders), the interpolation
# model's learned mask, and the record of what it was converted from.
UNET_FOLDER = "unet"
PROJECTOR_FOLDER = "audio_projector"
LEARNED_MASK_FILE = "learned_mask.safetensors"
RECORD_FILE = "keydub_conversion.json"
# Official checkpoints converted on first use live in the Keydub cache, one folder per source file's SHA-256.
CONVERTED_FOLDER = "keysync"


def conversion_folder(cache_dir: Path, kind: str, digest: str) -> Path:
    """Where the `kind` model converted from the checkpoint with SHA-256 `digest` lives in `cache_dir`."""
    return cache_dir / CONVERTED_FOLDER / digest[:16] / kind


def conversion_matches(folder: Path, digest: str) -> bool:
    """Whether `folder` is a finished conversion of the checkpoint with SHA-256 `digest`."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return False
    return record.get("source", {}).get("sha256") == digest


def check_weights_folder(folder: str | os.PathLike) -> None:
    """Refuse a model folder whose files would make a loader fail with its own traceback, naming the file.

    Every `config.json` must be JSON and every `.safetensors` file must have a whole header whose tensors lie
    inside the file (a truncated download fails this); nothing else is read, so the check costs milliseconds.

    Raises:
        `CheckpointConversionError`: the first damaged file, what is wrong with it and what to do.
    """
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(folder.rglob("*"))
    for path in files:
        if path.name == "config.json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as error:
                raise CheckpointConversionError(
                    f"{path} is not JSON ({first_line(error)}); the model folder is damaged: download or convert "
                    "the weights again"
                ) from error
        elif path.suffix == ".safetensors":
            problem = _safetensors_problem(path)
            if problem is not None:
                raise CheckpointConversionError(f"{path} is {problem}; download or convert the weights again")


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file's framing (8-byte header size, JSON header, data extent), or `None`."""
    size = path.stat().st_size
    with open(path, "rb") as stream:
        prefix = stream.read(8)
        if len(prefix) < 8:
            return f"{describe_contents(path)}, too short for a safetensors file"
        header_size = int.from_bytes(prefix, "little")
        if header_size > size - 8:
            return f"{describe_contents(path)}, not a whole safetensors file (its header says {header_size} bytes)"
        try:
            header = json.loads(stream.read(header_size))
        except (ValueError, UnicodeDecodeError):
            return "a safetensors file with a damaged header"
    if not isinstance(header, dict):
        return "a safetensors file with a damaged header"
    ends = [
        entry["data_offsets"][1]
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict) and len(entry.get("data_offsets", ())) == 2
    ]
    needed = 8 + header_size + max(ends, default=0)
    if needed > size:
        return f"truncated: {size} bytes where its header needs {needed}"
    return None


def first_line(error: BaseException) -> str:
    """The first line of an error's message (or its type's name), for one-line messages that quote it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

"""Occluder masks kept on disk, so a re-render with the same prompts does not run SAM2 again.

An entry is a folder named after the session's content hash (pictures, window, region, prompts, model) under
`<Keydub cache>/occlusion/`. It holds `meta.json` and one compressed `.npz` per frame with the masks of every
occluder, bit-packed, at the tracked region's size (the rest of the frame is empty by construction). An entry is
written into a temporary folder beside it and renamed into place when complete, so a reader sees either a whole
entry or none, and an interrupted run leaves nothing that could be mistaken for one.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keydub.core.errors import OutputNotWritableError
from keydub.core.frame_range import FrameRange
from keydub.core.occlusion.region import SquareRegion
from keydub.core.weights import keydub_cache_dir


_META_FILE = "meta.json"


@dataclass(frozen=True)
class CachedOcclusionMasks:
    """The occluder masks of one render's frames, read back from the cache frame by frame.

    Args:
        path (`Path`): the entry's folder.
        frame_range (`FrameRange`): the source frames.
        frame_size (`tuple[int, int]`): `(height, width)` of the source.
        region (`SquareRegion`): where the stored masks sit in the source frame.
        object_ids (`tuple[int, ...]`): the occluders, in the stored order.
    """

    path: Path
    frame_range: FrameRange
    frame_size: tuple[int, int]
    region: SquareRegion
    object_ids: tuple[int, ...]

    def masks(self, frame: int) -> dict[int, np.ndarray]:
        """Every occluder's `(height, width)` bool mask on source frame `frame`."""
        stored = self._load(frame)
        return {
            object_id: self.region.paste(mask, self.frame_size)
            for object_id, mask in zip(self.object_ids, stored, strict=True)
        }

    def union(self, frame: int) -> np.ndarray:
        """`M_obj` of source frame `frame`: where any occluder is, `(height, width)` bool."""
        return self.region.paste(self._load(frame).any(axis=0), self.frame_size)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """`(frame, union mask)` for every frame of the range, in frame order."""
        for frame in range(*self.frame_range):
            yield frame, self.union(frame)

    def _load(self, frame: int) -> np.ndarray:
        start, end = self.frame_range
        if not start <= frame < end:
            raise IndexError(f"frame {frame} is outside the cached frames {start}-{end - 1}")
        with np.load(self.path / _frame_file(frame)) as data:
            packed, shape = data["masks"], tuple(data["shape"])
        return np.unpackbits(packed, count=int(np.prod(shape))).reshape(shape).astype(bool)


class OcclusionMaskCache:
    """A folder of cached occluder masks keyed by content hash.

    Args:
        root (`Path | None`): the cache folder; defaults to `occlusion/` in the Keydub cache
            (`$KEYDUB_CACHE_DIR`, else `~/.cache/keydub`).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else keydub_cache_dir() / "occlusion"

    def get(self, key: str) -> CachedOcclusionMasks | None:
        """The complete entry stored under `key`, or `None`."""
        try:
            meta = json.loads((self.root / key / _META_FILE).read_text())
        except (OSError, ValueError):
            return None
        return CachedOcclusionMasks(
            self.root / key,
            FrameRange(*meta["window"]),
            tuple(meta["frame_size"]),
            SquareRegion(**meta["region"]),
            tuple(meta["object_ids"]),
        )

    def put(
        self,
        key: str,
        frame_range: FrameRange,
        frame_size: tuple[int, int],
        region: SquareRegion,
        object_ids: tuple[int, ...],
        frames: Iterable[tuple[int, dict[int, np.ndarray]]],
    ) -> CachedOcclusionMasks:
        """Store the masks of every frame of the range under `key`, atomically.

        Args:
            key (`str`): the content hash (`OcclusionSession.fingerprint`).
            frame_range (`FrameRange`): the source frames.
            frame_size (`tuple[int, int]`): `(height, width)` of the source.
            region (`SquareRegion`): the tracked region the masks are given in.
            object_ids (`tuple[int, ...]`): the occluders.
            frames (`Iterable[tuple[int, dict[int, np.ndarray]]]`): `(frame, {object_id: (side, side) bool})` for
                every frame of the range, in any order (`OcclusionMasker.propagate_in_region`).

        Returns:
            `CachedOcclusionMasks`: the stored entry (another process's, if it finished the same key first).
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".partial", dir=self.root))
        except OSError as error:
            raise OutputNotWritableError(
                f"cannot write occlusion masks under {self.root} ({error}); make the Keydub cache folder writable "
                "or set KEYDUB_CACHE_DIR"
            ) from error
        try:
            for frame, masks in frames:
                stack = np.stack([masks[object_id] for object_id in object_ids]).astype(bool)
                np.savez_compressed(scratch / _frame_file(frame), masks=np.packbits(stack), shape=stack.shape)
            meta = {
                # Stored under its first name, so the entries written before stay readable.
                "window": list(frame_range),
                "frame_size": list(frame_size),
                "region": region.to_dict(),
                "object_ids": list(object_ids),
            }
            (scratch / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            try:
                os.replace(scratch, self.root / key)
            except OSError:
                # Another process published the same key first; its entry has the same content.
                if self.get(key) is None:
                    raise
                shutil.rmtree(scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return CachedOcclusionMasks(
            self.root / key, FrameRange(*frame_range), tuple(frame_size), region, tuple(object_ids)
        )


def _frame_file(frame: int) -> str:
    return f"{frame:08d}.npz"

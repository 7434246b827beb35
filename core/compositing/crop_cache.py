"""Face crops and their masks for one face segment, kept on disk so a segment of any length costs no RAM.

The pipeline reads its inputs a chunk at a time (`len()` and slicing, see `keydub.core.model.pipeline.FrameSource`);
these caches answer those reads from memory-mapped files in a scratch folder (`keydub-crops-*` under the system's
temporary folder) that is removed with the cache. The folder is locked while its render lives; one left by a killed
render is removed by `remove_stale_crop_caches`, which the next cache calls.
"""

import logging
from pathlib import Path
from types import TracebackType

import numpy as np
import torch

from keydub.core.files import ScratchFolder, remove_stale_scratch


logger = logging.getLogger(__name__)
SCRATCH_PREFIX = "keydub-crops-"


class CropCache:
    """Crops `(n, S, S, 3)` (uint8 or uint16) and region masks `(n, S, S)` of one segment, memory-mapped.

    Args:
        frame_count (`int`): crops in the segment.
        size (`int`): crop side `S`.
        dtype (`np.dtype`): `uint8`, or `uint16` for sources above 8 bits.
    """

    def __init__(self, frame_count: int, size: int, dtype: np.dtype) -> None:
        remove_stale_crop_caches()
        self._folder = ScratchFolder(SCRATCH_PREFIX)
        folder = self._folder.path
        self.dtype = np.dtype(dtype)
        try:
            self.crops = np.lib.format.open_memmap(
                folder / "crops.npy", "w+", self.dtype, (frame_count, size, size, 3)
            )
            self.masks = np.lib.format.open_memmap(folder / "masks.npy", "w+", np.bool_, (frame_count, size, size))
        except BaseException:  # a full disk, or a Ctrl-C: the folder goes with the half-made cache
            self._folder.cleanup()
            raise
        self.frames = _CropFrames(self)
        self.region_masks = _CropMasks(self)

    def close(self) -> None:
        # Views must go before their files can be removed on every platform.
        del self.crops, self.masks
        self._folder.cleanup()

    def __enter__(self) -> "CropCache":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class _CropFrames:
    """`frames[a:b]` as float32 `[n, 3, S, S]` in [-1, 1]."""

    def __init__(self, cache: CropCache) -> None:
        self._cache = cache

    def __len__(self) -> int:
        return len(self._cache.crops)

    def __getitem__(self, index: slice) -> torch.Tensor:
        crops = torch.from_numpy(np.ascontiguousarray(self._cache.crops[index]).astype(np.float32))
        peak = float(np.iinfo(self._cache.dtype).max)
        return (crops.permute(0, 3, 1, 2) / peak) * 2 - 1


class _CropMasks:
    """`masks[a:b]` as float32 `[n, 1, S, S]`, 1 where the model regenerates."""

    def __init__(self, cache: CropCache) -> None:
        self._cache = cache

    def __len__(self) -> int:
        return len(self._cache.masks)

    def __getitem__(self, index: slice) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self._cache.masks[index])).float()[:, None]


def remove_stale_crop_caches() -> list[Path]:
    """Remove the crop caches killed renders left in the temporary folder (logged); returns them."""
    removed = remove_stale_scratch(SCRATCH_PREFIX)
    for folder in removed:
        logger.warning("removed %s, the crop cache of a render that was killed or crashed", folder)
    return removed


def crop_to_pixels(crop: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """A generated `[3, S, S]` crop in [-1, 1] as an `(S, S, 3)` image of `dtype` (uint8 or uint16), rounded."""
    peak = float(np.iinfo(dtype).max)
    pixels = ((crop.clamp(-1, 1) + 1) * (peak / 2)).round().permute(1, 2, 0).numpy()
    return pixels.astype(dtype)

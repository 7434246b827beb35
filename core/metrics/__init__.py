"""Leakage and lip-sync metrics.

- `mar_series(landmarks)`, `lipleak(mar)`: mouth aspect ratio per frame and the KeySync LipLeak share.
- `SyncNet`, `load_syncnet(path)`, `SyncNetScorer(model).score(crops, audio)`: LSE-C / LSE-D with the public
  `syncnet_v2` weights; `mfcc` is its audio front-end, `keydub.core.metrics.crops` its 25 fps face crops.
- `keydub.core.evaluation.protocol`: the leakage protocol (silent input, audio-matched, audio-mismatched).

SyncNet (torch) is imported on first use, so that importing MAR for a render report stays light.
"""

from typing import TYPE_CHECKING

from .mar import LIPLEAK_THRESHOLD, count_missing, lipleak, mar_series, open_mouth_frames


if TYPE_CHECKING:
    from .syncnet import SyncNet, SyncNetScorer, SyncScore, load_syncnet

_LAZY = {"SyncNet", "SyncNetScorer", "SyncScore", "load_syncnet"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from . import syncnet

        return getattr(syncnet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LIPLEAK_THRESHOLD",
    "SyncNet",
    "SyncNetScorer",
    "SyncScore",
    "count_missing",
    "lipleak",
    "load_syncnet",
    "mar_series",
    "open_mouth_frames",
]

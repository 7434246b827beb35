"""Leakage and lip-sync metrics: MAR and LipLeak on landmarks, SyncNet LSE scores, and the leakage protocol."""

from .mar import LIPLEAK_THRESHOLD, count_missing, lipleak, mar_series, open_mouth_frames


__all__ = ["LIPLEAK_THRESHOLD", "count_missing", "lipleak", "mar_series", "open_mouth_frames"]

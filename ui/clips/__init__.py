"""The clip list: one row per clip with its timecodes, range, dub, face, occluders, render state and QC."""

from keydub.ui.clips.model import CLIP_ID_ROLE, COLUMNS, STATE_ROLE, ClipListModel
from keydub.ui.clips.view import ClipListView


__all__ = ["CLIP_ID_ROLE", "COLUMNS", "STATE_ROLE", "ClipListModel", "ClipListView"]

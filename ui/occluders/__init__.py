"""The occluder dock of the Keydub panel: SAM2 clicks, boxes, brush and eraser, tracking, undo and redo."""

from keydub.ui.occluders.panel import OccluderPanel, show_mid_paint


__all__ = ["OccluderPanel", "show_mid_paint"]

"""The viewer: frame-accurate display with editor keys, overlays, tools, a scrub bar and threaded decoding.

- `Viewer`: the widget (see `keydub.plugin.panel` for the overlay and tool contract).
- `ViewerMouseEvent`, `ViewerTool`: what tools receive and implement.
- `FrameCache`: the bounded decoded-frame cache; `DecodeThread`: the decoding thread.
"""

from keydub.ui.viewer.cache import DEFAULT_CACHE_BYTES, FrameCache
from keydub.ui.viewer.decoder import DecodeThread, to_qimage
from keydub.ui.viewer.frame_view import FrameView, ViewerMouseEvent, ViewerTool, rgba_to_qimage
from keydub.ui.viewer.scrub_bar import ScrubBar
from keydub.ui.viewer.viewer import Viewer


__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DecodeThread",
    "FrameCache",
    "FrameView",
    "ScrubBar",
    "Viewer",
    "ViewerMouseEvent",
    "ViewerTool",
    "rgba_to_qimage",
    "to_qimage",
]

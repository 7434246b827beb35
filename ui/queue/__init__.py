"""The render queue dock of the Keydub panel: jobs rendered by a `keydub worker` process."""

from keydub.ui.queue.panel import QueueModel, QueuePanel, show_mid_render


__all__ = ["QueueModel", "QueuePanel", "show_mid_render"]

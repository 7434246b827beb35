"""The Cast dock of the Keydub panel: characters, their dub tracks and faces, and who is who in each shot."""

from keydub.ui.cast.panel import CastPanel


__all__ = ["CastPanel"]

"""Keydub's engine: media I/O, faces, masks, occlusion, audio features, the KeySync model, rendering, metrics."""

from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version("keydub")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

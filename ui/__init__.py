"""The PySide6 panel and desktop app."""

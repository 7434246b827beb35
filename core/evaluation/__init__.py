"""Evaluation built on the metrics: measuring a video (`evaluate`) and the leakage protocol (`protocol`)."""

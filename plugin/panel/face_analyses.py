"""The face analyses of the open clips, by clip id, as the panel's face picker, clip list and mask read them.

An analysis covers the range its clip had when it was made; once the clip's range changes it no longer answers
for the clip, and `drop_if_stale` forgets it so that the clip is analysed again.
"""

from keydub.plugin.panel.analysis import FaceAnalysis
from keydub.plugin.panel.session import ClipSession


class FaceAnalyses:
    """Face analyses by clip id: read with `get`, `in` and `[]`; changed with `put`, `clear` and `drop_if_stale`."""

    def __init__(self) -> None:
        self._analyses: dict[str, FaceAnalysis] = {}

    def get(self, clip_id: str | None) -> FaceAnalysis | None:
        return self._analyses.get(clip_id) if clip_id is not None else None

    def __getitem__(self, clip_id: str) -> FaceAnalysis:
        return self._analyses[clip_id]

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._analyses

    def put(self, clip_id: str, analysis: FaceAnalysis) -> None:
        self._analyses[clip_id] = analysis

    def clear(self) -> None:
        """Forget every analysis (another folder was opened)."""
        self._analyses.clear()

    def drop_if_stale(self, session: ClipSession) -> bool:
        """Forget the clip's analysis if it covers another range than the session's; whether one was forgotten."""
        analysis = self._analyses.get(session.clip_id)
        if analysis is None or (analysis.start, analysis.end) == (session.start_frame, session.end_frame):
            return False
        del self._analyses[session.clip_id]
        return True

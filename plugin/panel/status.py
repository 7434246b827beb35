"""A clip's render state as the clip list shows it, read from the job store row of its job.

The store says what the worker did with a job; the panel adds what only it knows: whether the row is about the
job as it is now. A finished render of an older version of the job (another face, other prompts) is **stale**.
"""

import math
from dataclasses import dataclass
from typing import Any

from keydub.plugin.store import JobRecord


# Row states of the job store, as the clip list names them.
_LABELS = {
    "pending": "queued",
    "queued": "queued",
    "running": "rendering",
    "done": "done",
    "failed": "failed",
    "skipped": "skipped",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class ClipStatus:
    """Where a clip's render is.

    Args:
        state (`str`): `"not rendered"`, `"queued"`, `"rendering"`, `"done"`, `"failed"`, `"cancelled"`,
            `"skipped"` or `"stale"` (rendered, then changed).
        progress (`float | None`): share done while rendering, in [0, 1].
        eta_seconds (`float | None`): seconds left while rendering, when the store knows.
        message (`str | None`): a failure's one-line reason.
        face_coverage (`float | None`): share of frames with the face, from the render's report.
        open_mouth_share (`float | None`): share of generated frames with an open mouth, from the report.
    """

    state: str
    progress: float | None = None
    eta_seconds: float | None = None
    message: str | None = None
    face_coverage: float | None = None
    open_mouth_share: float | None = None

    def label(self) -> str:
        """One line for the clip list, e.g. `"rendering 40 % (ETA 0:12)"` or `"failed: dub audio is silent"`."""
        if self.state == "rendering" and self.progress is not None:
            eta = f" (ETA {_clock(self.eta_seconds)})" if self.eta_seconds is not None else ""
            return f"rendering {round(100 * self.progress)} %{eta}"
        if self.state == "failed" and self.message:
            return f"failed: {self.message.splitlines()[0]}"
        return self.state


def clip_status(record: JobRecord | None, job_hash: str) -> ClipStatus:
    """The status of the job whose current hash is `job_hash`, given its store row (`None`: never submitted)."""
    if record is None:
        return ClipStatus(state="not rendered")
    state = _LABELS.get(record.state.value, record.state.value)
    if record.job_hash != job_hash and state in ("done", "failed", "cancelled"):
        return ClipStatus(state="stale")
    if state == "done" and not record.is_done_with(job_hash):
        return ClipStatus(state="not rendered", message="the rendered file is missing")
    coverage, open_share = qc_figures(record.result or {})
    progress, eta = _progress(record)
    return ClipStatus(
        state=state,
        progress=progress,
        eta_seconds=eta,
        message=record.message,
        face_coverage=coverage,
        open_mouth_share=open_share,
    )


def qc_figures(result: dict[str, Any]) -> tuple[float | None, float | None]:
    """`(face coverage, open-mouth share)` from a render's report or the store's summary of it."""
    face = result.get("face") if isinstance(result.get("face"), dict) else {}
    mouth = result.get("mouth") if isinstance(result.get("mouth"), dict) else {}
    coverage = face.get("coverage", result.get("coverage", result.get("face_coverage")))
    open_share = mouth.get("open_share", result.get("open_share", result.get("open_mouth_share")))
    return _number(coverage), _number(open_share)


def _progress(record: JobRecord) -> tuple[float | None, float | None]:
    """Share done of the running stage and the ETA, as the worker last wrote them."""
    progress = record.progress
    if progress is None or record.state.value != "running":
        return None, None
    return (progress.done / progress.total if progress.total else None), _number(progress.eta_seconds)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _clock(seconds: float | None) -> str:
    seconds = max(0, round(seconds or 0))
    return f"{seconds // 60}:{seconds % 60:02d}"

"""A clip's render state as the clip list shows it, read from the job store row of its job.

The store says what the worker did with a job; the panel adds what only it knows: whether the row is about the
job as it is now. A finished render of an older version of the job (another face, other prompts) is **stale**.
"""

import math
from dataclasses import dataclass
from typing import Any

from keydub.plugin.panel.job_progress import clock_text, progress_view
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
        progress (`float | None`): share of the whole job done while rendering, in [0, 1]
            (`keydub.plugin.panel.job_progress`).
        eta_seconds (`float | None`): seconds left while rendering, when the store knows.
        stage (`str`): the running stage with its own count while rendering, e.g. `"interpolation · step 33/66"`.
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
    stage: str = ""

    def label(self) -> str:
        """One line for the clip list, e.g. `"rendering 47 % · interpolation · step 33/66 · ETA 1:12"` or
        `"failed: dub audio is silent"`."""
        if self.state == "rendering" and self.progress is not None:
            parts = [f"rendering {round(100 * self.progress)} %", self.stage]
            if self.eta_seconds is not None:
                parts.append(f"ETA {clock_text(self.eta_seconds)}")
            return " · ".join(part for part in parts if part)
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
    view = progress_view(record.progress) if state == "rendering" else None
    return ClipStatus(
        state=state,
        progress=None if view is None else view.fraction,
        eta_seconds=None if view is None else _number(view.eta_seconds),
        message=record.message,
        face_coverage=coverage,
        open_mouth_share=open_share,
        stage="" if view is None else view.stage_text(),
    )


def qc_figures(result: dict[str, Any]) -> tuple[float | None, float | None]:
    """`(face coverage, open-mouth share)` from a render's report or the store's summary of it."""
    face = result.get("face") if isinstance(result.get("face"), dict) else {}
    mouth = result.get("mouth") if isinstance(result.get("mouth"), dict) else {}
    coverage = face.get("coverage", result.get("coverage", result.get("face_coverage")))
    open_share = mouth.get("open_share", result.get("open_share", result.get("open_mouth_share")))
    return _number(coverage), _number(open_share)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

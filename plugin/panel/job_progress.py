"""A render's progress as one share of the whole job, for one bar per job that only goes forward.

A render reports each stage in its own unit (`keydub.core.progress`): landmarks in frames, the model load as 0 of 1,
keyframe and interpolation denoising steps over the whole render, output frames. A bar per stage would fill, then
drop back at the next stage. `JobProgressTracker` weighs the stages by their share of a render's time and turns
the events of one job into one fraction that never goes back, plus the running stage's own count as text:
`"interpolation · step 33/66 · ETA 1:12"`.

The weights are an estimate of a render's time on a GPU: the keyframe / interpolation split follows the U-Net work
(`keydub.core.model.flops`: the interpolation windows are about nine tenths of it, the keyframes the rest); the
other stages' shares are not measured.
"""

from dataclasses import dataclass

from keydub.core.progress import Stage, Unit
from keydub.plugin.store import JobProgress


# Share of a render's time per stage, in percent.
STAGE_WEIGHTS: dict[str, float] = {
    Stage.LANDMARKS: 8,
    Stage.LOAD_MODEL: 4,
    Stage.OCCLUSION: 6,
    Stage.CROP: 3,
    Stage.AUDIO_FEATURES: 1,
    Stage.KEYFRAMES: 6,
    Stage.INTERPOLATION: 62,
    Stage.RENDER: 10,
}
# The order in which a render's stages start. A stage of an earlier phase that never reported was skipped (the
# clip's analysis was cached, no occluders): the render is past it. The stages of the last phase run interleaved,
# segment by segment, each counting over the whole render.
_PHASES = (
    (Stage.LANDMARKS,),
    (Stage.LOAD_MODEL,),
    (Stage.OCCLUSION,),
    (Stage.CROP, Stage.AUDIO_FEATURES, Stage.KEYFRAMES, Stage.INTERPOLATION, Stage.RENDER),
)
_PHASE_OF = {stage: index for index, phase in enumerate(_PHASES) for stage in phase}
# Within a segment these stages start once the ones listed have ended, and they count in the same proportion of the
# render: a share of interpolation steps done is at least as much of the keyframe steps, crops and audio done.
_FOLLOWS = {
    Stage.KEYFRAMES: (Stage.CROP, Stage.AUDIO_FEATURES),
    Stage.INTERPOLATION: (Stage.CROP, Stage.AUDIO_FEATURES, Stage.KEYFRAMES),
}
_UNIT_NOUNS = {Unit.FRAMES: "frame", Unit.STEPS: "step", Unit.ITEMS: "item", Unit.BYTES: "byte"}


def clock_text(seconds: float) -> str:
    """`"1:05"` (minutes:seconds), or `"1:02:10"` past an hour."""
    minutes, seconds = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@dataclass(frozen=True)
class JobProgressView:
    """How far a job is: its share done and the running stage with its own count.

    Args:
        fraction (`float`): share of the whole job done, in [0, 1]; never smaller than an earlier view's.
        stage (`str`): the stage of the latest event (a `Stage` name).
        done (`int`), total (`int`): the stage's units done and in all.
        unit (`str`, defaults to `"frames"`): what the stage counts (a `Unit`).
        eta_seconds (`float | None`): wall-clock seconds until the job ends, when the worker has a rate.
    """

    fraction: float
    stage: str
    done: int
    total: int
    unit: str = Unit.FRAMES
    eta_seconds: float | None = None

    def stage_text(self) -> str:
        """`"interpolation · step 33/66"`; the stage alone when it counts nothing (`load model`, 0 of 1)."""
        if self.total <= 1:
            return self.stage
        return f"{self.stage} · {_UNIT_NOUNS.get(self.unit, self.unit)} {self.done}/{self.total}"

    def eta_text(self) -> str:
        """`"1:12"`, or the empty string while the worker has no estimate."""
        return "" if self.eta_seconds is None else clock_text(self.eta_seconds)

    def text(self) -> str:
        """`"interpolation · step 33/66 · ETA 1:12"`."""
        eta = self.eta_text()
        return f"{self.stage_text()} · ETA {eta}" if eta else self.stage_text()


class JobProgressTracker:
    """One job's progress events (`JobProgress`, as the worker's events and the job store carry them) turned into
    `JobProgressView`s whose `fraction` never decreases.

    Each known stage's share done is the most it has reported; stages of an earlier phase than the latest event
    count as done; the last output frame ends the job. Events of stages Keydub does not know (an engine of one's
    own) move the bar by their own share when no render stage has reported.

    It accepts every event of a render or only some of them (the store's snapshot, read every second): the
    fraction is then an estimate from what was seen, and still only goes forward.

    Examples:

    ```py
    >>> tracker = JobProgressTracker()
    >>> tracker.update(JobProgress("keyframes", 22, 22, "steps")).fraction  # landmarks, model load: past them
    0.28
    >>> tracker.update(JobProgress("interpolation", 11, 22, "steps", eta_seconds=72)).text()
    'interpolation · step 11/22 · ETA 1:12'
    ```
    """

    def __init__(self) -> None:
        self._shares: dict[str, float] = {}
        self._phase = -1
        self._fraction = 0.0
        self._view: JobProgressView | None = None

    @property
    def view(self) -> JobProgressView | None:
        """The latest view, `None` before the first event."""
        return self._view

    def update(self, progress: JobProgress) -> JobProgressView:
        """Take one event; returns the job's view after it."""
        share = min(1.0, progress.done / progress.total) if progress.total else 1.0
        stage = progress.stage
        self._shares[stage] = max(share, self._shares.get(stage, 0.0))
        for earlier in _FOLLOWS.get(stage, ()):
            self._shares[earlier] = max(share, self._shares.get(earlier, 0.0))
        self._phase = max(self._phase, _PHASE_OF.get(stage, -1))
        self._fraction = max(self._fraction, self._job_fraction(share))
        eta = progress.eta_seconds
        if eta is not None and eta <= 0 and self._fraction < 1.0:
            # The worker's estimate follows one stage at a time; a finished stage with none running after it reads
            # as 0 s left while the job is not done: unknown, not "0:00".
            eta = None
        self._view = JobProgressView(self._fraction, stage, progress.done, progress.total, progress.unit, eta)
        return self._view

    def _job_fraction(self, latest_share: float) -> float:
        if self._phase < 0:
            return latest_share
        if self._shares.get(Stage.RENDER, 0.0) >= 1.0:
            return 1.0
        done = sum(
            weight * (1.0 if _PHASE_OF[stage] < self._phase else self._shares.get(stage, 0.0))
            for stage, weight in STAGE_WEIGHTS.items()
        )
        return done / sum(STAGE_WEIGHTS.values())


def progress_view(progress: JobProgress | None) -> JobProgressView | None:
    """The view of a job from one event alone (a store row read once), `None` without one."""
    return None if progress is None else JobProgressTracker().update(progress)

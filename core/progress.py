"""Progress reporting shared by every long operation: a plain `Progress` value handed to a callback.

Every event is `(job_id, stage, done, total, unit)` with a known `total`, so a queue view, a progress bar or a
JSON line can show a fraction and an ETA for any of them. Stage names are the constants of `Stage`; units are
those of `Unit`. `EtaEstimator` turns the events of one job into a wall-clock estimate of when it ends.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any


class Stage:
    """The stage names Keydub reports (`Progress.stage`)."""

    LANDMARKS = "landmarks"
    """Face detection and tracking, frames of the clip."""
    LOAD_MODEL = "load model"
    """Loading the KeySync pipeline (0 of 1, then 1 of 1)."""
    OCCLUSION = "occlusion"
    """SAM2 propagation of the occluder prompts, frames of the range."""
    CROP = "crop"
    """Cutting the 512x512 face crops and masks of the segments, frames."""
    AUDIO_FEATURES = "audio features"
    """HuBERT / WavLM windows of the dub (items)."""
    KEYFRAMES = "keyframes"
    """Denoising steps of the keyframe model (steps x keyframe batches)."""
    INTERPOLATION = "interpolation"
    """Denoising steps of the interpolation model (steps x interpolation calls)."""
    DECODE = "decode"
    """Decoding source frames (a timing of the render report)."""
    RENDER = "render"
    """Output frames pasted back and queued for encoding."""
    MASK_PREVIEW = "mask preview"
    """Frames of a `keydub mask` preview."""
    HASH = "hash"
    """SHA-256 of a file, bytes."""
    DOWNLOAD = "download"
    """Downloading weights, bytes."""
    LOAD = "load"
    """Reading an official checkpoint for conversion (0 of 1, then 1 of 1)."""
    WRITE = "write"
    """Writing a converted checkpoint (0 of 1, then 1 of 1)."""
    CLIPS = "clips"
    """Clips of a timeline batch (or of a timeline's cast)."""
    IDENTITY = "identity"
    """Decoding and embedding the faces that identify each face track, frames."""
    VOICE = "voice"
    """Voice activity of the original dialogue, 32 ms windows (items)."""
    PROTOCOL = "protocol"
    """Generations of the evaluation protocol."""


class Unit:
    """What `Progress.done` and `Progress.total` count."""

    FRAMES = "frames"
    STEPS = "steps"
    BYTES = "bytes"
    ITEMS = "items"
    """Anything else counted one by one: audio windows, clips, generations, files."""


UNITS = (Unit.FRAMES, Unit.STEPS, Unit.BYTES, Unit.ITEMS)


@dataclass(frozen=True)
class Progress:
    """How far one stage of a long operation is.

    Args:
        stage (`str`): what is running, one of `Stage` (e.g. `Stage.LANDMARKS`, `Stage.KEYFRAMES`).
        done (`int`): units finished in this stage.
        total (`int`): units in this stage, known up front (`done == total` when the stage ends).
        job_id (`str | None`): the job the event belongs to, set by whoever runs jobs (the worker, a batch).
        unit (`str`, defaults to `"frames"`): what is counted, one of `Unit`.
    """

    stage: str
    done: int
    total: int
    job_id: str | None = None
    unit: str = Unit.FRAMES

    def __post_init__(self) -> None:
        if not isinstance(self.total, int) or isinstance(self.total, bool) or self.total < 0:
            raise ValueError(f"Progress total must be a known count (an int >= 0), got {self.total!r}")
        if self.unit not in UNITS:
            raise ValueError(f"Progress unit must be one of {', '.join(UNITS)}, got {self.unit!r}")

    @property
    def fraction(self) -> float:
        """`done / total` in [0, 1] (1 for an empty stage)."""
        return min(1.0, self.done / self.total) if self.total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Progress":
        return cls(
            stage=data["stage"],
            done=int(data["done"]),
            total=int(data["total"]),
            job_id=data.get("job_id"),
            unit=data.get("unit", Unit.FRAMES),
        )


ProgressCallback = Callable[[Progress], None]


def report(progress: ProgressCallback | None, stage: str, done: int, total: int, *, unit: str = Unit.FRAMES) -> None:
    """Send `Progress(stage, done, total, unit=unit)` to `progress` if there is a callback."""
    if progress is not None:
        progress(Progress(stage, done, total, unit=unit))


def for_job(progress: ProgressCallback, job_id: str) -> ProgressCallback:
    """`progress` with every event tagged with `job_id` (what a queue or a worker hands to a render)."""

    def tagged(event: Progress) -> None:
        progress(replace(event, job_id=job_id))

    return tagged


# Stages whose rate predicts the end of a render best, first choice first: the interpolation steps dominate a
# render's time and run interleaved with every other stage of a segment, so their wall-clock rate includes
# keyframes, crops, decoding and encoding; the render stage's frames come next.
ETA_STAGES = (Stage.INTERPOLATION, Stage.RENDER, Stage.KEYFRAMES)


class EtaEstimator:
    """A wall-clock estimate of when a job ends, from its progress events.

    The estimate follows one driving stage: the first of `stages` that has advanced and is not finished, else the
    stage of the latest event. Its rate is measured between the first and the latest event of that stage, so
    model loading before it does not count, and what remains of it, at that rate, is the time left.

    Args:
        stages (`tuple[str, ...]`, defaults to `ETA_STAGES`): the preferred driving stages.
        clock (`Callable[[], float]`, defaults to `time.time`): seconds since the epoch (injectable for tests).

    Examples:

    ```py
    >>> eta = EtaEstimator()
    >>> engine.render(request, progress=eta.update)  # from any thread
    >>> eta.remaining_seconds(), eta.finish_time()  # None until a stage has advanced twice
    ```
    """

    def __init__(self, stages: tuple[str, ...] = ETA_STAGES, clock: Callable[[], float] = time.time) -> None:
        self._stages = stages
        self._clock = clock
        self._first: dict[str, tuple[float, int]] = {}
        self._latest: dict[str, tuple[float, Progress]] = {}
        self._last_stage: str | None = None

    def update(self, event: Progress) -> None:
        """Record one event (a `ProgressCallback`)."""
        now = self._clock()
        if event.stage not in self._first or event.done < self._latest[event.stage][1].done:
            # A stage seen for the first time, or started again (a new call counting from zero).
            self._first[event.stage] = (now, event.done)
        self._latest[event.stage] = (now, event)
        self._last_stage = event.stage

    def remaining_seconds(self) -> float | None:
        """Seconds left, or `None` while no stage has advanced yet."""
        stage = self._driving_stage()
        if stage is None:
            return None
        began, done_then = self._first[stage]
        now, event = self._latest[stage]
        if event.done >= event.total:
            return 0.0
        if event.done <= done_then or now <= began:
            return None
        rate = (event.done - done_then) / (now - began)
        return (event.total - event.done) / rate

    def finish_time(self) -> float | None:
        """The expected end as seconds since the epoch (`time.time()` scale), or `None` when not known yet."""
        remaining = self.remaining_seconds()
        return None if remaining is None else self._clock() + remaining

    def _driving_stage(self) -> str | None:
        for stage in self._stages:
            if stage in self._latest:
                event = self._latest[stage][1]
                if self._first[stage][1] < event.done < event.total:
                    return stage
        return self._last_stage

"""The lip-leakage protocol of Yaman et al., "Assessing identity leakage in talking face generation", for Keydub.

Every video of a set is dubbed three times (generation setups) and the results are scored with SyncNet:

* SI, silent input: driven by silence, scored against the video's own audio (LSE-C_S, LSE-D_S: lips that still
  sync with the original sound leaked from the input) and measured with MAR (LipLeak, KeySync's metric);
* AM, audio-matched: driven by and scored against the video's own audio (LSE-C, LSE-D);
* XM, audio-mismatched: driven by and scored against another video's audio (LSE-C, LSE-D).

`LSD = 0.5 (|C_AM - C_XM| + |D_AM - D_XM|)`: a model that follows the audio scores alike on both; one that
copies the input's lips scores better on AM.

Identity references. The paper compares a current reference (CR: the identity image is the masked input frame
itself) with an alternative one (AR: the method's own choice, the first frame when it has none) and names the
discrepancies LSD-CR and LSD-AR. KeySync conditions a whole segment on one identity frame, so it has no current
reference; both strategies compared here are alternative references in the paper's sense, and each gets its own
LSD: `first` (KeySync's official choice and the paper's default AR, so its LSD is the paper's LSD-AR) and
`auto` (Keydub's frontal closed-mouth frame, `RenderRequest.identity="auto"`).

Mismatched audio is assigned deterministically: in the order of the sorted video names, video `i` takes the audio
of video `i + 1` (the last takes the first's), a derangement, so no video ever gets its own sound.

Aggregates: LSE figures are means over videos (as published LSE tables are); LipLeak pools the frames of all
silent-input generations (the share of time the mouth is open), leaving out frames without a face.
"""

import io
import logging
import os
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keydub.core.audio.framing import MODEL_SAMPLE_RATE
from keydub.core.errors import AudioError, InvalidParameterError
from keydub.core.evaluation.evaluate import LandmarkSource, VideoMeasurement, measure_video
from keydub.core.files import (
    check_outputs,
    write_bytes_atomically,
    write_json_atomically,
    write_text_atomically,
)
from keydub.core.media import probe
from keydub.core.metrics.mar import LIPLEAK_THRESHOLD
from keydub.core.progress import ProgressCallback, report


if TYPE_CHECKING:
    from keydub.core.engine import Engine
    from keydub.core.metrics.syncnet import SyncNetScorer
    from keydub.core.render.options import RenderOptions

logger = logging.getLogger(__name__)

SETUPS = ("SI", "AM", "XM")
"""Generation setups: silent input, audio-matched, audio-mismatched."""

REFERENCES = ("first", "auto")
"""Identity reference strategies (`RenderRequest.identity`)."""

VIDEO_SUFFIXES = frozenset({".mov", ".mp4", ".mkv", ".avi", ".mxf", ".m4v", ".webm"})
# A video's own sound may be the video file itself: pass the videos folder as the audio folder too.
AUDIO_SUFFIXES = VIDEO_SUFFIXES | {".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".aif", ".aiff"}


@dataclass(frozen=True)
class ProtocolItem:
    """One video of the evaluation set and its own (ground-truth) audio.

    Args:
        name (`str`): the shared file stem, e.g. `"spk01_take3"`.
        video (`Path`): the talking video.
        audio (`Path | None`): its own audio; `None` for silent-input generation alone (`keydub eval leak`).
    """

    name: str
    video: Path
    audio: Path | None = None


@dataclass(frozen=True)
class Generation:
    """One video to generate and how to score it.

    Args:
        item (`ProtocolItem`): the source video.
        setup (`str`): `"SI"`, `"AM"` or `"XM"`.
        reference (`str`): the identity strategy, `"first"` or `"auto"` (or a frame index as text).
        driving_audio (`Path`): the audio the lips are generated from.
        scoring_audio (`Path | None`): the audio SyncNet scores the result against (`None`: no sync score).
        output (`Path`): where the generated video goes.
    """

    item: ProtocolItem
    setup: str
    reference: str
    driving_audio: Path
    scoring_audio: Path | None
    output: Path


Renderer = Callable[[Generation, "ProgressCallback | None"], None]
"""Writes `generation.output`: the source video with its lips regenerated from `generation.driving_audio` using
the identity strategy `generation.reference`."""


def engine_renderer(engine: "Engine | None" = None, options: "RenderOptions | None" = None) -> Renderer:
    """The protocol's default renderer: Keydub's own render through an `Engine`, so the pipeline and the landmark
    backend load once for every video, and each clip's analysis is shared by its generations.

    Args:
        engine (`Engine | None`): the engine to render with; a new one by default.
        options (`RenderOptions | None`): the options of every render (weights, device, steps, codec, ...);
            `identity` is replaced by each generation's reference. No render overwrites a file.
    """
    from keydub.core.engine import Engine
    from keydub.core.render.options import RenderOptions
    from keydub.core.render.request import RenderRequest

    engine = engine or Engine()
    shared = options or RenderOptions()

    def render(generation: Generation, progress: ProgressCallback | None = None) -> None:
        identity: str | int = int(generation.reference) if generation.reference.isdigit() else generation.reference
        request = RenderRequest(
            video=generation.item.video,
            audio=generation.driving_audio,
            output=generation.output,
            options=replace(shared, identity=identity),
        )
        engine.render(request, progress)

    return render


def pair_inputs(videos: str | os.PathLike[str], audios: str | os.PathLike[str]) -> list[ProtocolItem]:
    """Pair each video of a folder with the audio file of the same name (stem) in another folder.

    Args:
        videos (`str | os.PathLike`): folder of talking videos (`.mov`, `.mp4`, `.mkv`, ...).
        audios (`str | os.PathLike`): folder of their own audio tracks (`.wav`, `.flac`, ... or videos).

    Returns:
        `list[ProtocolItem]`, sorted by name.

    Raises:
        InvalidParameterError: a folder is missing, holds fewer than two videos (the mismatched setup needs two),
            or two files share a name.
        AudioError: a video has no audio file of its name.
    """
    video_files = _media_by_stem(Path(videos), VIDEO_SUFFIXES, "video")
    audio_files = _media_by_stem(Path(audios), AUDIO_SUFFIXES, "audio file")
    if len(video_files) < 2:
        raise InvalidParameterError(
            f"{videos} holds {len(video_files)} video(s); the mismatched-audio setup needs at least two"
        )
    unpaired = sorted(set(video_files) - set(audio_files))
    if unpaired:
        raise AudioError(
            f"no audio named like the video(s) {', '.join(unpaired[:5])} in {audios}; give each video its own audio "
            "with the same file name (e.g. clip01.mov and clip01.wav)"
        )
    return [ProtocolItem(name, video_files[name], audio_files[name]) for name in sorted(video_files)]


def mismatched_partners(count: int) -> list[int]:
    """For each of `count` videos in sorted order, the index of the video whose audio it is dubbed with (XM).

    A cyclic shift by one: deterministic, and a derangement (no video keeps its own audio) for `count >= 2`.
    """
    if count < 2:
        raise InvalidParameterError(f"mismatched audio needs at least two videos, got {count}")
    return [(index + 1) % count for index in range(count)]


def plan_generations(
    items: Sequence[ProtocolItem],
    folder: Path,
    *,
    setups: Sequence[str] = SETUPS,
    references: Sequence[str] = REFERENCES,
    suffix: str = ".mov",
) -> list[Generation]:
    """Every generation of the protocol, in the order they are rendered (video, reference, setup).

    Generated videos go to `folder/videos/<name>.<setup>.<reference><suffix>`; the silent driving audio to
    `folder/silence/<name>.silent.wav` (written when the generation runs).
    """
    unknown = sorted(set(setups) - set(SETUPS))
    if unknown or not setups or not references:
        raise InvalidParameterError(
            f"setups {list(setups)} / references {list(references)}: expected setups among "
            f"{', '.join(SETUPS)} and at least one reference"
        )
    if any(item.audio is None for item in items) and set(setups) != {"SI"}:
        raise InvalidParameterError("the audio-matched and mismatched setups need each video's own audio")
    partners = mismatched_partners(len(items)) if "XM" in setups else []
    plan = []
    for index, item in enumerate(items):
        driving = {
            "SI": silence_path(folder, item),
            "AM": item.audio,
            "XM": items[partners[index]].audio if partners else None,
        }
        scoring = {"SI": item.audio, "AM": item.audio, "XM": driving["XM"]}
        for reference in references:
            for setup in setups:
                output = folder / "videos" / f"{item.name}.{setup}.{reference}{suffix}"
                plan.append(Generation(item, setup, str(reference), driving[setup], scoring[setup], output))
    return plan


def generation_outputs(plan: Sequence[Generation]) -> dict[str, Path]:
    """The files the generations of `plan` write, by what they are: each render, then each silent driving audio."""
    renders = [generation.output for generation in plan]
    silences = list(dict.fromkeys(generation.driving_audio for generation in plan if generation.setup == "SI"))
    return {**_numbered("render", renders), **_numbered("silent audio", silences)}


def _numbered(what: str, paths: Sequence[Path]) -> dict[str, Path]:
    if len(paths) == 1:
        return {f"-o ({what})": paths[0]}
    return {f"-o ({what} {number} of {len(paths)})": path for number, path in enumerate(paths, start=1)}


def check_generation_outputs(plan: Sequence[Generation], folder: str | os.PathLike[str]) -> None:
    """Refuse, before the first render, a render or silent audio file of `plan` that could not be written.

    Each obeys the rules of `keydub.core.files.check_outputs`: a name the file system holds, never a folder or
    special file, in folders that can be created and written, never one of the videos or audio files of the plan.
    A file already there is allowed: it is a finished one (each is written atomically), which `generate_and_measure`
    measures again instead of rendering (a run that resumes).

    Raises:
        `InvalidParameterError`, `OutputNotWritableError`: see `check_outputs`.
    """
    folder = Path(folder)
    outputs = generation_outputs(plan)
    folders = {"-o": folder, "-o (renders folder)": folder / "videos"}
    if any(generation.setup == "SI" for generation in plan):
        folders["-o (silent audio folder)"] = folder / "silence"
    items = list(dict.fromkeys(generation.item for generation in plan))
    inputs = {f"video {item.video.name}": item.video for item in items}
    inputs.update({f"audio {item.audio.name}": item.audio for item in items if item.audio is not None})
    check_outputs(folders, inputs=inputs, folders=tuple(folders), reused=outputs)


def silence_path(folder: Path, item: ProtocolItem) -> Path:
    """Where the silent driving audio of `item` goes (named so that reports do not mistake it for the own audio)."""
    return folder / "silence" / f"{item.name}.silent.wav"


def write_silence(path: Path, duration: Fraction, sample_rate: int = MODEL_SAMPLE_RATE) -> Path:
    """Write a mono 16-bit WAV of digital silence lasting at least `duration` seconds, atomically."""
    samples = int(-(-Fraction(duration) * sample_rate // 1))  # ceil: never a sample short of the picture
    encoded = io.BytesIO()
    with wave.open(encoded, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(bytes(2 * samples))
    write_bytes_atomically(path, encoded.getvalue())
    return path


@dataclass(frozen=True)
class ProtocolRow:
    """The scores of one generated video.

    Args:
        name (`str`), setup (`str`), reference (`str`): which generation.
        driving_audio (`str`): file name of the audio it was generated from.
        frames (`int`): frames generated.
        lse_c (`float | None`), lse_d (`float | None`), offset (`int | None`): SyncNet scores against the scoring
            audio (`None` without one).
        open_frames (`int`), missing_frames (`int`): frames with an open mouth, frames without a face.
    """

    name: str
    setup: str
    reference: str
    driving_audio: str
    frames: int
    lse_c: float | None
    lse_d: float | None
    offset: int | None
    open_frames: int
    missing_frames: int

    @property
    def open_share(self) -> float | None:
        """Open frames over frames with a face (LipLeak for a silent-input row); `None` with no face at all."""
        measured = self.frames - self.missing_frames
        return self.open_frames / measured if measured else None

    @classmethod
    def from_measurement(cls, generation: Generation, measurement: VideoMeasurement) -> "ProtocolRow":
        sync = measurement.sync
        return cls(
            name=generation.item.name,
            setup=generation.setup,
            reference=generation.reference,
            driving_audio=generation.driving_audio.name,
            frames=measurement.frame_count,
            lse_c=sync.lse_c if sync else None,
            lse_d=sync.lse_d if sync else None,
            offset=sync.offset if sync else None,
            open_frames=measurement.open_frames,
            missing_frames=measurement.missing_frames,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.name,
            "setup": self.setup,
            "reference": self.reference,
            "driving_audio": self.driving_audio,
            "frames": self.frames,
            "lse_c": self.lse_c,
            "lse_d": self.lse_d,
            "offset": self.offset,
            "open_frames": self.open_frames,
            "missing_frames": self.missing_frames,
            "open_share": self.open_share,
        }


@dataclass(frozen=True)
class ReferenceSummary:
    """The protocol's figures for one identity reference strategy (means over videos; `None` where no video
    of that setup was scored), for the whole set or for one video.

    Args:
        reference (`str`): the strategy.
        video (`str | None`): the video these figures are for; `None` for the whole set.
        lipleak (`float | None`): open frames over frames with a face, all silent-input generations pooled.
        lse_c_s (`float | None`), lse_d_s (`float | None`): LSE-C_S and LSE-D_S (SI scored with the own audio).
        lse_c_am (`float | None`), lse_d_am (`float | None`): LSE-C and LSE-D of the audio-matched setup.
        lse_c_xm (`float | None`), lse_d_xm (`float | None`): LSE-C and LSE-D of the audio-mismatched setup.
        lsd (`float | None`): `0.5 (|C_AM - C_XM| + |D_AM - D_XM|)`.
    """

    reference: str
    video: str | None
    lipleak: float | None
    lse_c_s: float | None
    lse_d_s: float | None
    lse_c_am: float | None
    lse_d_am: float | None
    lse_c_xm: float | None
    lse_d_xm: float | None
    lsd: float | None

    @classmethod
    def from_rows(cls, reference: str, rows: Sequence[ProtocolRow], video: str | None = None) -> "ReferenceSummary":
        """Summarise the rows of `reference` (and of `video` only, when given)."""
        mine = [row for row in rows if row.reference == reference and video in (None, row.name)]

        def mean(setup: str, metric: str) -> float | None:
            values = [getattr(row, metric) for row in mine if row.setup == setup and getattr(row, metric) is not None]
            return float(np.mean(values)) if values else None

        silent = [row for row in mine if row.setup == "SI"]
        measured = sum(row.frames - row.missing_frames for row in silent)
        lipleak = sum(row.open_frames for row in silent) / measured if measured else None
        c_am, d_am, c_xm, d_xm = mean("AM", "lse_c"), mean("AM", "lse_d"), mean("XM", "lse_c"), mean("XM", "lse_d")
        lsd = lip_sync_discrepancy(c_am, d_am, c_xm, d_xm) if None not in (c_am, d_am, c_xm, d_xm) else None
        return cls(reference, video, lipleak, mean("SI", "lse_c"), mean("SI", "lse_d"), c_am, d_am, c_xm, d_xm, lsd)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def lip_sync_discrepancy(c_am: float, d_am: float, c_xm: float, d_xm: float) -> float:
    """LSD (Yaman et al., Eq. 1-2): `0.5 (|C_AM - C_XM| + |D_AM - D_XM|)`; 0 when the model follows any audio
    equally well, larger when the input's own lips help it."""
    return 0.5 * (abs(c_am - c_xm) + abs(d_am - d_xm))


SUMMARY_COLUMNS = (
    ("Reference", "reference", "{}"),
    ("LipLeak", "lipleak", "{:.3f}"),
    ("LSE-C_S", "lse_c_s", "{:.3f}"),
    ("LSE-D_S", "lse_d_s", "{:.3f}"),
    ("LSE-C (AM)", "lse_c_am", "{:.3f}"),
    ("LSE-D (AM)", "lse_d_am", "{:.3f}"),
    ("LSE-C (XM)", "lse_c_xm", "{:.3f}"),
    ("LSE-D (XM)", "lse_d_xm", "{:.3f}"),
    ("LSD", "lsd", "{:.3f}"),
)
VIDEO_COLUMNS = (("Video", "video", "{}"), *SUMMARY_COLUMNS)
ROW_COLUMNS = (
    ("Video", "name", "{}"),
    ("Reference", "reference", "{}"),
    ("Setup", "setup", "{}"),
    ("Driving audio", "driving_audio", "{}"),
    ("Frames", "frames", "{}"),
    ("LSE-C", "lse_c", "{:.3f}"),
    ("LSE-D", "lse_d", "{:.3f}"),
    ("Offset", "offset", "{}"),
    ("Open mouth", "open_share", "{:.3f}"),
    ("No face", "missing_frames", "{}"),
)


@dataclass(frozen=True)
class ProtocolReport:
    """Per-reference summaries, per-video summaries and per-generation rows of a protocol run.

    Args:
        rows (`tuple[ProtocolRow, ...]`): one per generated video.
        summaries (`tuple[ReferenceSummary, ...]`): one per identity reference strategy, over the whole set.
        per_video (`tuple[ReferenceSummary, ...]`): one per source video and reference strategy.
        threshold (`float`): the MAR threshold of LipLeak.
        settings (`dict`): render settings and inputs, recorded for reproducibility.
    """

    rows: tuple[ProtocolRow, ...]
    summaries: tuple[ReferenceSummary, ...]
    per_video: tuple[ReferenceSummary, ...]
    threshold: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": "Yaman et al., Assessing identity leakage in talking face generation (SI, AM, XM)",
            "threshold": self.threshold,
            "settings": self.settings,
            "summary": [summary.to_dict() for summary in self.summaries],
            "per_video": [summary.to_dict() for summary in self.per_video],
            "videos": [row.to_dict() for row in self.rows],
        }

    def to_markdown(self) -> str:
        lines = [
            "# Lip leakage evaluation",
            "",
            f"LipLeak: share of frames with MAR > {self.threshold} in silent-input (SI) generations. LSE-C_S / "
            "LSE-D_S: SyncNet scores of SI generations against the videos' own audio (lower C and higher D: less "
            "leakage). LSD = 0.5 (|C_AM - C_XM| + |D_AM - D_XM|): lower is better. `first` is the paper's AR "
            "reference (its LSD is LSD-AR).",
            "",
            _markdown_table(SUMMARY_COLUMNS, self.summaries),
            "",
            "## Per video",
            "",
            _markdown_table(VIDEO_COLUMNS, self.per_video),
            "",
            "## Per generation",
            "",
            _markdown_table(ROW_COLUMNS, self.rows),
            "",
        ]
        return "\n".join(lines)


def _markdown_table(columns: tuple[tuple[str, str, str], ...], records: Sequence[object]) -> str:
    def cell(record: object, attribute: str, template: str) -> str:
        value = getattr(record, attribute)
        return "n/a" if value is None else template.format(value)

    header = "| " + " | ".join(title for title, _, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(record, a, t) for _, a, t in columns) + " |" for record in records]
    return "\n".join([header, rule, *body])


def run_protocol(
    items: Sequence[ProtocolItem],
    folder: str | os.PathLike[str],
    *,
    landmarks: LandmarkSource,
    scorer: "SyncNetScorer | None",
    renderer: Renderer | None = None,
    setups: Sequence[str] = SETUPS,
    references: Sequence[str] = REFERENCES,
    threshold: float = LIPLEAK_THRESHOLD,
    suffix: str = ".mov",
    settings: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> ProtocolReport:
    """Generate every setup for every video and reference, then score each result.

    Generated videos are kept under `folder/videos/`; one that already exists (from an interrupted run of the
    same plan) is scored again rather than rendered again, so a long run resumes where it stopped. Delete the
    folder to start over with other settings.

    Args:
        items (`Sequence[ProtocolItem]`): the videos and their own audio (see `pair_inputs`).
        folder (`str | os.PathLike`): output folder, created if needed.
        landmarks (`LandmarkSource`): finds the face on generated frames (MAR and SyncNet crops).
        scorer (`SyncNetScorer | None`): SyncNet; `None` measures LipLeak only (no LSE or LSD).
        renderer (`Renderer | None`): generates a video; defaults to `engine_renderer()`.
        setups (`Sequence[str]`, defaults to all three), references (`Sequence[str]`, defaults to
            `("first", "auto")`): what to run.
        threshold (`float`, defaults to 0.25): LipLeak's MAR threshold.
        suffix (`str`, defaults to `".mov"`): container of the generated videos (match the renderer's codec).
        settings (`dict | None`): recorded in the report as given (render options, weights).
        progress (`ProgressCallback | None`): `"protocol"` progress per generation; the renderer's own stages too.

    Returns:
        `ProtocolReport`.

    Raises:
        `InvalidParameterError`, `OutputNotWritableError`: a planned render or silent audio file cannot be written
            (`check_generation_outputs`), raised before the first render.
    """
    folder = Path(folder)
    render = renderer or engine_renderer()
    plan = plan_generations(items, folder, setups=setups, references=references, suffix=suffix)
    check_generation_outputs(plan, folder)
    rows = []
    for done, generation in enumerate(plan):
        report(progress, "protocol", done, len(plan))
        measurement = generate_and_measure(generation, render, landmarks, scorer, threshold, progress)
        rows.append(ProtocolRow.from_measurement(generation, measurement))
    report(progress, "protocol", len(plan), len(plan))
    summaries = tuple(ReferenceSummary.from_rows(str(reference), rows) for reference in references)
    per_video = tuple(
        ReferenceSummary.from_rows(str(reference), rows, video=item.name) for item in items for reference in references
    )
    return ProtocolReport(tuple(rows), summaries, per_video, threshold, dict(settings or {}))


def generate_and_measure(
    generation: Generation,
    renderer: Renderer,
    landmarks: LandmarkSource,
    scorer: "SyncNetScorer | None" = None,
    threshold: float = LIPLEAK_THRESHOLD,
    progress: ProgressCallback | None = None,
) -> VideoMeasurement:
    """Render one generation (unless its output already exists) and measure the result.

    The silent driving audio of an SI generation is written first, as long as the source clip. SyncNet scores
    the result only when there is a scorer and the generation has audio to score against.
    """
    if generation.setup == "SI" and not generation.driving_audio.exists():
        info = probe(generation.item.video)
        write_silence(generation.driving_audio, Fraction(info.frame_count) / info.frame_rate)
    if generation.output.exists():
        logger.info("%s exists; scoring it without rendering again", generation.output)
    else:
        generation.output.parent.mkdir(parents=True, exist_ok=True)
        renderer(generation, progress)
    use_scorer = scorer if generation.scoring_audio is not None else None
    return measure_video(
        generation.output, landmarks, scorer=use_scorer, audio=generation.scoring_audio, threshold=threshold
    )


def silent_input_leak(
    video: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    landmarks: LandmarkSource,
    renderer: Renderer | None = None,
    reference: str = "first",
    threshold: float = LIPLEAK_THRESHOLD,
    suffix: str = ".mov",
    progress: ProgressCallback | None = None,
) -> tuple[Generation, VideoMeasurement]:
    """LipLeak of one clip: dub it with silence of its own length and measure MAR on every generated frame.

    Args:
        video (`str | os.PathLike`): the talking clip.
        folder (`str | os.PathLike`): where the silent audio and the generated video go (see `plan_generations`).
        landmarks (`LandmarkSource`): finds the face on generated frames.
        renderer (`Renderer | None`): defaults to `engine_renderer()`.
        reference (`str`, defaults to `"first"`): the identity strategy.
        threshold (`float`, defaults to 0.25): MAR above which a mouth counts as open.
        suffix (`str`, defaults to `".mov"`): container of the generated video.
        progress (`ProgressCallback | None`): the renderer's progress.

    Returns:
        `(Generation, VideoMeasurement)`: what was generated and its MAR series (`.open_share` is LipLeak).
    """
    (generation,) = plan_leak(video, folder, reference=reference, suffix=suffix)
    check_generation_outputs([generation], folder)
    return generation, generate_and_measure(
        generation, renderer or engine_renderer(), landmarks, threshold=threshold, progress=progress
    )


def plan_leak(
    video: str | os.PathLike[str], folder: str | os.PathLike[str], *, reference: str = "first", suffix: str = ".mov"
) -> list[Generation]:
    """The one generation of `silent_input_leak`: `video` dubbed with silence (see `plan_generations`)."""
    video = Path(video).absolute()
    item = ProtocolItem(video.stem, video)
    return plan_generations([item], Path(folder), setups=("SI",), references=(reference,), suffix=suffix)


def write_protocol_report(
    protocol_report: ProtocolReport, folder: str | os.PathLike[str], *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write `report.md` and `report.json` into `folder` (created if needed), each atomically.

    Returns:
        `tuple[Path, Path]`: the Markdown and the JSON report, absolute.

    Raises:
        `OutputExistsError`: a report is already there and `overwrite` is off. The reports obey every rule of
            `keydub.core.files.check_outputs`, which also raises `InvalidParameterError` (a folder where a report
            goes, a name too long) and `OutputNotWritableError`.
    """
    folder = Path(folder)
    reports = report_outputs(folder)
    checked = check_outputs({"-o": folder, **reports}, overwrite=overwrite, folders=("-o",))
    markdown_path, json_path = (checked[option] for option in reports)
    write_text_atomically(markdown_path, protocol_report.to_markdown())
    write_json_atomically(json_path, protocol_report.to_dict())
    return markdown_path, json_path


def report_outputs(folder: Path) -> dict[str, Path]:
    """The reports `write_protocol_report` writes into `folder`, by what they are."""
    return {"-o (Markdown report)": folder / "report.md", "-o (JSON report)": folder / "report.json"}


def _media_by_stem(folder: Path, suffixes: frozenset[str], what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise InvalidParameterError(f"{folder} is not a folder; pass the folder that holds the {what}s")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in suffixes or path.name.startswith("."):
            continue
        if path.stem in found:
            raise InvalidParameterError(
                f"{found[path.stem].name} and {path.name} in {folder} share a name; keep one {what} per name"
            )
        found[path.stem] = path.absolute()
    return found

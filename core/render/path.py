"""The product's main job: one source clip + dub audio -> the same clip with the lower face regenerated.

`render_clip(request, progress)` reads top to bottom as the render path of the architecture document. Its
request and result types live in `keydub.core.render.request` (light to import).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keydub.core.analysis import ClipAnalysis, analyse_clip, check_range
from keydub.core.audio.framing import MODEL_SAMPLE_RATE
from keydub.core.cancel import CancelToken, cancellable
from keydub.core.compositing.crop import paste_back, warp_to_crop
from keydub.core.compositing.crop_cache import CropCache, crop_to_pixels
from keydub.core.compositing.masks import combine_with_occluders, leakproof_mask
from keydub.core.compositing.occluders import occluder_crop_mask, paste_back_with_occluders
from keydub.core.errors import (
    AudioError,
    InvalidParameterError,
)
from keydub.core.faces import LandmarkBackend
from keydub.core.faces.target import TargetFace
from keydub.core.files import check_outputs, sha256_file, write_json_atomically
from keydub.core.frame_range import FrameRange
from keydub.core.media import FrameReader, MediaInfo, probe, require_constant_frame_rate
from keydub.core.media.audio import AudioStreamInfo, audio_stream_info, load_audio
from keydub.core.media.writer import AudioSpec, BackgroundWriter, VideoWriter
from keydub.core.metrics import LIPLEAK_THRESHOLD, lipleak, mar_series
from keydub.core.model.planner import plan_dubbing
from keydub.core.prefetch import Prefetched
from keydub.core.progress import Progress, ProgressCallback, Stage, Unit, report
from keydub.core.provenance import credential_files, disclose_render
from keydub.core.render.request import FaceChoice, RenderRequest, RenderResult


if TYPE_CHECKING:
    from keydub.core.model.pipeline import KeySyncPipeline, PipelineStepCallback
    from keydub.core.occlusion import CachedOcclusionMasks, OcclusionMasker

__all__ = ["CheckedRequest", "FaceChoice", "RenderRequest", "RenderResult", "check_request", "render_clip"]

# Below this peak the dub counts as silence (about -80 dBFS): the mouth is expected to stay closed.
SILENCE_PEAK = 1e-4


def render_clip(
    request: RenderRequest,
    progress: ProgressCallback | None = None,
    *,
    pipeline: "KeySyncPipeline",
    landmark_backend: LandmarkBackend,
    cancel: CancelToken | None = None,
    occlusion_masker: "OcclusionMasker | None" = None,
    analysis: ClipAnalysis | None = None,
    checked: "CheckedRequest | None" = None,
    callback_on_step_end: "PipelineStepCallback | None" = None,
) -> RenderResult:
    """Render `request` with loaded models: the source frames of its range with the lower face regenerated.

    Loading is the caller's (`keydub.core.engine.Engine.render` is the door every client uses); this function only
    renders.

    Args:
        request (`RenderRequest`): what to render.
        progress (`ProgressCallback | None`): receives each stage's progress (`Stage.LANDMARKS`,
            `Stage.LOAD_MODEL`, `Stage.CROP`, `Stage.KEYFRAMES` and `Stage.INTERPOLATION` steps, `Stage.RENDER`
            frames, ...), every total known before the stage starts and reached when it ends.
        cancel (`CancelToken | None`): checked at every progress point and after every denoising step; a
            cancelled render raises `RenderInterruptedError` and leaves no output file.
        pipeline (`KeySyncPipeline`): the loaded pipeline (its weights fix the crop size).
        landmark_backend (`LandmarkBackend`): the loaded landmark backend (the mouth QC, and the analysis when none
            is given).
        occlusion_masker (`OcclusionMasker | None`): a loaded SAM2 masker to reuse when there are occluders.
        analysis (`ClipAnalysis | None`): the clip's analysis (`analyse_clip`, any range of the same clip); then
            no landmark pass runs. Without one, the whole clip is tracked (so track ids are the clip's).
        checked (`CheckedRequest | None`): what `check_request(request)` found, when the caller checked already.
        callback_on_step_end (`PipelineStepCallback | None`): handed to the pipeline, called after every
            denoising step with the latents and the x0-prediction (a preview of the segment being generated).

    Returns:
        `RenderResult`. The output holds every source frame of the range in order, at the source's rate, size,
        colour tags and timecode; frames without the target face, and every pixel outside the blended mouth
        region, are the source's own pixels.

    Raises:
        `KeydubError` subclasses for bad input, before any model work where possible. An error, a cancel or
        Ctrl-C leaves no output file behind.
    """
    progress = cancellable(progress, cancel)
    timer = StageTimer()
    # 0. Check the inputs before any model work.
    with timer("check"):
        checked = checked or check_request(request)
        info, frames = checked.info, checked.frames
        start, end = frames
        dub = load_dub_audio(request, checked, frames.frame_count)
    # 1. Find the target face on every frame of the range (from the clip's analysis when there is one).
    with timer(Stage.LANDMARKS):
        clip = analysis_for(request, analysis, landmark_backend, frames, progress)
    # 2. The model's weights fix the crop size.
    with timer(Stage.LOAD_MODEL):
        report(progress, Stage.LOAD_MODEL, 0, 1)
        clip = clip.for_range(start, end, crop_size=pipeline.frame_size[0])
        report(progress, Stage.LOAD_MODEL, 1, 1)
    # 3. Occluders: per-frame source-resolution masks (cached by prompt), kept out of the regenerated region.
    with timer(Stage.OCCLUSION):
        occluders = occluder_masks(request, frames, clip.face, occlusion_masker, progress)
    # 4. Generate each face segment and paste it back while writing every frame of the range in order.
    renderer = SegmentRenderer(pipeline, request, clip, occluders, dub, timer, progress, cancel, callback_on_step_end)
    mouth = MouthTracker(landmark_backend, frames.frame_count)
    with (
        renderer,
        FrameReader(request.video, info=info) as reader,
        VideoWriter(
            request.output,
            like=info,
            codec=request.options.codec,
            overwrite=request.overwrite,
            audio=output_audio(request, checked, start),
            first_source_frame=start,
        ) as writer,
        BackgroundWriter(writer) as encoder,
    ):
        decoded = reader.read(start, end, high_bit_depth=info.bit_depth > 8)
        for offset in range(frames.frame_count):
            with timer(Stage.DECODE):
                frame = next(decoded)
            generated = renderer.generated(offset)
            if generated is not None:
                with timer("paste back"):
                    crop = crop_to_pixels(generated, frame.dtype)
                    frame = renderer.paste_back(offset, frame, crop)
                with timer("mouth QC"):
                    mouth.measure(offset, crop)
            with timer("encode queue"):
                encoder.write(frame)
            report(progress, Stage.RENDER, offset + 1, frames.frame_count)
    timer.seconds["encode"] = encoder.encode_seconds
    # 5. Report what was done; then sign the output and record it in its folder's usage record.
    result = RenderResult(
        output=request.output,
        frame_count=frames.frame_count,
        passed_through=clip.face.passed_through(start),
        report=disclose_render(
            request,
            build_report(request, info, frames, dub, clip, mouth, timer, pipeline),
            pipeline.weight_sources,
        ),
    )
    if request.report is not None:
        write_json_atomically(request.report, result.report)
    return result


# ----------------------------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckedRequest:
    """What checking a request found, kept for the render so nothing is probed twice.

    Args:
        info (`MediaInfo`): the clip's probe.
        frames (`FrameRange`): the source frames to render.
        dub (`AudioStreamInfo`): the dub's audio stream.
    """

    info: MediaInfo
    frames: FrameRange
    dub: AudioStreamInfo


def check_request(request: RenderRequest) -> CheckedRequest:
    """Everything about a request that can be wrong before any model work: the clip (constant frame rate), the
    range, the outputs and the dub's stream."""
    info = probe(request.video)
    require_constant_frame_rate(info)
    frames = frame_range(request, info)
    check_output(request)
    dub = dub_stream(request)
    if request.options.keep_source_audio and not info.audio_streams:
        raise InvalidParameterError(
            f"--keep-source-audio: {request.video} has no sound to keep; leave the option out "
            "to put the dub under the picture, or render a clip that has sound"
        )
    return CheckedRequest(info, frames, dub)


def frame_range(request: RenderRequest, info: MediaInfo) -> FrameRange:
    """The request's source frames, checked against the clip."""
    end = info.frame_count if request.end_frame is None else request.end_frame
    check_range(info, request.start_frame, end)
    return FrameRange(request.start_frame, end)


def analysis_for(
    request: RenderRequest,
    analysis: ClipAnalysis | None,
    backend: LandmarkBackend,
    frames: FrameRange,
    progress: ProgressCallback | None,
) -> ClipAnalysis:
    """The request's range, face and identity from `analysis` (checked to be of the request's clip), or from a
    new whole-clip analysis with `backend` when there is none."""
    start, end = frames
    if analysis is None:
        return analyse_clip(
            request.video, start, end, backend, face=request.face, identity=request.options.identity, progress=progress
        )
    if Path(analysis.video).resolve() != Path(request.video).resolve():
        raise InvalidParameterError(
            f"the clip analysis is of {analysis.video}, not of the clip to render {request.video}; analyse that clip"
        )
    return analysis.for_range(start, end, face=request.face, identity=request.options.identity)


def check_output(request: RenderRequest) -> None:
    """Refuse an output or report (or the output's credentials sidecar) that would replace an input or an existing
    file, before any work is done."""
    outputs = {"output": request.output, "report": request.report}
    for sidecar in credential_files(request.output):
        outputs["Content Credentials"] = sidecar
    check_outputs(
        outputs,
        inputs={"video": request.video, "audio": request.audio},
        overwrite=request.overwrite,
    )


@dataclass(frozen=True)
class DubAudio:
    """The dub under the range at the model's 16 kHz, and how it was fitted to the picture.

    Args:
        waveform (`np.ndarray`): float32 mono, exactly the range's duration long.
        padded_seconds (`Fraction`): silence added at the end because the dub ran out.
        trimmed_seconds (`Fraction`): dub left unused after the range's end.
        is_silent (`bool`): the dub under the range is silence.
    """

    waveform: np.ndarray
    padded_seconds: Fraction
    trimmed_seconds: Fraction
    is_silent: bool


def dub_stream(request: RenderRequest) -> AudioStreamInfo:
    """The dub's audio stream, refused when it has no samples."""
    stream = audio_stream_info(request.audio)
    if not stream.duration or stream.duration <= 0:
        raise AudioError(f"the dub audio {request.audio} has no samples; export the dub again")
    return stream


def load_dub_audio(request: RenderRequest, checked: CheckedRequest, frame_count: int) -> DubAudio:
    """Load the dub under the range: shifted by the offset, cut when longer, padded with silence when shorter."""
    duration = Fraction(frame_count) / checked.info.frame_rate
    # A dub delayed by `audio_offset` seconds is heard at dub time -offset under the range's first frame.
    dub_start = -Fraction(request.audio_offset)
    stream = checked.dub
    samples = load_audio(request.audio, MODEL_SAMPLE_RATE, start=dub_start, duration=duration)
    if samples.size == 0:
        raise AudioError(
            f"the dub audio {request.audio} ends before the picture starts (offset {float(request.audio_offset):+.3f}"
            " s); check --audio-offset"
        )
    wanted = round(duration * MODEL_SAMPLE_RATE)
    waveform = np.zeros(wanted, dtype=np.float32)
    waveform[: min(wanted, samples.size)] = samples[:wanted]
    padded = Fraction(max(0, wanted - samples.size), MODEL_SAMPLE_RATE)
    trimmed = max(Fraction(0), Fraction(stream.duration) - dub_start - duration)
    return DubAudio(waveform, padded, trimmed, bool(np.abs(waveform).max() < SILENCE_PEAK))


def load_pipeline(request: RenderRequest) -> "KeySyncPipeline":
    """The KeySync pipeline of the request's weights, device and precision (`Engine.pipeline` keeps one per key)."""
    from keydub.core.devices import resolve_device, resolve_dtype
    from keydub.core.model.pipeline import KeySyncPipeline

    options = request.options
    device = resolve_device(options.device)
    return KeySyncPipeline.from_pretrained(
        options.weights,
        options.vae,
        options.hubert,
        options.wavlm,
        torch_dtype=resolve_dtype(options.dtype, device),
        device=device,
    )


def occluder_masks(
    request: RenderRequest,
    frames: FrameRange,
    face: TargetFace,
    masker: "OcclusionMasker | None",
    progress: ProgressCallback | None,
) -> "CachedOcclusionMasks | None":
    """The occluders' per-frame masks of the range, or `None` when the request has no occluder prompts."""
    if not request.occluders:
        return None
    from keydub.core.occlusion import occluder_masks_for_range

    return occluder_masks_for_range(
        request.video, frames, request.occluders, face_boxes=face.boxes, masker=masker, progress=progress
    )


def output_audio(request: RenderRequest, checked: CheckedRequest, start: int) -> AudioSpec | None:
    """The sound of the output: the dub (offset applied) or, when asked, the source's own."""
    if not request.options.keep_source_audio:
        return AudioSpec.from_file(request.audio, start=-Fraction(request.audio_offset), stream_info=checked.dub)
    if not checked.info.audio_streams:
        return None
    return AudioSpec.from_file(request.video, start=checked.info.frame_time(start))


class SegmentRenderer:
    """Generates the face crops of each segment on demand, in frame order, one pass of segments in flight at a time.

    A pass is one segment, or several consecutive short ones whose keyframe batches fit in one generation round
    (`segment_passes`): they are generated together (`KeySyncPipeline.generate_many`), so their U-Net calls are
    shared. Before a pass's first frame is asked for, its segments' crops and masks are cut from the source into disk
    caches and the pipeline is started on them; the pipeline's chunks are then handed out frame by frame.

    Crop and denoising-step progress counts over the whole render (every pass's planned steps are known up front),
    so each stage's total is reached once, at its end.
    """

    def __init__(
        self,
        pipeline: "KeySyncPipeline",
        request: RenderRequest,
        clip: ClipAnalysis,
        occluders: "CachedOcclusionMasks | None",
        dub: DubAudio,
        timer: "StageTimer",
        progress: ProgressCallback | None,
        cancel: CancelToken | None = None,
        callback_on_step_end: "PipelineStepCallback | None" = None,
    ) -> None:
        self.pipeline, self.request, self.info = pipeline, request, clip.info
        self.callback_on_step_end = callback_on_step_end
        self.first_source_frame, self.face, self.windows = clip.start, clip.face, clip.windows
        self.occluders, self.dub, self.timer, self.progress, self.cancel = occluders, dub, timer, progress, cancel
        self.segments = self.face.segments()
        self.sampling = request.options.sampling()
        self.identity_frames = list(clip.identity_frames)
        # Fixed once, so the planned steps and the passes' rounds agree even where it depends on free GPU memory.
        self.batches_per_round = pipeline.keyframe_batches_per_round()
        lengths = [b - a for a, b in self.segments]
        self.passes = segment_passes(lengths, self.batches_per_round, pipeline.window_length)
        steps = [
            pipeline.planned_steps(
                [lengths[s] for s in segments], self.sampling, batches_per_round=self.batches_per_round
            )
            for segments in self.passes
        ]
        self._steps_before = [sum(steps[:i]) for i in range(len(steps))]
        self._steps_total = sum(steps)
        self._crop_frames = sum(lengths)
        self._pass, self._segment = -1, -1
        self._caches: dict[int, CropCache] = {}
        self._chunks: Prefetched[tuple[int, int, Any]] | None = None
        self._chunk_segment, self._chunk_start, self._chunk = -1, 0, None

    def generated(self, offset: int) -> Any:
        """The generated `[3, S, S]` crop for range frame `offset`, or `None` when it passes through."""
        segment = next((i for i, (a, b) in enumerate(self.segments) if a <= offset < b), None)
        if segment is None:
            return None
        pass_index = next(p for p, segments in enumerate(self.passes) if segment in segments)
        if pass_index != self._pass:
            self._start_pass(pass_index)
        self._segment = segment
        local = offset - self.segments[segment][0]
        # Chunks come segment by segment, each in frame order, as the frames are asked for.
        while not (
            self._chunk_segment == segment and self._chunk_start <= local < self._chunk_start + len(self._chunk)
        ):
            with self.timer("generate"):
                clip_index, self._chunk_start, self._chunk = next(self._chunks)
            self._chunk_segment = self.passes[self._pass][clip_index]
        return self._chunk[local - self._chunk_start]

    def paste_back(self, offset: int, frame: np.ndarray, crop: np.ndarray) -> np.ndarray:
        """Blend a generated crop into range frame `offset`; occluder pixels stay the source's exactly."""
        window = self.windows[offset]
        region = self._caches[self._segment].masks[offset - self.segments[self._segment][0]]
        feather = self.request.options.feather
        if self.occluders is None:
            return paste_back(frame, crop, window, region, feather=feather)
        return paste_back_with_occluders(
            frame, crop, window, region, self.occluders.union(self.first_source_frame + offset), feather=feather
        )

    def _start_pass(self, pass_index: int) -> None:
        from keydub.core.model.pipeline import DubbingInput

        self._close_pass()
        clips = []
        for segment in self.passes[pass_index]:
            a = self.segments[segment][0]
            cache = self._caches[segment] = self._cut_crops(segment)
            first_sample = round(Fraction(a) / self.info.frame_rate * MODEL_SAMPLE_RATE)
            identity = self.identity_frames[segment] - a
            clips.append(DubbingInput(cache.frames, cache.region_masks, self.dub.waveform[first_sample:], identity))
        chunks = self.pipeline.generate_many(
            clips,
            frame_rate=self.info.frame_rate,
            sampling=self.sampling,
            progress=self._render_wide(pass_index),
            cancel=self.cancel,
            callback_on_step_end=self.callback_on_step_end,
            batches_per_round=self.batches_per_round,
        )
        # The next window is generated while this thread pastes back and queues the frames of the last one.
        self._chunks = Prefetched(chunks, depth=1, name="keydub-generate")
        self._pass, self._chunk_segment, self._chunk_start, self._chunk = pass_index, -1, 0, None

    def _cut_crops(self, segment: int) -> CropCache:
        """The segment's crops and leak-proof masks (occluders kept out), cut from the source into a disk cache."""
        a, b = self.segments[segment]
        size = self.pipeline.frame_size[0]
        high_bit_depth = self.info.bit_depth > 8
        cache = CropCache(b - a, size, np.uint16 if high_bit_depth else np.uint8)
        try:
            self._fill_crops(cache, segment, high_bit_depth)
        except BaseException:  # an error or a Ctrl-C before the pass owns the cache: its scratch folder goes now
            cache.close()
            raise
        return cache

    def _fill_crops(self, cache: CropCache, segment: int, high_bit_depth: bool) -> None:
        a, b = self.segments[segment]
        size = self.pipeline.frame_size[0]
        with self.timer("crop"), FrameReader(self.request.video, info=self.info) as reader:
            source = self.first_source_frame
            for i, frame in enumerate(reader.read(source + a, source + b, high_bit_depth=high_bit_depth)):
                window = self.windows[a + i]
                cache.crops[i] = warp_to_crop(frame, window)
                region = leakproof_mask(window.to_crop(self.face.landmarks[a + i]), size)
                if self.occluders is not None:
                    occluder = occluder_crop_mask(self.occluders.union(source + a + i), window)
                    region = combine_with_occluders(region, occluder)
                cache.masks[i] = region
                report(self.progress, Stage.CROP, self._crops_before(segment) + i + 1, self._crop_frames)

    def _crops_before(self, segment: int) -> int:
        """Crop frames of the segments before `segment`."""
        return sum(b - a for a, b in self.segments[:segment])

    def _render_wide(self, pass_index: int) -> ProgressCallback | None:
        """The pipeline's progress with its step counts turned into counts over the whole render."""
        if self.progress is None:
            return None
        progress, before, total = self.progress, self._steps_before[pass_index], self._steps_total

        def whole_render(event: Progress) -> None:
            if event.unit == Unit.STEPS:
                event = replace(event, done=before + event.done, total=total)
            progress(event)

        return whole_render

    def __enter__(self) -> "SegmentRenderer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_pass()

    def _close_pass(self) -> None:
        # The generating thread reads the crop caches: stop it before the caches go.
        if self._chunks is not None:
            self._chunks.close()
            self._chunks = None
        for cache in self._caches.values():
            cache.close()
        self._caches.clear()


def segment_passes(lengths: list[int], batches_per_round: int, window_length: int) -> list[list[int]]:
    """Group consecutive face segments into generation passes.

    A segment joins the pass before it while the pass's keyframe batches still fit in one round, so short segments
    share U-Net calls; a segment with a round's worth of batches or more has a pass of its own. With one batch per
    round (the default batch size) every segment is its own pass. A pass's crops are cached on disk together, so
    the joined segments hold at most one round's frames (at most 157 per batch).

    Args:
        lengths (`list[int]`): frames per segment, in order.
        batches_per_round (`int`): the pipeline's `keyframe_batches_per_round()`.
        window_length (`int`): the model's sequence length (14).

    Returns:
        `list[list[int]]`: segment indices per pass, in order.
    """
    passes: list[list[int]] = []
    batches_in_pass = 0
    for segment, length in enumerate(lengths):
        batches = len(plan_dubbing(length, window_length=window_length).batches)
        if passes and batches_in_pass + batches <= batches_per_round:
            passes[-1].append(segment)
            batches_in_pass += batches
        else:
            passes.append([segment])
            batches_in_pass = batches
    return passes


class MouthTracker:
    """The output mouth's aspect ratio per frame, measured on the generated crops (NaN where nothing was made).

    It gives every render a lip-sync QC series (and the share of open-mouth frames) without a second pass.
    """

    def __init__(self, backend: LandmarkBackend, frame_count: int) -> None:
        self._backend = backend
        self.landmarks = np.full((frame_count, 68, 2), np.nan, dtype=np.float32)

    def measure(self, offset: int, crop: np.ndarray) -> None:
        pixels = crop if crop.dtype == np.uint8 else (crop >> 8).astype(np.uint8)
        faces = self._backend.detect(pixels)
        if faces:
            largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            self.landmarks[offset] = largest.landmarks

    def series(self) -> np.ndarray:
        return mar_series(self.landmarks)


class StageTimer:
    """Wall-clock seconds per stage, summed over however many times a stage runs (stages interleave)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - began


def build_report(
    request: RenderRequest,
    info: MediaInfo,
    frames: FrameRange,
    dub: DubAudio,
    clip: ClipAnalysis,
    mouth: MouthTracker,
    timer: StageTimer,
    pipeline: "KeySyncPipeline",
) -> dict[str, Any]:
    """The render's JSON report: inputs and hashes, parameters, weights, frames, faces, timings, mouth QC."""
    start, end = frames
    face = clip.face
    mar = mouth.series()
    measured = mar[np.isfinite(mar)]
    notes = []
    if dub.padded_seconds:
        notes.append(f"the dub is {float(dub.padded_seconds):.3f} s shorter than the picture: padded with silence")
    if dub.trimmed_seconds:
        notes.append(f"the dub runs {float(dub.trimmed_seconds):.3f} s past the picture: cut")
    if dub.is_silent:
        notes.append("the dub is silent under the whole range: the mouth should stay closed")
    return {
        "keydub_report": 1,
        "inputs": {
            "video": {"path": str(Path(request.video).absolute()), "sha256": sha256_file(request.video)},
            "audio": {"path": str(Path(request.audio).absolute()), "sha256": sha256_file(request.audio)},
        },
        "output": str(Path(request.output).absolute()),
        "parameters": request.to_dict(),
        "weights": describe_weights(request, pipeline),
        "frames": {
            "range": [start, end],
            "timecode": {"in": info.timecode_at(start), "out": info.timecode_at(end - 1)},
            "frame_rate": str(info.frame_rate),
            "written": end - start,
            "generated": int(face.present.sum()),
            "passed_through": [{"frame": frame, "reason": reason} for frame, reason in face.passed_through(start)],
        },
        "face": {
            "coverage": face.coverage(),
            "segments": [[start + a, start + b] for a, b in face.segments()],
            "identity_frames": [start + i for i in clip.identity_frames],
            "track_ids": sorted({int(i) for i in face.track_ids if i >= 0}),
        },
        "audio": {
            "padded_seconds": float(dub.padded_seconds),
            "trimmed_seconds": float(dub.trimmed_seconds),
            "is_silent": dub.is_silent,
        },
        "notes": notes,
        "timings_seconds": {stage: round(seconds, 3) for stage, seconds in timer.seconds.items()},
        "mouth": {
            "mar": [None if not np.isfinite(v) else round(float(v), 4) for v in mar],
            "lipleak_threshold": LIPLEAK_THRESHOLD,
            "open_share": lipleak(mar) if measured.size else None,
        },
    }


def describe_weights(request: RenderRequest, pipeline: "KeySyncPipeline") -> dict[str, Any]:
    """Which weights ran, where and in what precision (the sources as requested: hub ids, folders or defaults)."""
    return {
        "keysync": request.options.weights or "default",
        "vae": request.options.vae or "default",
        "hubert": request.options.hubert or "default",
        "wavlm": request.options.wavlm or "default",
        "device": str(pipeline.device),
        "dtype": str(pipeline.dtype).removeprefix("torch."),
        "crop_size": pipeline.frame_size[0],
    }

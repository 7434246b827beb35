"""The product's main job: one source clip + dub audio -> the same clip with the lower face regenerated.

`render_clip(request, progress)` reads top to bottom as the render path of the architecture document. Its
request and result types live in `keydub.core.render.request` (light to import).
"""

import time
import warnings
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
from keydub.core.faces.active_speaker import UNSURE_BELOW
from keydub.core.faces.target import NO_FACE, TargetFace
from keydub.core.files import check_outputs, sha256_file, write_json_atomically
from keydub.core.frame_range import FrameRange
from keydub.core.media import FrameReader, MediaInfo, probe, require_constant_frame_rate
from keydub.core.media.audio import AudioStreamInfo, audio_stream_info, load_audio
from keydub.core.media.writer import AudioSpec, BackgroundWriter, VideoWriter
from keydub.core.metrics import LIPLEAK_THRESHOLD, lipleak, mar_series
from keydub.core.model.planner import plan_dubbing
from keydub.core.prefetch import Prefetched
from keydub.core.progress import Progress, ProgressCallback, Stage, Unit, report
from keydub.core.render.lanes import NOT_SPEAKING, FaceLane, LanePlan, plan_lanes, refuse_overlapping
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
        dubs = load_dubs(request, checked, frames.frame_count)
    # 1. Find the faces on every frame of the range (from the clip's analysis when there is one).
    with timer(Stage.LANDMARKS):
        clip = analysis_for(request, analysis, landmark_backend, frames, progress)
    # 1b. With the active speaker, the original dialogue says who speaks where.
    speakers = None
    if request.active_speaker:
        from keydub.core.speakers import find_clip_speakers

        with timer("active speaker"):
            speakers = find_clip_speakers(clip, request.original_audio, progress=progress, cancel=cancel)
    # 2. The model's weights fix the crop size; each face to regenerate is a lane with its own dub.
    with timer(Stage.LOAD_MODEL):
        report(progress, Stage.LOAD_MODEL, 0, 1)
        clip = clip.for_range(start, end, crop_size=pipeline.frame_size[0])
        plan = plan_lanes(request, clip, speakers)
        refuse_overlapping(plan.lanes, (info.height, info.width), request.options.feather)
        report(progress, Stage.LOAD_MODEL, 1, 1)
    lanes = plan.lanes
    # 3. Occluders: per-frame source-resolution masks (cached by prompt), kept out of the regenerated region.
    with timer(Stage.OCCLUSION):
        occluders = occluder_masks(request, frames, [lane.clip.face for lane in lanes], occlusion_masker, progress)
    # 4. Generate each face segment and paste it back while writing every frame of the range in order.
    lane_dubs = [dubs[Path(lane.speaker.audio), Fraction(lane.speaker.audio_offset)] for lane in lanes]
    renderer = SegmentRenderer(
        pipeline, request, lanes, lane_dubs, occluders, timer, progress, cancel, callback_on_step_end
    )
    mouths = [MouthTracker(landmark_backend, frames.frame_count) for _ in lanes]
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
            for segment, generated in renderer.generated(offset):
                with timer("paste back"):
                    crop = crop_to_pixels(generated, frame.dtype)
                    frame = renderer.paste_back(offset, frame, segment, crop)
                with timer("mouth QC"):
                    mouths[renderer.segment_lanes[segment]].measure(offset, crop)
            with timer("encode queue"):
                encoder.write(frame)
            report(progress, Stage.RENDER, offset + 1, frames.frame_count)
    timer.seconds["encode"] = encoder.encode_seconds
    # 5. Report what was done.
    passed = passed_through(plan, clip, start)
    result = RenderResult(
        output=request.output,
        frame_count=frames.frame_count,
        passed_through=passed,
        report=build_report(request, info, frames, plan, passed, lane_dubs, mouths, timer, pipeline),
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
        dubs (`dict[Path, AudioStreamInfo]`): the audio stream of every dub file (the request's and each
            speaker's own).
    """

    info: MediaInfo
    frames: FrameRange
    dubs: dict[Path, AudioStreamInfo]


def check_request(request: RenderRequest) -> CheckedRequest:
    """Everything about a request that can be wrong before any model work: the clip (constant frame rate), the
    range, the speakers, the outputs and the dubs' streams."""
    info = probe(request.video)
    require_constant_frame_rate(info)
    frames = frame_range(request, info)
    check_speakers(request)
    check_output(request)
    files = [request.audio] if request.audio is not None else []
    files += [speaker.audio for speaker in request.face_speakers() if speaker.audio is not None]
    dubs = {Path(file): dub_stream(file) for file in dict.fromkeys(files)}
    if request.original_audio is not None:
        audio_stream_info(request.original_audio)
    if request.options.keep_source_audio and not info.audio_streams:
        raise InvalidParameterError(
            f"--keep-source-audio: {request.video} has no sound to keep; leave the option out "
            "to put the dub under the picture, or render a clip that has sound"
        )
    return CheckedRequest(info, frames, dubs)


def check_speakers(request: RenderRequest) -> None:
    """Refuse speakers that cannot be rendered as asked: no face named, no dub, one face named twice."""
    if request.original_audio is not None and not request.active_speaker:
        raise InvalidParameterError(
            "--original-audio says where to find who speaks: it goes with --active-speaker; add it or leave the "
            "original out"
        )
    faces = set()
    for number, speaker in enumerate(request.speakers, 1):
        who = speaker.name or f"speaker {number}"
        face = speaker.face
        if face.point is None and face.track_id is None:
            raise InvalidParameterError(
                f"{who} names no face; give it a click (X,Y or X,Y@FRAME), a track id or a character of the cast"
            )
        if speaker.audio is None and request.audio is None:
            raise InvalidParameterError(f"{who} has no dub: give it its own (FACE=AUDIO) or the shot's with --audio")
        if face in faces:
            raise InvalidParameterError(f"{who} names a face another speaker already names; give each its own face")
        faces.add(face)
        for a, b in speaker.frames or ():
            if not 0 <= a < b:
                raise InvalidParameterError(f"{who}'s frames {a}-{b} are not a range [start, end) of source frames")
    if request.audio is None and not request.speakers:
        raise InvalidParameterError("there is no dub audio: give --audio, or speakers with their own")


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
    """Refuse an output or report that would replace an input or an existing file, before any work is done."""
    inputs = {"video": request.video, "audio": request.audio, "original audio": request.original_audio}
    for number, speaker in enumerate(request.speakers, 1):
        inputs[f"speaker {number} audio"] = speaker.audio
    check_outputs({"output": request.output, "report": request.report}, inputs=inputs, overwrite=request.overwrite)


@dataclass(frozen=True)
class DubAudio:
    """A dub under the range at the model's 16 kHz, and how it was fitted to the picture.

    Args:
        path (`Path`): the dub's file.
        waveform (`np.ndarray`): float32 mono, exactly the range's duration long.
        padded_seconds (`Fraction`): silence added at the end because the dub ran out.
        trimmed_seconds (`Fraction`): dub left unused after the range's end.
        is_silent (`bool`): the dub under the range is silence.
    """

    path: Path
    waveform: np.ndarray
    padded_seconds: Fraction
    trimmed_seconds: Fraction
    is_silent: bool


def dub_stream(audio: Path) -> AudioStreamInfo:
    """A dub's audio stream, refused when it has no samples."""
    stream = audio_stream_info(audio)
    if not stream.duration or stream.duration <= 0:
        raise AudioError(f"the dub audio {audio} has no samples; export the dub again")
    return stream


def load_dubs(
    request: RenderRequest, checked: CheckedRequest, frame_count: int
) -> dict[tuple[Path, Fraction], DubAudio]:
    """Every dub of the request's speakers under the range, by file and offset."""
    wanted = {(Path(s.audio), Fraction(s.audio_offset)) for s in request.face_speakers() if s.audio is not None}
    return {key: load_dub_audio(*key, checked, frame_count) for key in sorted(wanted)}


def load_dub_audio(audio: Path, offset: Fraction, checked: CheckedRequest, frame_count: int) -> DubAudio:
    """Load a dub under the range: shifted by its offset, cut when longer, padded with silence when shorter."""
    duration = Fraction(frame_count) / checked.info.frame_rate
    # A dub delayed by `offset` seconds is heard at dub time -offset under the range's first frame.
    dub_start = -offset
    stream = checked.dubs[audio]
    samples = load_audio(audio, MODEL_SAMPLE_RATE, start=dub_start, duration=duration)
    if samples.size == 0:
        raise AudioError(
            f"the dub audio {audio} ends before the picture starts (offset {float(offset):+.3f} s); check "
            "--audio-offset"
        )
    wanted = round(duration * MODEL_SAMPLE_RATE)
    waveform = np.zeros(wanted, dtype=np.float32)
    waveform[: min(wanted, samples.size)] = samples[:wanted]
    padded = Fraction(max(0, wanted - samples.size), MODEL_SAMPLE_RATE)
    trimmed = max(Fraction(0), Fraction(stream.duration) - dub_start - duration)
    return DubAudio(audio, waveform, padded, trimmed, bool(np.abs(waveform).max() < SILENCE_PEAK))


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
    faces: list[TargetFace],
    masker: "OcclusionMasker | None",
    progress: ProgressCallback | None,
) -> "CachedOcclusionMasks | None":
    """The occluders' per-frame masks of the range, or `None` when the request has no occluder prompts. The tracked
    region surrounds every face the render regenerates."""
    if not request.occluders:
        return None
    from keydub.core.occlusion import occluder_masks_for_range

    boxes = np.stack([face.boxes for face in faces]) if faces else np.full((1, frames.frame_count, 4), np.nan)
    with warnings.catch_warnings():  # frames without any face are all-NaN rows, as the masker expects
        warnings.simplefilter("ignore", RuntimeWarning)
        union = np.concatenate([np.nanmin(boxes[..., :2], axis=0), np.nanmax(boxes[..., 2:], axis=0)], axis=1).astype(
            np.float32
        )
    return occluder_masks_for_range(
        request.video, frames, request.occluders, face_boxes=union, masker=masker, progress=progress
    )


def output_audio(request: RenderRequest, checked: CheckedRequest, start: int) -> AudioSpec | None:
    """The sound of the output: the dub (offset applied) or, when asked or when there is no one dub, the source's."""
    if request.audio is not None and not request.options.keep_source_audio:
        audio = Path(request.audio)
        return AudioSpec.from_file(audio, start=-Fraction(request.audio_offset), stream_info=checked.dubs[audio])
    if not checked.info.audio_streams:
        return None
    return AudioSpec.from_file(request.video, start=checked.info.frame_time(start))


class SegmentRenderer:
    """Generates the face crops of each segment on demand, in frame order, one pass of segments in flight at a time.

    A segment is a run of frames of one lane's face (`FaceLane`). A pass is one segment, the segments of several
    lanes that play at the same time, or several consecutive short ones whose keyframe batches fit in one
    generation round (`segment_passes`): they are generated together (`KeySyncPipeline.generate_many`), so their
    U-Net calls are shared and the faces of one shot come out side by side. Before a pass's first frame is asked
    for, its segments' crops and masks are cut from the source into disk caches and the pipeline is started on them;
    the pipeline's chunks are then handed out frame by frame.

    Crop and denoising-step progress counts over the whole render (every pass's planned steps are known up front),
    so each stage's total is reached once, at its end.
    """

    def __init__(
        self,
        pipeline: "KeySyncPipeline",
        request: RenderRequest,
        lanes: tuple[FaceLane, ...],
        dubs: list[DubAudio],
        occluders: "CachedOcclusionMasks | None",
        timer: "StageTimer",
        progress: ProgressCallback | None,
        cancel: CancelToken | None = None,
        callback_on_step_end: "PipelineStepCallback | None" = None,
    ) -> None:
        self.pipeline, self.request = pipeline, request
        self.callback_on_step_end = callback_on_step_end
        self.lanes, self.dubs = lanes, dubs
        self.info = lanes[0].clip.info if lanes else None
        self.first_source_frame = lanes[0].clip.start if lanes else 0
        self.occluders, self.timer, self.progress, self.cancel = occluders, timer, progress, cancel
        # Every lane's segments in frame order (lane order breaking ties), with their lane and identity frame.
        runs = sorted(
            (a, lane, b, identity)
            for lane, item in enumerate(lanes)
            for (a, b), identity in zip(item.clip.face.segments(), item.clip.identity_frames, strict=True)
        )
        self.segments = [(a, b) for a, _, b, _ in runs]
        self.segment_lanes = [lane for _, lane, _, _ in runs]
        self.identity_frames = [identity for *_, identity in runs]
        self.sampling = request.options.sampling()
        # Fixed once, so the planned steps and the passes' rounds agree even where it depends on free GPU memory.
        self.batches_per_round = pipeline.keyframe_batches_per_round()
        self.passes = segment_passes(self.segments, self.batches_per_round, pipeline.window_length)
        steps = [
            pipeline.planned_steps(
                [self.segments[s][1] - self.segments[s][0] for s in segments],
                self.sampling,
                batches_per_round=self.batches_per_round,
                starts=[self.segments[s][0] for s in segments],
            )
            for segments in self.passes
        ]
        self._steps_before = [sum(steps[:i]) for i in range(len(steps))]
        self._steps_total = sum(steps)
        self._crop_frames = sum(b - a for a, b in self.segments)
        self._pass = -1
        self._caches: dict[int, CropCache] = {}
        self._chunks: Prefetched[tuple[int, int, Any]] | None = None
        # Per segment of the pass in flight: the chunks generated and not yet handed out, as (first frame, chunk).
        self._ready: dict[int, list[tuple[int, Any]]] = {}

    def generated(self, offset: int) -> list[tuple[int, Any]]:
        """`(segment, crop)`: the generated `[3, S, S]` crop of every segment on range frame `offset` (none when the
        frame passes through)."""
        segments = [i for i, (a, b) in enumerate(self.segments) if a <= offset < b]
        if not segments:
            return []
        pass_index = next(p for p, members in enumerate(self.passes) if segments[0] in members)
        if pass_index != self._pass:
            self._start_pass(pass_index)
        return [(segment, self._crop(segment, offset - self.segments[segment][0])) for segment in segments]

    def _crop(self, segment: int, local: int) -> Any:
        """Frame `local` of a segment, from its chunks (pulled from the pipeline until there)."""
        ready = self._ready.setdefault(segment, [])
        while True:
            # Chunks come in frame order per segment: those wholly before `local` are done with.
            while ready and ready[0][0] + len(ready[0][1]) <= local:
                ready.pop(0)
            if ready and ready[0][0] <= local:
                first, chunk = ready[0]
                return chunk[local - first]
            with self.timer("generate"):
                clip_index, first, chunk = next(self._chunks)
            self._ready.setdefault(self.passes[self._pass][clip_index], []).append((first, chunk))

    def paste_back(self, offset: int, frame: np.ndarray, segment: int, crop: np.ndarray) -> np.ndarray:
        """Blend a segment's generated crop into range frame `offset`; occluder pixels stay the source's exactly."""
        window = self.lanes[self.segment_lanes[segment]].clip.windows[offset]
        region = self._caches[segment].masks[offset - self.segments[segment][0]]
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
            waveform = self.dubs[self.segment_lanes[segment]].waveform[first_sample:]
            clips.append(DubbingInput(cache.frames, cache.region_masks, waveform, identity))
        chunks = self.pipeline.generate_many(
            clips,
            frame_rate=self.info.frame_rate,
            sampling=self.sampling,
            progress=self._render_wide(pass_index),
            cancel=self.cancel,
            callback_on_step_end=self.callback_on_step_end,
            batches_per_round=self.batches_per_round,
            starts=[self.segments[segment][0] for segment in self.passes[pass_index]],
        )
        # The next window is generated while this thread pastes back and queues the frames of the last one.
        self._chunks = Prefetched(chunks, depth=1, name="keydub-generate")
        self._pass = pass_index

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
        clip = self.lanes[self.segment_lanes[segment]].clip
        size = self.pipeline.frame_size[0]
        with self.timer("crop"), FrameReader(self.request.video, info=self.info) as reader:
            source = self.first_source_frame
            for i, frame in enumerate(reader.read(source + a, source + b, high_bit_depth=high_bit_depth)):
                window = clip.windows[a + i]
                cache.crops[i] = warp_to_crop(frame, window)
                region = leakproof_mask(window.to_crop(clip.face.landmarks[a + i]), size)
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
        self._ready.clear()


def segment_passes(segments: list[tuple[int, int]], batches_per_round: int, window_length: int) -> list[list[int]]:
    """Group face segments, in order of their first frame, into generation passes.

    A segment that starts before the pass before it has ended (another face of the same frames) joins it: frames
    are written in order, so every face on a frame must be generating at once. Otherwise a segment joins the pass
    before it while the pass's keyframe batches still fit in one round, so short segments share U-Net calls; a
    segment with a round's worth of batches or more has a pass of its own. With one face and one batch per round
    (the default batch size) every segment is its own pass. A pass's crops are cached on disk together.

    Args:
        segments (`list[tuple[int, int]]`): `[start, end)` frames of each segment, sorted by start.
        batches_per_round (`int`): the pipeline's `keyframe_batches_per_round()`.
        window_length (`int`): the model's sequence length (14).

    Returns:
        `list[list[int]]`: segment indices per pass, in order.
    """
    passes: list[list[int]] = []
    batches_in_pass = pass_end = 0
    for segment, (start, end) in enumerate(segments):
        batches = len(plan_dubbing(end - start, window_length=window_length).batches)
        if passes and (start < pass_end or batches_in_pass + batches <= batches_per_round):
            passes[-1].append(segment)
            batches_in_pass += batches
            pass_end = max(pass_end, end)
        else:
            passes.append([segment])
            batches_in_pass, pass_end = batches, end
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


def passed_through(plan: LanePlan, clip: ClipAnalysis, start: int) -> tuple[tuple[int, str], ...]:
    """Source frames no lane regenerates, each with why: no face, or the lane's reason for holding its face back."""
    frames = []
    for offset in range(clip.end - clip.start):
        if any(lane.clip.face.present[offset] for lane in plan.lanes):
            continue
        held = next((lane.withheld for lane in plan.lanes if lane.clip.windows[offset] is not None), None)
        if held is None and plan.speakers is not None and clip.face.present[offset]:
            held = NOT_SPEAKING
        frames.append((start + offset, held or NO_FACE))
    return tuple(frames)


def build_report(
    request: RenderRequest,
    info: MediaInfo,
    frames: FrameRange,
    plan: LanePlan,
    passed: tuple[tuple[int, str], ...],
    dubs: list[DubAudio],
    mouths: list[MouthTracker],
    timer: StageTimer,
    pipeline: "KeySyncPipeline",
) -> dict[str, Any]:
    """The render's JSON report: inputs and hashes, parameters, weights, frames, faces (all speakers together and
    each on its own), the original dialogue's turns, timings, mouth QC."""
    start, end = frames
    hashes = {path: sha256_file(path) for path in dict.fromkeys([Path(d.path) for d in dubs] + _dub_files(request))}
    present = np.zeros(end - start, dtype=bool)
    for lane in plan.lanes:
        present |= lane.clip.face.present
    mar = np.full(end - start, np.nan, dtype=np.float32)
    for mouth in reversed(mouths):  # the first speaker's where two are measured on one frame
        series = mouth.series()
        mar = np.where(np.isfinite(series), series, mar)
    measured = mar[np.isfinite(mar)]
    distinct = {id(dub): dub for dub in dubs}.values()
    notes = [note for dub in distinct for note in _dub_notes(dub, several=len(hashes) > 1)]
    notes += [
        f"source frames {start + turn.start}-{start + turn.end - 1}: no face is sure to speak in the original "
        f"dialogue (confidence {turn.confidence:.2f} < {UNSURE_BELOW}); left untouched"
        for turn in plan.unsure
    ]
    inputs = {"video": _file_entry(Path(request.video), sha256_file(request.video))}
    if request.audio is not None:
        inputs["audio"] = _file_entry(Path(request.audio), hashes[Path(request.audio)])
    report = {
        "keydub_report": 1,
        "inputs": inputs,
        "output": str(Path(request.output).absolute()),
        "parameters": request.to_dict(),
        "weights": describe_weights(request, pipeline),
        "frames": {
            "range": [start, end],
            "timecode": {"in": info.timecode_at(start), "out": info.timecode_at(end - 1)},
            "frame_rate": str(info.frame_rate),
            "written": end - start,
            "generated": int(present.sum()),
            "passed_through": [{"frame": frame, "reason": reason} for frame, reason in passed],
        },
        "face": {
            "coverage": float(present.mean()) if present.size else 0.0,
            "segments": sorted([start + a, start + b] for lane in plan.lanes for a, b in lane.clip.face.segments()),
            "identity_frames": sorted(start + i for lane in plan.lanes for i in lane.clip.identity_frames),
            "track_ids": sorted({int(i) for lane in plan.lanes for i in lane.clip.face.track_ids if i >= 0}),
        },
        "speakers": [
            _speaker_report(lane, dub, mouth, hashes[dub.path], start)
            for lane, dub, mouth in zip(plan.lanes, dubs, mouths, strict=True)
        ],
        "audio": {
            "padded_seconds": float(max((d.padded_seconds for d in dubs), default=0)),
            "trimmed_seconds": float(max((d.trimmed_seconds for d in dubs), default=0)),
            "is_silent": all(d.is_silent for d in dubs),
        },
        "notes": notes,
        "timings_seconds": {stage: round(seconds, 3) for stage, seconds in timer.seconds.items()},
        "mouth": {
            "mar": [None if not np.isfinite(v) else round(float(v), 4) for v in mar],
            "lipleak_threshold": LIPLEAK_THRESHOLD,
            "open_share": lipleak(mar) if measured.size else None,
        },
    }
    if plan.speakers is not None:
        report["active_speaker"] = plan.speakers.to_dict(start)
    return report


def _file_entry(path: Path, sha256: str) -> dict[str, str]:
    return {"path": str(path.absolute()), "sha256": sha256}


def _dub_files(request: RenderRequest) -> list[Path]:
    return [Path(file) for file in [request.audio] + [s.audio for s in request.speakers] if file is not None]


def _dub_notes(dub: DubAudio, several: bool) -> list[str]:
    """What fitting a dub to the picture did, naming the file when there are several."""
    which = f" {dub.path.name}" if several else ""
    notes = []
    if dub.padded_seconds:
        seconds = float(dub.padded_seconds)
        notes.append(f"the dub{which} is {seconds:.3f} s shorter than the picture: padded with silence")
    if dub.trimmed_seconds:
        notes.append(f"the dub{which} runs {float(dub.trimmed_seconds):.3f} s past the picture: cut")
    if dub.is_silent:
        notes.append(f"the dub{which} is silent under the whole range: the mouth should stay closed")
    return notes


def _speaker_report(lane: FaceLane, dub: DubAudio, mouth: MouthTracker, sha256: str, start: int) -> dict[str, Any]:
    face, speaker = lane.clip.face, lane.speaker
    mar = mouth.series()
    return {
        "name": speaker.name,
        "label": lane.label,
        "face": speaker.face.to_dict(),
        "track_ids": sorted({int(i) for i in face.track_ids if i >= 0}),
        "segments": [[start + a, start + b] for a, b in face.segments()],
        "identity_frames": [start + i for i in lane.clip.identity_frames],
        "generated": int(face.present.sum()),
        "withheld": lane.withheld,
        "audio": {**_file_entry(dub.path, sha256), "offset": str(speaker.audio_offset)},
        "consent": speaker.consent,
        "open_share": lipleak(mar) if np.isfinite(mar).any() else None,
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

"""One check of Keydub's speed and memory on a GPU: every figure in one run, within a time budget.

Builds every model at its real size with random weights (SVD's VAE, HuBERT Base, WavLM Base+, the two KeySync
U-Nets; nothing is downloaded) and measures, most important first:

- the FLOP budget of a 250-frame render and the least time it takes at a stated peak (counted on the meta device);
- the pipeline on 250 frames (10 s at 25 fps) in bf16, fp16 and fp32, eager and with `torch.compile`: seconds per
  output second, U-Net calls (checked against the plan), time per call, and the VAE encode/decode and
  audio-feature shares;
- the deviation of bf16 and fp16 from fp32 on the same inputs and seed (max and mean |delta| of the decoded crops
  in 8-bit code values);
- U-Net call time and peak memory per sequences-per-call, with channels-last, and VAE decode in bf16;
- peak GPU memory for a 10 s and a 60 s clip in each precision (one Euler step: memory does not depend on the
  number of steps, time does);
- `render_clip` end to end on the 1080x1920 test clip: seconds per output second and each stage's share;
- the device, driver and library versions.

Each measurement is isolated: an error or an out-of-memory is recorded and the check goes on; a measurement whose
estimated time no longer fits the budget is skipped and marked so. The JSON document goes to stdout (and to
`--output` after every measurement, so a killed run leaves what it had); a readable table goes to stderr.

Without CUDA (or with `--tiny`) the same code runs the test suite's tiny models in seconds; GPU-only figures are
marked "not run".

Usage:

    python benchmarks/gpu_check.py                          # GPU: about 8 minutes
    python benchmarks/gpu_check.py --budget 300 --output gpu_check.json
    python benchmarks/gpu_check.py --tiny                   # CPU smoke test
"""

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from keydub.core.model.flops import PEAK_RATES, flop_budget, unet_workload
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.model.planner import plan_dubbing
from keydub.core.model.sampler import ays_sigmas
from keydub.core.model.sampling import SamplingConfig


HERE = Path(__file__).resolve().parent
TESTDATA = HERE.parents[1] / "shared" / "testdata"
TEST_CLIP_NAME = "talking_1080x1920_25fps.mp4"
DUB_AUDIO_NAME = "speech_16k_mono_b.wav"
# dlib landmarks of the test clip, computed once, for machines without a landmark model (see `replay_backend`).
REPLAY_LANDMARKS = HERE / "data" / "talking_1080x1920_25fps_dlib_landmarks.npz"
FRAME_RATE = Fraction(25)
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
ONE_STEP = (700.0, 0.0)
NOT_ON_CPU = "needs a CUDA GPU"
COMPILE_ON_CPU = "torch.compile is measured on CUDA only (inductor's CPU build of these models takes minutes)"


@dataclass(frozen=True)
class CheckSize:
    """Clip lengths and model size of one check.

    Args:
        name (`str`): `"full"` or `"tiny"`.
        frames (`int`): frames of the timed pipeline runs.
        long_frames (`int`): frames of the long clip of the memory check.
        deviation_frames (`int`): frames of the precision comparison.
        render_frames (`int`): frames of the end-to-end render.
        batch_sizes (`tuple[int, ...]`): sequences per U-Net call to time.
        seconds_per_frame_guess (`float`): bf16 eager seconds per frame, before anything is measured.
    """

    name: str
    frames: int
    long_frames: int
    deviation_frames: int
    render_frames: int
    batch_sizes: tuple[int, ...]
    seconds_per_frame_guess: float


FULL = CheckSize("full", 250, 1500, 27, 250, (3, 6, 12, 15), 0.2)
TINY = CheckSize("tiny", 14, 56, 14, 5, (3, 6), 0.05)


def model_builders():
    """`model_throughput.py` beside this file: the full-size and tiny pipeline builders and the synthetic clip."""
    spec = importlib.util.spec_from_file_location("model_throughput", HERE / "model_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------------------------
# Bookkeeping: budget, isolation, report
# ----------------------------------------------------------------------------------------------------------------
class Check:
    """Runs measurements one at a time inside a time budget and keeps every result, good or bad."""

    def __init__(self, size: CheckSize, device: torch.device, budget_seconds: float, output: Path | None) -> None:
        self.size, self.device, self.output = size, device, output
        self.started = time.perf_counter()
        self.deadline = self.started + budget_seconds
        self.report: dict[str, Any] = {"keydub_gpu_check": 1, "size": size.name, "budget_seconds": budget_seconds}
        self.measurements: dict[str, dict[str, Any]] = {}
        self.report["measurements"] = self.measurements

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def seconds_left(self) -> float:
        return self.deadline - time.perf_counter()

    def measure(
        self,
        name: str,
        function: Callable[[], dict[str, Any]],
        *,
        estimate: float = 0.0,
        cuda_only: str | None = None,
        missing: str | None = None,
    ) -> dict[str, Any]:
        """Run `function` unless it cannot run here (`cuda_only` without CUDA, or `missing` input) or would not
        fit in the time left; record its figures or what went wrong."""
        if cuda_only and not self.is_cuda:
            result = {"status": "not run", "reason": cuda_only}
        elif missing:
            result = {"status": "not run", "reason": missing}
        elif estimate > self.seconds_left():
            result = {
                "status": "skipped",
                "reason": f"time budget: needs about {estimate:.0f} s, {max(self.seconds_left(), 0):.0f} s left",
            }
        else:
            print(f"[{time.perf_counter() - self.started:6.1f} s] {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            try:
                result = {"status": "ok", **function()}
            except torch.cuda.OutOfMemoryError as error:
                result = {"status": "out of memory", "error": str(error).splitlines()[0]}
            except Exception as error:  # one broken measurement must not stop the others
                result = {"status": "error", "error": f"{type(error).__name__}: {error}"[:600]}
            result["wall_seconds"] = round(time.perf_counter() - began, 2)
            release_memory()
        self.measurements[name] = result
        self.save()
        return result

    def save(self) -> None:
        self.report["elapsed_seconds"] = round(time.perf_counter() - self.started, 1)
        if self.output is not None:
            partial = self.output.with_name(self.output.name + ".partial")
            partial.write_text(json.dumps(self.report, indent=2))
            os.replace(partial, self.output)


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def environment(device: torch.device) -> dict[str, Any]:
    """Device, driver and library versions."""
    versions = {}
    for package in ("torch", "diffusers", "transformers", "av", "numpy", "face-alignment", "dlib-bin"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    info: dict[str, Any] = {
        "device": str(device),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info.update(
            gpu=properties.name,
            gpu_memory_gib=round(properties.total_memory / 2**30, 1),
            compute_capability=f"{properties.major}.{properties.minor}",
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            driver=nvidia_driver(),
            matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        )
    return info


def nvidia_driver() -> str | None:
    try:
        answer = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return answer.stdout.strip() or None


# ----------------------------------------------------------------------------------------------------------------
# Timing a pipeline run stage by stage
# ----------------------------------------------------------------------------------------------------------------
class StageClock:
    """Times the pipeline's U-Net calls, VAE encode and decode and audio features while it runs (CUDA events on
    a GPU, so nothing is synchronised mid-run)."""

    STAGES = {"encode_audio": "audio", "encode_span": "vae_encode", "decode_latents": "vae_decode"}

    def __init__(self, pipe: KeySyncPipeline) -> None:
        self.pipe = pipe
        self.is_cuda = pipe.device.type == "cuda"
        self.spans: dict[str, list[tuple[Any, Any]]] = {"unet": [], "vae_encode": [], "vae_decode": [], "audio": []}

    @contextmanager
    def running(self) -> Iterator["StageClock"]:
        methods = {name: getattr(self.pipe, name) for name in self.STAGES}
        unet_calls = dict(self.pipe._unet_calls)  # the modules or their compiled wrappers
        for name, stage in self.STAGES.items():
            setattr(self.pipe, name, self._timed(methods[name], stage))
        for key, call in unet_calls.items():
            self.pipe._unet_calls[key] = self._timed(call, "unet")
        try:
            yield self
        finally:
            for name in self.STAGES:
                delattr(self.pipe, name)
            self.pipe._unet_calls.update(unet_calls)

    def _timed(self, function: Callable, stage: str) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._mark()
            result = function(*args, **kwargs)
            self.spans[stage].append((start, self._mark()))
            return result

        return timed

    def _mark(self) -> Any:
        if not self.is_cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self) -> dict[str, float]:
        if self.is_cuda:
            torch.cuda.synchronize()
            return {stage: sum(a.elapsed_time(b) for a, b in spans) / 1000 for stage, spans in self.spans.items()}
        return {stage: sum(b - a for a, b in spans) for stage, spans in self.spans.items()}


def run_pipeline(
    pipe: KeySyncPipeline, clip: Any, num_frames: int, *, sigmas: tuple[float, ...] | None = None, keep: bool = False
) -> tuple[dict[str, Any], torch.Tensor | None]:
    """One timed run over a synthetic clip; the figures, and the decoded crops as 8-bit code values if `keep`."""
    size = pipe.frame_size[0]
    frames, masks = clip(num_frames, size), clip(num_frames, size, masks=True)
    waveform = (0.1 * np.random.default_rng(0).standard_normal(num_frames * 640)).astype(np.float32)
    schedule = sigmas or ays_sigmas(10)
    clock = StageClock(pipe)
    if clock.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    kept, delivered, non_finite = [], 0, 0
    began = time.perf_counter()
    with clock.running():
        for _, chunk in pipe(frames, masks, waveform, frame_rate=FRAME_RATE, sampling=SamplingConfig(sigmas=schedule)):
            delivered += len(chunk)
            non_finite += int((~torch.isfinite(chunk)).sum())
            if keep:
                kept.append(((chunk.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
        stages = clock.seconds()
    seconds = time.perf_counter() - began
    if delivered != num_frames:
        raise RuntimeError(f"the pipeline delivered {delivered} of {num_frames} frames")
    expected = unet_workload(plan_dubbing(num_frames), len(schedule) - 1, pipe.sequences_per_unet_call())
    calls = len(clock.spans["unet"])
    figures = {
        "frames": num_frames,
        "non_finite_values": non_finite,
        "euler_steps": len(schedule) - 1,
        "sequences_per_unet_call": pipe.sequences_per_unet_call(),
        "keyframe_batches_per_round": pipe.keyframe_batches_per_round(),
        "seconds": round(seconds, 3),
        "seconds_per_output_second": round(seconds / float(num_frames / FRAME_RATE), 3),
        "unet_calls": calls,
        "unet_calls_planned": expected.calls,
        "unet_frame_evaluations_planned": expected.frame_evaluations,
        "seconds_per_unet_call": round(stages["unet"] / max(calls, 1), 4),
        "stage_seconds": {stage: round(value, 3) for stage, value in stages.items()},
        "stage_share": {stage: round(value / seconds, 3) for stage, value in stages.items()},
    }
    if clock.is_cuda:
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return figures, (torch.cat(kept) if keep else None)


def deviation(crops: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Max and mean |delta| between two runs' decoded crops, in 8-bit code values."""
    delta = (crops.int() - reference.int()).abs()
    return {"max_abs_delta": int(delta.max()), "mean_abs_delta": round(float(delta.float().mean()), 4)}


def time_unet_calls(pipe: KeySyncPipeline, sequences: int, repeats: int) -> dict[str, Any]:
    """Time `repeats` keyframe U-Net calls of `sequences` 14-frame sequences (after one warm-up call)."""
    unet = pipe.keyframe_unet
    latent = pipe.learned_mask.shape[-1]
    config = unet.config
    generator = torch.Generator(device=pipe.device).manual_seed(0)
    sample = torch.randn(
        sequences,
        config.num_frames,
        config.in_channels,
        latent,
        latent,
        generator=generator,
        device=pipe.device,
        dtype=pipe.dtype,
    )
    audio = torch.randn(
        sequences,
        config.num_frames,
        config.cross_attention_dim,
        generator=generator,
        device=pipe.device,
        dtype=pipe.dtype,
    )
    noise_level = torch.tensor(1.0, device=pipe.device)
    with torch.inference_mode(), pipe._attention_kernels():
        unet(sample, noise_level, audio)
        synchronize(pipe.device)
        if pipe.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        began = time.perf_counter()
        for _ in range(repeats):
            unet(sample, noise_level, audio)
        synchronize(pipe.device)
    seconds = (time.perf_counter() - began) / repeats
    figures = {
        "sequences": sequences,
        "seconds_per_call": round(seconds, 4),
        "seconds_per_sequence": round(seconds / sequences, 4),
    }
    if pipe.device.type == "cuda":
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return figures


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------------------------
# End-to-end render
# ----------------------------------------------------------------------------------------------------------------
class ReplayLandmarks:
    """A landmark backend that hands out landmarks detected beforehand, source frame by source frame, in order.

    For machines with neither landmark model installed: the render's other stages are then measured as they
    are, and its `landmarks` share is only the replay's. Crops (the render's mouth QC) get no landmarks.
    """

    name = "replay"

    def __init__(self, path: Path, frame_shape: tuple[int, int]) -> None:
        from keydub.core.faces.detection import FaceDetection

        stored = np.load(path)
        self._detections = [
            [] if not np.isfinite(box[0]) else [FaceDetection(tuple(map(float, box[:4])), float(box[4]), points)]
            for box, points in zip(stored["boxes"], stored["landmarks"], strict=True)
        ]
        self._shape, self._next = frame_shape, 0

    def detect(self, frame_rgb: np.ndarray) -> list:
        if frame_rgb.shape[:2] != self._shape:
            return []
        detections = self._detections[self._next]
        self._next += 1
        return detections


def landmark_backend(use_models: bool, clip: Path) -> tuple[Any, str]:
    """The best landmark backend this machine has (`use_models`): face-alignment (weights cached), else dlib; else
    the replay of precomputed landmarks."""
    from keydub.core.errors import KeydubError
    from keydub.core.faces import get_landmark_backend
    from keydub.core.media import probe

    for name in ("face-alignment", "dlib") if use_models else ():
        try:
            return get_landmark_backend(name), name
        except KeydubError:
            continue
    info = probe(clip)
    return ReplayLandmarks(REPLAY_LANDMARKS, (info.height, info.width)), "replay of precomputed dlib landmarks"


def render_end_to_end(
    pipe: KeySyncPipeline, num_frames: int, testdata: Path, *, detect_landmarks: bool
) -> dict[str, Any]:
    """`render_clip` of the test clip's first `num_frames` frames to ProRes, with `pipe`; landmarks detected by
    the best installed backend (`detect_landmarks`) or replayed."""
    from keydub.core.media import probe
    from keydub.core.render import RenderOptions, RenderRequest, render_clip

    clip, dub = testdata / TEST_CLIP_NAME, testdata / DUB_AUDIO_NAME
    info = probe(clip)
    frames = min(num_frames, info.frame_count)
    backend, backend_name = landmark_backend(detect_landmarks, clip)
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "render.mov"
        request = RenderRequest(
            video=clip, audio=dub, output=output, end_frame=frames, options=RenderOptions(codec="prores")
        )
        began = time.perf_counter()
        result = render_clip(request, pipeline=pipe, landmark_backend=backend)
        seconds = time.perf_counter() - began
    stages = result.report["timings_seconds"]
    return {
        "clip": f"{clip.name} ({info.width}x{info.height})",
        "frames": frames,
        "generated_frames": result.report["frames"]["generated"],
        "landmarks": backend_name,
        "seconds": round(seconds, 2),
        "seconds_per_output_second": round(seconds / float(frames / info.frame_rate), 3),
        "stage_seconds": stages,
        "stage_share": {stage: round(value / seconds, 3) for stage, value in stages.items()},
        "note": "encode runs on its own thread and overlaps the other stages; 'encode queue' is time spent waiting",
    }


# ----------------------------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------------------------
class Pipelines:
    """One built pipeline at a time (full-size models in three precisions do not need to coexist)."""

    def __init__(self, size: CheckSize, device: torch.device) -> None:
        self.size, self.device, self.models = size, device, model_builders()
        self._key, self._pipe = None, None

    def get(self, precision: str, *, compile: bool = False) -> KeySyncPipeline:
        if self._key != (precision, compile):
            self._pipe = None
            release_memory()
            dtype = PRECISIONS[precision]
            if self.size.name == "full":
                pipe = self.models.full_size_pipeline(self.device, dtype)
            else:
                pipe = self.models.tiny_pipeline().to(self.device, dtype)
            if compile:
                pipe.enable_torch_compile()
            self._key, self._pipe = (precision, compile), pipe
        return self._pipe

    def clip(self, *args: Any, **kwargs: Any) -> Any:
        return self.models.SyntheticClip(*args, **kwargs)


def run_check(
    size: CheckSize, device: torch.device, budget: float, output: Path | None, testdata: Path = TESTDATA
) -> dict[str, Any]:
    check = Check(size, device, budget, output)
    check.report["environment"] = environment(device)
    pipelines = Pipelines(size, device)
    per_frame = {"bf16": size.seconds_per_frame_guess}  # eager seconds per frame, updated as runs finish
    crops: dict[str, torch.Tensor] = {}

    def estimate(precision: str, frames: int, *, steps: int = 11, compile_seconds: float = 0.0) -> float:
        slower = {"bf16": 1.0, "fp16": 1.0, "fp32": 4.0}[precision]
        base = per_frame.get(precision, per_frame["bf16"] * slower)
        return base * frames * (0.3 + 0.7 * steps / 11) + compile_seconds + 15

    def timed_run(precision: str, *, compile: bool = False) -> dict[str, Any]:
        pipe = pipelines.get(precision, compile=compile)
        # Warm-up: kernels chosen, graphs compiled; a 27-frame clip has both call shapes of the timed run.
        began = time.perf_counter()
        run_pipeline(pipe, pipelines.clip, min(27, size.frames), sigmas=ONE_STEP)
        warm_up = time.perf_counter() - began
        figures, _ = run_pipeline(pipe, pipelines.clip, size.frames)
        if not compile:
            per_frame[precision] = figures["seconds"] / size.frames
        return {"warm_up_seconds": round(warm_up, 2), **figures}

    def official_batching_run() -> dict[str, Any]:
        # The same run at the official 3 sequences per call, one keyframe batch per round: what "auto" batching and
        # rounds gain.
        pipe = pipelines.get("bf16")
        pipe.unet_batch_size = 3
        try:
            return timed_run("bf16")
        finally:
            pipe.unet_batch_size = "auto"

    def deviation_run(precision: str) -> dict[str, Any]:
        pipe = pipelines.get(precision)
        # The fp32 reference runs convolutions in true fp32 (PyTorch lets cuDNN use TF32 by default).
        previous = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = precision != "fp32"
        try:
            figures, crops[precision] = run_pipeline(pipe, pipelines.clip, size.deviation_frames, keep=True)
        finally:
            torch.backends.cudnn.allow_tf32 = previous
        if precision != "fp32" and "fp32" in crops:
            figures["against_fp32"] = deviation(crops[precision], crops["fp32"])
        return figures

    def memory_run(precision: str) -> dict[str, Any]:
        pipe = pipelines.get(precision)
        short, _ = run_pipeline(pipe, pipelines.clip, size.frames, sigmas=ONE_STEP)
        long, _ = run_pipeline(pipe, pipelines.clip, size.long_frames, sigmas=ONE_STEP)
        return {
            "euler_steps": 1,
            "peak_gpu_memory_gib": {
                f"{size.frames / 25:g} s": short.get("peak_gpu_memory_gib"),
                f"{size.long_frames / 25:g} s": long.get("peak_gpu_memory_gib"),
            },
            "growth_gib": round(long.get("peak_gpu_memory_gib", 0) - short.get("peak_gpu_memory_gib", 0), 3),
        }

    def batch_sweep() -> dict[str, Any]:
        pipe = pipelines.get("bf16")
        rows = [time_unet_calls(pipe, sequences, repeats=3) for sequences in size.batch_sizes]
        figures: dict[str, Any] = {"calls": rows}
        if device.type == "cuda" and len(rows) > 1:
            first, last = rows[0], rows[-1]
            added = (last["peak_gpu_memory_gib"] - first["peak_gpu_memory_gib"]) * 2**30
            figures["activation_bytes_per_sequence"] = int(added / (last["sequences"] - first["sequences"]))
        figures["auto_sequences_per_call"] = pipe.sequences_per_unet_call()  # what "auto" picks under 12 GiB
        pipe.enable_channels_last()
        figures["channels_last"] = time_unet_calls(pipe, size.batch_sizes[0], repeats=3)
        pipelines._key = None  # the layout changed: rebuild before the next measurement
        return figures

    def vae_decode_precisions() -> dict[str, Any]:
        from keydub.core.model.vae import decode_latents

        pipe = pipelines.get("bf16")
        latent = pipe.learned_mask.shape[-1]
        latents = torch.randn(14, 4, latent, latent, generator=torch.Generator().manual_seed(0)).to(device)
        results = {}
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            torch.nn.Module.to(pipe.vae, dtype=dtype)
            with torch.inference_mode():
                decode_latents(pipe.vae, latents[:2], chunk_size=2)
                synchronize(device)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                began = time.perf_counter()
                frames = decode_latents(pipe.vae, latents, chunk_size=pipe.decode_chunk_size)
                synchronize(device)
            results[name] = {
                "seconds_per_frame": round((time.perf_counter() - began) / len(latents), 4),
                "frames": ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu(),
            }
            if device.type == "cuda":
                results[name]["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        pipelines._key = None  # the VAE went through bf16: rebuild before the next measurement
        results["bf16"]["against_fp32"] = deviation(results["bf16"].pop("frames"), results["fp32"].pop("frames"))
        return {"decode_chunk_size": pipe.decode_chunk_size, **results}

    check.measure("flop_budget", lambda: flop_budget(250).to_dict() | {"peak_rates_flops": PEAK_RATES})
    bf16_estimate = estimate("bf16", size.frames)
    check.measure("pipeline_bf16_eager", lambda: timed_run("bf16"), estimate=bf16_estimate)
    check.measure("pipeline_bf16_eager_unet_batch_3", official_batching_run, estimate=bf16_estimate)
    check.measure(
        "deviation_fp32_reference", lambda: deviation_run("fp32"), estimate=estimate("fp32", size.deviation_frames) * 2
    )
    for precision in ("bf16", "fp16"):
        check.measure(
            f"deviation_{precision}",
            lambda p=precision: deviation_run(p),
            estimate=estimate(precision, size.deviation_frames),
        )
    check.measure("unet_batch_sizes", batch_sweep, estimate=20)
    check.measure("vae_decode_precision", vae_decode_precisions, estimate=10)
    check.measure(
        "memory_bf16",
        lambda: memory_run("bf16"),
        cuda_only=NOT_ON_CPU,
        estimate=estimate("bf16", size.frames + size.long_frames, steps=1),
    )
    # The tiny check replays landmarks: detecting them on 1080p frames would dominate a CPU smoke test.
    check.measure(
        "render_clip_bf16",
        lambda: render_end_to_end(pipelines.get("bf16"), size.render_frames, testdata, detect_landmarks=size is FULL),
        estimate=estimate("bf16", size.render_frames) * 1.5 + 20,
        missing=None
        if all((testdata / name).is_file() for name in (TEST_CLIP_NAME, DUB_AUDIO_NAME))
        else f"test media not found in {testdata}",
    )
    check.measure("pipeline_fp16_eager", lambda: timed_run("fp16"), estimate=estimate("fp16", size.frames))
    check.measure(
        "pipeline_bf16_compiled",
        lambda: timed_run("bf16", compile=True),
        cuda_only=COMPILE_ON_CPU,
        estimate=estimate("bf16", size.frames, compile_seconds=150),
    )
    for precision in ("fp16", "fp32"):
        check.measure(
            f"memory_{precision}",
            lambda p=precision: memory_run(p),
            cuda_only=NOT_ON_CPU,
            estimate=estimate(precision, size.frames + size.long_frames, steps=1),
        )
    check.measure("pipeline_fp32_eager", lambda: timed_run("fp32"), estimate=estimate("fp32", size.frames))
    for precision in ("fp16", "fp32"):
        check.measure(
            f"pipeline_{precision}_compiled",
            lambda p=precision: timed_run(p, compile=True),
            cuda_only=COMPILE_ON_CPU,
            estimate=estimate(precision, size.frames, compile_seconds=150),
        )
    check.report["elapsed_seconds"] = round(time.perf_counter() - check.started, 1)
    check.save()
    return check.report


# ----------------------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------------------
def summary_line(name: str, result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"{name:<28} {result['status']}: {result.get('reason') or result.get('error')}"
    if name == "flop_budget":
        minimum = result["min_seconds_per_output_second"]
        return (
            f"{name:<28} {result['total_pflop']:.2f} PFLOP for {result['num_frames']} frames "
            f"({result['workload']['frame_evaluations']} U-Net frame evaluations); minimum "
            + ", ".join(f"{value:.2f} s/s at {rate}" for rate, value in minimum.items())
        )
    if name.startswith("pipeline_") or name.startswith("deviation_"):
        share = result["stage_share"]
        line = (
            f"{name:<28} {result['seconds_per_output_second']:.3f} s per output s, {result['unet_calls']} U-Net "
            f"calls (plan {result['unet_calls_planned']}; {result['sequences_per_unet_call']} seq/call, "
            f"{result['keyframe_batches_per_round']} batches/round), {result['seconds_per_unet_call']:.4f} s/call, "
            "shares "
            f"unet {share['unet']:.2f} vae enc {share['vae_encode']:.2f} dec {share['vae_decode']:.2f} "
            f"audio {share['audio']:.2f}"
        )
        if "peak_gpu_memory_gib" in result:
            line += f", peak {result['peak_gpu_memory_gib']} GiB"
        if "against_fp32" in result:
            delta = result["against_fp32"]
            line += f"; vs fp32 max |d| {delta['max_abs_delta']} mean {delta['mean_abs_delta']} (8-bit codes)"
        return line
    if name.startswith("memory_"):
        return f"{name:<28} peak GiB {result['peak_gpu_memory_gib']}, growth {result['growth_gib']} GiB"
    if name == "unet_batch_sizes":
        calls = ", ".join(f"{row['sequences']}: {row['seconds_per_sequence']:.4f} s/seq" for row in result["calls"])
        return f"{name:<28} {calls}; channels-last {result['channels_last']['seconds_per_sequence']:.4f} s/seq"
    if name == "vae_decode_precision":
        bf16 = result["bf16"]
        return (
            f"{name:<28} fp32 {result['fp32']['seconds_per_frame']:.4f} s/frame, bf16 "
            f"{bf16['seconds_per_frame']:.4f} s/frame (max |d| {bf16['against_fp32']['max_abs_delta']})"
        )
    if name.startswith("render_clip"):
        shares = ", ".join(f"{k} {v:.2f}" for k, v in sorted(result["stage_share"].items(), key=lambda kv: -kv[1]))
        return f"{name:<28} {result['seconds_per_output_second']:.3f} s per output s ({result['landmarks']}); {shares}"
    return f"{name:<28} ok"


def print_table(report: dict[str, Any]) -> None:
    env = report["environment"]
    device = env.get("gpu") or f"CPU ({env['cpu_count']} cores)"
    print(
        f"Keydub GPU check ({report['size']} models) on {device}, torch {env['versions']['torch']}, "
        f"diffusers {env['versions']['diffusers']}, driver {env.get('driver')}",
        file=sys.stderr,
    )
    for name, result in report["measurements"].items():
        print("  " + summary_line(name, result), file=sys.stderr)
    print(f"  total {report['elapsed_seconds']} s of a {report['budget_seconds']:g} s budget", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny models on any device (default without CUDA)")
    parser.add_argument("--budget", type=float, default=460.0, help="seconds the whole check may take (default 460)")
    parser.add_argument("--output", type=Path, help="also write the JSON document here (rewritten after each step)")
    parser.add_argument(
        "--testdata",
        type=Path,
        default=TESTDATA,
        help=f"folder with {TEST_CLIP_NAME} and {DUB_AUDIO_NAME} (default: {TESTDATA})",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all cores; 1 for the tiny models)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = TINY if args.tiny or device.type != "cuda" else FULL
    # The tiny models gain nothing from more threads, and on a busy machine threads waiting for each other make
    # them many times slower.
    threads = args.threads or (1 if size is TINY else None)
    if threads:
        torch.set_num_threads(threads)
    report = run_check(size, device, args.budget, args.output, args.testdata)
    print_table(report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

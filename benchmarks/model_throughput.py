"""Throughput of the KeySync pipeline: seconds of compute per second of 25 fps output, and peak memory.

Builds every component with random weights (nothing is downloaded): the full-size official configuration on a GPU,
the tiny test configuration otherwise (full-size models on a CPU take minutes per window). Generates a synthetic
clip of `--frames` frames (512x512 crops for the full size, 64x64 for the tiny one) with a lower-face mask and
noise as dub audio, and consumes the pipeline's output stream.

Usage:

    python benchmarks/model_throughput.py --frames 250 --dtype bf16        # GPU: full size
    python benchmarks/model_throughput.py --size tiny --frames 100         # CPU: tiny configuration
    python benchmarks/model_throughput.py --frames 250 --compile --json
"""

import argparse
import json
import resource
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLTemporalDecoder
from transformers import HubertConfig, HubertModel, WavLMConfig, WavLMModel

from keydub.core.audio.features import HubertFeatures, WavLMFeatures
from keydub.core.model.audio_projector import AudioProjector
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.model.sampling import SamplingConfig
from keydub.core.model.unet import KeySyncUNet
from keydub.core.model.vae import SVD_VAE_CONFIG


OUTPUT_FRAME_RATE = 25
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
FULL_LATENT_SIZE = 64  # 512x512 crops through the /8 VAE


class SyntheticClip:
    """`num_frames` crops (or masks) made on demand, so the benchmark holds no clip in memory either."""

    def __init__(self, num_frames: int, size: int, masks: bool = False) -> None:
        self.num_frames, self.size, self.masks = num_frames, size, masks
        ramp = torch.linspace(-0.8, 0.8, size)
        across, down = ramp[None, :].expand(size, -1), ramp[:, None].expand(-1, size)
        self.base = torch.stack([across, down, -across])

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: slice) -> torch.Tensor:
        frames = range(self.num_frames)[index]
        if self.masks:
            mask = torch.zeros(len(frames), 1, self.size, self.size)
            mask[..., self.size // 2 :, self.size // 4 : 3 * self.size // 4] = 1.0
            return mask
        generator = torch.Generator().manual_seed(frames.start if len(frames) else 0)
        noise = 0.1 * torch.randn(len(frames), 3, self.size, self.size, generator=generator)
        return (self.base + noise).clamp(-1.0, 1.0)


def full_size_pipeline(device: torch.device, dtype: torch.dtype, seed: int = 0, **options: int) -> KeySyncPipeline:
    """The official architecture with seeded random weights, built directly on `device` (the same weights for every
    `dtype`, so runs in different precisions compare). Weight matrices diffusers initialises to zero get small
    random values, so that every path carries signal as trained weights would."""
    torch.manual_seed(seed)
    with torch.device(device):
        pipe = KeySyncPipeline(
            vae=AutoencoderKLTemporalDecoder(**SVD_VAE_CONFIG),
            keyframe_unet=KeySyncUNet(in_channels=8),
            interpolation_unet=KeySyncUNet(in_channels=9),
            keyframe_audio_projector=AudioProjector(),
            interpolation_audio_projector=AudioProjector(),
            keyframe_audio=HubertFeatures(HubertModel(HubertConfig())),
            interpolation_audio=WavLMFeatures(WavLMModel(WavLMConfig())),
            learned_mask=torch.randn(4, FULL_LATENT_SIZE, FULL_LATENT_SIZE),
            **options,
        )
        with torch.no_grad():
            for model in (pipe.keyframe_unet, pipe.interpolation_unet, pipe.vae):
                for parameter in model.parameters():
                    if parameter.ndim > 1 and not parameter.any():
                        parameter.normal_(std=0.02)
    return pipe.to(device, dtype)


def tiny_pipeline(**options: int) -> KeySyncPipeline:
    """The test suite's tiny seeded configuration (64x64 crops)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_models import tiny_pipeline_components

    return KeySyncPipeline(**tiny_pipeline_components(), **options)


def run_clip(pipe: KeySyncPipeline, num_frames: int, num_steps: int) -> dict[str, float]:
    """Time one clip from the first call to the last delivered frame."""
    size = pipe.frame_size[0]
    frames, masks = SyntheticClip(num_frames, size), SyntheticClip(num_frames, size, masks=True)
    waveform = (0.1 * np.random.default_rng(0).standard_normal(num_frames * 640)).astype(np.float32)
    is_cuda = pipe.device.type == "cuda"
    if is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    first_chunk, delivered = None, 0
    sampling = SamplingConfig(steps=num_steps)
    for _, chunk in pipe(frames, masks, waveform, frame_rate=Fraction(OUTPUT_FRAME_RATE), sampling=sampling):
        delivered += len(chunk)
        first_chunk = first_chunk or time.perf_counter() - start
    if is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    assert delivered == num_frames, f"the pipeline delivered {delivered} of {num_frames} frames"
    return {
        "seconds": seconds,
        "seconds_to_first_chunk": first_chunk,
        "seconds_per_output_second": seconds / (num_frames / OUTPUT_FRAME_RATE),
        "frames_per_second": num_frames / seconds,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if is_cuda else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250, help="clip length in frames at 25 fps (default 250)")
    parser.add_argument(
        "--size",
        choices=("auto", "full", "tiny"),
        default="auto",
        help="model size: full on a GPU, tiny otherwise (default auto)",
    )
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="U-Net precision (default bf16)")
    parser.add_argument("--steps", type=int, default=10, help="AYS steps (default 10, the official setting)")
    parser.add_argument(
        "--unet-batch-size",
        type=lambda text: text if text == "auto" else int(text),
        default=3,
        help='sequences per U-Net call, or "auto" to fill the memory budget (default 3)',
    )
    parser.add_argument("--channels-last", action="store_true", help="channels-last convolution weights")
    parser.add_argument("--compile", action="store_true", help="torch.compile the U-Nets (a warm-up clip runs first)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the 14-frame warm-up clip")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = args.size if args.size != "auto" else ("full" if device.type == "cuda" else "tiny")
    options = {"unet_batch_size": args.unet_batch_size}
    built = time.perf_counter()
    if size == "full":
        pipe = full_size_pipeline(device, DTYPES[args.dtype], **options)
    else:
        pipe = tiny_pipeline(**options).to(device, DTYPES[args.dtype])
    if args.channels_last:
        pipe.enable_channels_last()
    if args.compile:
        pipe.enable_torch_compile()
    built = time.perf_counter() - built
    if not args.no_warmup:
        run_clip(pipe, 14, args.steps)
    result = run_clip(pipe, args.frames, args.steps)
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    report = {
        "device": device_name,
        "size": size,
        "frame_size": pipe.frame_size[0],
        "dtype": args.dtype,
        "frames": args.frames,
        "steps": args.steps,
        "unet_batch_size": args.unet_batch_size,
        "sequences_per_unet_call": pipe.sequences_per_unet_call(),
        "channels_last": args.channels_last,
        "compile": args.compile,
        "build_seconds": built,
        **result,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['device']}, {size} models at {report['frame_size']} px, {args.dtype}, {args.steps} steps")
    print(
        f"{args.frames} frames in {result['seconds']:.1f} s ({result['frames_per_second']:.2f} frames/s); "
        f"first chunk after {result['seconds_to_first_chunk']:.1f} s"
    )
    print(f"compute per output second at {OUTPUT_FRAME_RATE} fps: {result['seconds_per_output_second']:.2f} s")
    if result["peak_gpu_memory_gib"] is not None:
        print(f"peak GPU memory: {result['peak_gpu_memory_gib']:.2f} GiB")
    print(f"peak resident memory: {report['peak_rss_gib']:.2f} GiB")


if __name__ == "__main__":
    main()

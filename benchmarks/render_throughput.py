"""End-to-end render throughput: seconds per output second of `render_clip`, and the share of each stage.

Renders `--frames` frames of a real talking-face clip (by default the 1080x1920 test clip beside the project) with
random KeySync weights, so nothing is downloaded: the full-size official configuration on a GPU, the tiny test
configuration otherwise. Landmarks come from dlib (offline) unless `--landmarks face-alignment` is given.

Usage:

    python benchmarks/render_throughput.py --frames 250                  # GPU: full size, bf16
    python benchmarks/render_throughput.py --size tiny --frames 50       # CPU: tiny configuration
    python benchmarks/render_throughput.py --video shot.mov --audio dub.wav --json
"""

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import torch

from keydub.core.codecs import CODECS
from keydub.core.face_backends import LANDMARK_BACKENDS
from keydub.core.faces import get_landmark_backend
from keydub.core.media import probe
from keydub.core.render import RenderOptions, RenderRequest, render_clip


TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"


def _model_benchmark():
    """The pipeline builders of `model_throughput.py`, beside this file."""
    spec = importlib.util.spec_from_file_location("model_throughput", Path(__file__).with_name("model_throughput.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=TESTDATA / "talking_1080x1920_25fps.mp4")
    parser.add_argument("--audio", type=Path, default=TESTDATA / "speech_16k_mono_b.wav")
    parser.add_argument("--frames", type=int, default=250, help="frames to render from the start (default 250)")
    parser.add_argument(
        "--size",
        choices=("auto", "full", "tiny"),
        default="auto",
        help="model size: full on a GPU, tiny on a CPU (default auto)",
    )
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="bf16", help="U-Net precision on GPU")
    parser.add_argument("--codec", choices=tuple(CODECS), default="prores")
    parser.add_argument("--landmarks", choices=tuple(LANDMARK_BACKENDS), default="dlib")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    models = _model_benchmark()
    on_gpu = torch.cuda.is_available()
    size = args.size if args.size != "auto" else ("full" if on_gpu else "tiny")
    if size == "full":
        pipe = models.full_size_pipeline(torch.device("cuda" if on_gpu else "cpu"), models.DTYPES[args.dtype])
    else:
        pipe = models.tiny_pipeline()
    info = probe(args.video)
    frames = min(args.frames, info.frame_count)
    with tempfile.TemporaryDirectory() as scratch:
        suffix = CODECS[args.codec].container
        request = RenderRequest(
            video=args.video,
            audio=args.audio,
            output=Path(scratch) / f"out{suffix}",
            end_frame=frames,
            options=RenderOptions(codec=args.codec, landmark_backend=args.landmarks),
        )
        began = time.perf_counter()
        result = render_clip(request, pipeline=pipe, landmark_backend=get_landmark_backend(args.landmarks))
        seconds = time.perf_counter() - began
    output_seconds = float(frames / info.frame_rate)
    stages = result.report["timings_seconds"]
    figures = {
        "video": str(args.video),
        "resolution": f"{info.width}x{info.height}",
        "frames": frames,
        "model": size,
        "device": str(pipe.device),
        "seconds": round(seconds, 2),
        "seconds_per_output_second": round(seconds / output_seconds, 3),
        "stage_share": {stage: round(value / seconds, 3) for stage, value in stages.items()},
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if on_gpu else None,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"{frames} frames of {figures['resolution']} on {figures['device']} ({size} model): {seconds:.1f} s, "
        f"{figures['seconds_per_output_second']:.2f} s per output second"
    )
    for stage, share in sorted(figures["stage_share"].items(), key=lambda item: -item[1]):
        print(f"  {stage:<12} {100 * share:5.1f} %")
    print("  (encode runs on its own thread, overlapping the other stages; 'encode queue' is time spent waiting)")


if __name__ == "__main__":
    main()

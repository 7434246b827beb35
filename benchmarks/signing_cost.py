"""Cost of signing a render's Content Credentials (C2PA), next to the render itself.

Renders `--frames` frames of a real talking-face clip (by default the 1080x1920 test clip beside the project) with
random KeySync weights (the tiny test configuration: nothing is downloaded, it runs on a CPU), once to ProRes 422 HQ
.mov (manifest embedded: the file is read and written once) and once to FFV1 .mkv (sidecar: the file is read once),
each signed by the render itself (`render_clip` signs its output and appends its usage record line, and reports
both times beside its stages), then reads it back with `verify_credential`.

The outputs are full size, so the signing figures are what a real render pays; the render time is the tiny model's
on this machine, so the figure to compare with a real render is also given per output second, next to the model's
floor of 1.82 s of GPU per output second (README: the FLOP budget on one H100/H200).

The weights are not hashed here (they are in memory); `weight_file_hashes` caches its hashes by path, size and
time, so only the first render after the weights change reads them (about 2 s per GB on one core).

Usage:

    python benchmarks/signing_cost.py                        # 100 frames of the shared 1080x1920 clip
    python benchmarks/signing_cost.py --frames 250 --json
"""

import argparse
import importlib.util
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from keydub.core.face_backends import get_landmark_backend
from keydub.core.media import probe
from keydub.core.provenance import verify_credential
from keydub.core.render import RenderOptions, RenderRequest, render_clip


TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
# README: seconds of GPU per output second at the FLOP budget's floor on one H100/H200.
GPU_FLOOR_SECONDS_PER_OUTPUT_SECOND = 1.82


def _tiny_pipeline():
    """The tiny random pipeline of `model_throughput.py`, beside this file."""
    spec = importlib.util.spec_from_file_location("model_throughput", Path(__file__).with_name("model_throughput.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_pipeline()


def measure(video: Path, audio: Path, frames: int, codec: str, suffix: str, folder: Path, pipe) -> dict:
    """Render (which signs its output and records it), then verify one output; the figures in seconds and MB."""
    request = RenderRequest(
        video=video,
        audio=audio,
        output=folder / f"out{suffix}",
        end_frame=frames,
        options=RenderOptions(codec=codec, landmark_backend="dlib"),
    )
    began = time.perf_counter()
    result = render_clip(request, pipeline=pipe, landmark_backend=get_landmark_backend("dlib"))
    total_seconds = time.perf_counter() - began
    timings = result.report["timings_seconds"]
    sign_seconds, record_seconds = timings["sign"], timings["usage record"]
    render_seconds = total_seconds - sign_seconds - record_seconds
    began = time.perf_counter()
    verify_credential(request.output)
    verify_seconds = time.perf_counter() - began
    output_seconds = float(Fraction(frames) / probe(video).frame_rate)
    return {
        "codec": codec,
        "manifest": "sidecar" if result.report["provenance"]["sidecar"] else "embedded",
        "output_megabytes": round(request.output.stat().st_size / 2**20, 1),
        "render_seconds": round(render_seconds, 2),
        "sign_seconds": sign_seconds,
        "usage_record_seconds": record_seconds,
        "verify_seconds": round(verify_seconds, 3),
        "sign_share_of_tiny_render": round(sign_seconds / render_seconds, 4),
        "sign_seconds_per_output_second": round(sign_seconds / output_seconds, 4),
        "sign_share_of_gpu_floor": round(sign_seconds / (GPU_FLOOR_SECONDS_PER_OUTPUT_SECOND * output_seconds), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=TESTDATA / "talking_1080x1920_25fps.mp4")
    parser.add_argument("--audio", type=Path, default=TESTDATA / "speech_16k_mono_b.wav")
    parser.add_argument("--frames", type=int, default=100, help="frames to render from the start (default 100)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    info = probe(args.video)
    frames = min(args.frames, info.frame_count)
    pipe = _tiny_pipeline()
    with tempfile.TemporaryDirectory() as scratch:
        figures = [
            measure(args.video, args.audio, frames, codec, suffix, Path(scratch), pipe)
            for codec, suffix in (("prores", ".mov"), ("ffv1", ".mkv"))
        ]
    if args.json:
        print(json.dumps({"video": str(args.video), "frames": frames, "outputs": figures}, indent=2))
        return
    print(f"{frames} frames of {info.width}x{info.height} ({float(frames / info.frame_rate):.1f} s of output):")
    for row in figures:
        print(
            f"  {row['codec']:<6} {row['output_megabytes']:7.1f} MB, manifest {row['manifest']}: "
            f"sign {row['sign_seconds']:.3f} s ({row['sign_seconds_per_output_second']:.3f} s per output second, "
            f"{100 * row['sign_share_of_gpu_floor']:.1f} % of the GPU floor; "
            f"{100 * row['sign_share_of_tiny_render']:.2f} % of the tiny CPU render, {row['render_seconds']:.1f} s), "
            f"usage record {row['usage_record_seconds']:.3f} s, verify {row['verify_seconds']:.3f} s"
        )


if __name__ == "__main__":
    main()

"""Cost of the render's media path around the model, next to a bare PyAV transcode of the same clip.

The media path is everything a render does to a frame except generating it: decode, landmarks (dlib, the offline
backend), crop window + warp to the 512 crop + leakage-proof mask, an identity generator (the crop itself stands in
for the model), paste-back, ProRes 422 HQ encode. The bare path is PyAV alone: decode, convert to the encoder's
pixel format, encode with the same ProRes settings. The figure is the ratio of the two wall-clock times and each
stage's share of the media path.

As a by-product it checks the paste-back on real footage: every pixel outside `blend_region` must be the decoded
source pixel, and the identity round trip's PSNR inside the region is reported.

Usage:

    python benchmarks/media_path.py                                   # the shared 10 s 1080x1920 test clip
    python benchmarks/media_path.py --video shot.mov --frames 100 --json
"""

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from keydub.core.compositing.crop import blend_region, crop_windows, paste_back, warp_to_crop
from keydub.core.compositing.masks import leakproof_mask
from keydub.core.faces import get_landmark_backend, track_faces
from keydub.core.faces.target import choose_target_face
from keydub.core.media import FrameReader, probe
from keydub.core.media.writer import VideoWriter
from keydub.core.render import StageTimer


DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "talking_1080x1920_25fps.mp4"
# The writer's ProRes settings (`keydub.core.media.writer`), so both paths pay for the same encoder.
PRORES = {"profile": "3"}
PRORES_PIX_FMT = "yuv422p10le"


def timed(frames: Iterator[np.ndarray], timer: StageTimer, stage: str) -> Iterator[np.ndarray]:
    """Yield `frames`, adding the time spent producing each one to `stage`."""
    while True:
        with timer(stage):
            frame = next(frames, None)
        if frame is None:
            return
        yield frame


def bare_transcode(video: Path, output: Path, frame_count: int) -> float:
    """Seconds for PyAV alone to decode `frame_count` frames and encode them as ProRes 422 HQ."""
    began = time.perf_counter()
    with av.open(str(video)) as source, av.open(str(output), "w") as target:
        decoded = source.streams.video[0]
        stream = target.add_stream("prores_ks", rate=decoded.average_rate, options=dict(PRORES))
        stream.width, stream.height, stream.pix_fmt = decoded.width, decoded.height, PRORES_PIX_FMT
        for index, frame in enumerate(source.decode(decoded)):
            if index == frame_count:
                break
            target.mux(stream.encode(frame.reformat(format=PRORES_PIX_FMT)))
        target.mux(stream.encode())
    return time.perf_counter() - began


def media_path(video: Path, output: Path, frame_count: int, crop_size: int) -> tuple[float, StageTimer, dict]:
    """Seconds for the render's media path with an identity generator, the per-stage times and paste checks."""
    timer = StageTimer()
    began = time.perf_counter()
    info = probe(video)
    with timer("landmarks"), FrameReader(video, info=info) as reader:
        tracks = track_faces(timed(reader.read(0, frame_count), timer, "decode"), get_landmark_backend("dlib"))
    # The landmark pass decodes as it goes: that time is counted once, as decoding.
    timer.seconds["landmarks"] -= timer.seconds["decode"]
    with timer("crop"):
        face = choose_target_face(tracks, frame_count)
        windows = crop_windows(face.landmarks, output_size=crop_size)
    checks = {"frames_pasted": 0, "pixels_changed_outside_region": 0, "region_psnr_db": []}
    with FrameReader(video, info=info) as reader, VideoWriter(output, like=info, codec="prores") as writer:
        for offset, frame in enumerate(timed(reader.read(0, frame_count), timer, "decode")):
            window = windows[offset]
            if window is not None:
                with timer("crop"):
                    crop = warp_to_crop(frame, window)
                    region = leakproof_mask(window.to_crop(face.landmarks[offset]), crop_size)
                with timer("generate (identity)"):
                    generated = crop
                with timer("paste back"):
                    pasted = paste_back(frame, generated, window, region)
                checked = time.perf_counter()
                check_paste(frame, pasted, window, region, checks)
                began += time.perf_counter() - checked  # the checks are not part of the media path
                frame = pasted
            with timer("encode"):
                writer.write(frame)
    total = time.perf_counter() - began
    # Probing, opening, flushing and renaming the output: what no stage above accounts for.
    timer.seconds["other"] = total - sum(timer.seconds.values())
    return total, timer, checks


def check_paste(frame: np.ndarray, pasted: np.ndarray, window, region: np.ndarray, checks: dict) -> None:
    """Count changed pixels outside the blend region and record the region's PSNR (untimed)."""
    inside = blend_region(frame.shape, window, region)
    checks["frames_pasted"] += 1
    checks["pixels_changed_outside_region"] += int(np.any(frame[~inside] != pasted[~inside], axis=-1).sum())
    error = np.mean((frame[inside].astype(np.float64) - pasted[inside]) ** 2)
    peak = float(np.iinfo(frame.dtype).max)
    checks["region_psnr_db"].append(float("inf") if error == 0 else 10 * np.log10(peak**2 / error))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="the clip (default: the shared test clip)")
    parser.add_argument("--frames", type=int, default=None, help="frames to process (default: the whole clip)")
    parser.add_argument("--crop-size", type=int, default=512, help="crop side in pixels (default 512)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.video.is_file():
        print(f"Error: {args.video} does not exist; pass --video", file=sys.stderr)
        return 1
    info = probe(args.video)
    frame_count = min(args.frames or info.frame_count, info.frame_count)
    with tempfile.TemporaryDirectory(prefix="keydub-bench-") as folder:
        bare = bare_transcode(args.video, Path(folder) / "bare.mov", frame_count)
        ours, timer, checks = media_path(args.video, Path(folder) / "ours.mov", frame_count, args.crop_size)
    psnr = np.array(checks.pop("region_psnr_db"))
    figures = {
        "video": str(args.video),
        "size": [info.width, info.height],
        "frames": frame_count,
        "bare_pyav_seconds": round(bare, 3),
        "media_path_seconds": round(ours, 3),
        "ratio": round(ours / bare, 2),
        "media_path_ms_per_frame": round(1000 * ours / frame_count, 1),
        "bare_ms_per_frame": round(1000 * bare / frame_count, 1),
        "stage_shares": {stage: round(seconds / ours, 3) for stage, seconds in timer.seconds.items()},
        "stage_ms_per_frame": {stage: round(1000 * s / frame_count, 2) for stage, s in timer.seconds.items()},
        **checks,
        "region_psnr_db": {"min": round(float(psnr.min()), 2), "mean": round(float(psnr.mean()), 2)}
        if psnr.size
        else None,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{figures['frames']} frames {info.width}x{info.height}: bare PyAV {bare:.2f} s "
        f"({figures['bare_ms_per_frame']} ms/frame), media path {ours:.2f} s "
        f"({figures['media_path_ms_per_frame']} ms/frame): ratio {figures['ratio']}x"
    )
    for stage, share in sorted(figures["stage_shares"].items(), key=lambda item: -item[1]):
        print(f"  {stage:<20} {100 * share:5.1f} %  {figures['stage_ms_per_frame'][stage]:8.2f} ms/frame")
    print(
        f"paste-back: {checks['frames_pasted']} frames, {checks['pixels_changed_outside_region']} pixels changed "
        f"outside the blend region; identity PSNR inside {figures['region_psnr_db']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

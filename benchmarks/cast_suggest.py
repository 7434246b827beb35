"""`keydub cast suggest` on a 40-clip dubbing timeline: time per clip and peak memory, cold and with a warm cache.

The timeline's shots are composed from the shared test media (three people: two real, one stylised) on a 1280x720
canvas, one or two people per shot at different crops, sizes and moments of their clips, 2 s (50 frames) each, with
a dub line under all of them. The command runs in a child process with the dlib landmark backend (offline), first
with an empty Keydub cache (landmarks, embeddings and the contact sheet all computed), then again on the filled
cache (what a second `cast suggest` or a `cast show` costs). Peak memory is the child's maximum resident set.

Usage:

    python benchmarks/cast_suggest.py                 # 40 clips of 50 frames
    python benchmarks/cast_suggest.py --clips 8 --frames 25 --json
"""

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# The shot composer of the tests (it reads the shared media and never copies it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cast_fixtures import Side, compose_shot, dubbing_timeline, write_dialogue_wav  # noqa: E402


# Who is in each shot, cycled over the timeline: singles and pairs, so every person appears many times.
CASTINGS = (("anna",), ("bea", "cole"), ("cole",), ("anna", "bea"), ("bea",), ("cole", "anna"))
CROPS = ((2.5, 320), (1.8, 360), (3.0, 300), (2.2, 400))
FIRST_FRAMES = {"anna": 190, "bea": 490, "cole": 210}  # the last frame a 50-frame shot may start at


def build_timeline(folder: Path, clips: int, frames: int) -> Path:
    """Write `clips` composed shots and the dubbing timeline over them; returns the .otio path."""
    shots = {}
    crops = itertools.cycle(CROPS)
    for index in range(clips):
        people = CASTINGS[index % len(CASTINGS)]
        sides = []
        for person in people:
            crop, size = next(crops)
            start = (index * 37) % (FIRST_FRAMES[person] + 50 - frames)
            sides.append(Side(person, start, crop, size))
        name = f"sh{(index + 1) * 10:04d}"
        shots[name] = (compose_shot(folder / f"{name}.mp4", sides, frames, canvas=(1280, 720)), frames)
    wav = write_dialogue_wav(folder / "dx_es.wav", seconds=clips * frames // 25 + 1)
    return dubbing_timeline(folder / "episode.otio", shots, wav)


def run_suggest(timeline: Path, output: Path, cache: Path) -> dict:
    """Run `keydub cast suggest` in a child process; its wall seconds, its own peak RSS and its JSON result."""
    keydub = Path(sys.executable).with_name("keydub")
    command = [str(keydub), "cast", "suggest", str(timeline), "-o", str(output), "--backend", "dlib", "--json"]
    command.append("--overwrite")
    environment = {**os.environ, "KEYDUB_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile("w+") as stdout:
        began = time.perf_counter()
        child = subprocess.Popen(command, env=environment, stdout=stdout, stderr=subprocess.DEVNULL)
        # wait4 gives this child's own resource use (ru_maxrss in KiB on Linux), not the largest child's so far.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"{' '.join(command)} failed with status {child.returncode}")
        stdout.seek(0)
        result = json.loads(stdout.read())
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "result": result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=40, help="clips on the timeline (default: 40)")
    parser.add_argument("--frames", type=int, default=50, help="frames per clip (default: 50, 2 s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keydub-cast-bench-") as scratch:
        folder = Path(scratch)
        began = time.perf_counter()
        timeline = build_timeline(folder, args.clips, args.frames)
        composed = time.perf_counter() - began
        cache = folder / "cache"
        cold = run_suggest(timeline, folder / "cast.toml", cache)
        warm = run_suggest(timeline, folder / "cast.toml", cache)
    result = cold.pop("result")
    warm.pop("result")
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "clips": args.clips,
        "frames_per_clip": args.frames,
        "frame_size": "1280x720",
        "faces": sum(len(c["faces"]) for c in result["characters"]),
        "identities": len(result["characters"]),
        "composing_seconds": round(composed, 1),
        "cold": {
            **{k: round(v, 1) for k, v in cold.items()},
            "seconds_per_clip": round(cold["seconds"] / args.clips, 2),
        },
        "warm": {
            **{k: round(v, 1) for k, v in warm.items()},
            "seconds_per_clip": round(warm["seconds"] / args.clips, 2),
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{figures['clips']} clips x {args.frames} frames (1280x720), {figures['faces']} faces -> "
            f"{figures['identities']} identities on {figures['machine']}"
        )
        for run in ("cold", "warm"):
            f = figures[run]
            print(f"  {run}: {f['seconds']} s, {f['seconds_per_clip']} s per clip, peak RSS {f['peak_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

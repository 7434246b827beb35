"""How fast the panel's viewer answers an editor, at 1080p, offscreen.

Three figures, each from the call to the moment the frame is on screen (the viewer's `frame_changed`):

- first frame: `Viewer.open` of a 1080p clip (probe included) right after the window exists (target <= 1 s);
- one-frame step: Right arrow from a shown frame to the next, as an editor steps (a press every 200 ms: the viewer
  reads ahead between presses) and back to back (each press as soon as the frame shows: every frame decoded on
  demand) (target <= 40 ms);
- random seek: a jump to a random frame of a long-GOP H.264 1080p clip, not cached (target <= 300 ms). The
  clip is encoded here from the test clip with a 250-frame GOP and B-frames, the worst case an editor meets in
  camera or proxy media. The viewer keeps a few decoders open where earlier jumps left them, so a jump after one
  of them (before the next keyframe) continues it; the figures say how many jumps did, and the median of those
  that decoded from the keyframe, so the two cases can be told apart.

Usage:

    QT_QPA_PLATFORM=offscreen python benchmarks/panel.py                # the shared 10 s 1080x1920 clip
    QT_QPA_PLATFORM=offscreen python benchmarks/panel.py --video shot.mov --seeks 30 --json
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from keydub.core.media import FrameReader, probe  # noqa: E402
from keydub.ui.viewer import Viewer  # noqa: E402


DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "talking_1080x1920_25fps.mp4"
LONG_GOP = 250
TARGETS_MS = {"first_frame": 1000, "step": 40, "random_seek": 300}


def encode_long_gop(source: Path, path: Path) -> Path:
    """`source` re-encoded as H.264 (yuv420p, 250-frame GOP, B-frames), the same size and frames."""
    info = probe(source)
    with av.open(str(path), "w") as container, FrameReader(source, info=info) as reader:
        stream = container.add_stream("libx264", rate=info.frame_rate)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
        stream.options = {
            "preset": "veryfast",
            "crf": "20",
            "g": str(LONG_GOP),
            "keyint_min": str(LONG_GOP),
            "sc_threshold": "0",
            "bf": "3",
        }
        for pixels in reader.read():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


def wait_shown(viewer: Viewer, frame: int, timeout_ms: int = 10000) -> None:
    """Run the event loop until `frame` is on screen."""
    if viewer.shown_frame == frame:
        return
    loop = QtCore.QEventLoop()
    viewer.frame_changed.connect(loop.quit)
    QtCore.QTimer.singleShot(timeout_ms, loop.quit)
    while viewer.shown_frame != frame:
        loop.exec()
    viewer.frame_changed.disconnect(loop.quit)


def idle(seconds: float) -> None:
    """Run the event loop for `seconds` (the decoder works meanwhile)."""
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(1000 * seconds), loop.quit)
    loop.exec()


def measure(video: Path, seeks: int, steps: int, seed: int = 0) -> dict:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = QtWidgets.QMainWindow()
    viewer = Viewer()
    window.setCentralWidget(viewer)
    window.resize(1280, 800)
    window.show()

    # 1. First frame after the window exists.
    started = time.perf_counter()
    viewer.open(video, probe(video))
    wait_shown(viewer, 0)
    first_frame = time.perf_counter() - started

    # 2. One-frame steps at an editor's pace, then back to back.
    step_times, back_to_back = [], []
    for frame in range(1, 2 * steps + 1):
        if frame <= steps:
            idle(0.2)
        started = time.perf_counter()
        QtWidgets.QApplication.sendEvent(
            viewer,
            QtGui.QKeyEvent(
                QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Right, QtCore.Qt.KeyboardModifier.NoModifier
            ),
        )
        wait_shown(viewer, frame)
        (step_times if frame <= steps else back_to_back).append(time.perf_counter() - started)
    viewer.close_clip()

    # 3. Random seeks in a long-GOP H.264 encode of the same picture, cache cleared before each.
    with tempfile.TemporaryDirectory() as folder:
        long_gop = encode_long_gop(video, Path(folder) / "long_gop.mp4")
        info = probe(long_gop)
        viewer.open(long_gop, info)
        wait_shown(viewer, 0)
        generator = random.Random(seed)
        seek_times, keyframe_seek_times = [], []
        for _ in range(seeks):
            target = generator.randrange(1, info.frame_count)
            viewer.cache.clear()
            seek_count = viewer.seek_count
            started = time.perf_counter()
            viewer.seek(target)
            wait_shown(viewer, target)
            seek_times.append(time.perf_counter() - started)
            if viewer.seek_count > seek_count:
                keyframe_seek_times.append(seek_times[-1])
        viewer.close_clip()
    window.close()
    app.processEvents()
    return {
        "video": str(video),
        "size": f"{info.width}x{info.height}",
        "long_gop": LONG_GOP,
        "first_frame_ms": round(1000 * first_frame, 1),
        "step_ms": _summary(step_times),
        "back_to_back_step_ms": _summary(back_to_back),
        "random_seek_ms": _summary(seek_times),
        "random_seek_from_keyframe_ms": _summary(keyframe_seek_times),
        "cpu_load_1min": round(os.getloadavg()[0], 1),
        "cpu_count": os.cpu_count(),
    }


def _summary(seconds: list[float]) -> dict:
    if not seconds:
        return {"median": None, "max": None, "count": 0}
    return {
        "median": round(1000 * statistics.median(seconds), 1),
        "max": round(1000 * max(seconds), 1),
        "count": len(seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="a 1080p clip (default: the test clip)")
    parser.add_argument("--seeks", type=int, default=20, help="random seeks to time (default 20)")
    parser.add_argument("--steps", type=int, default=30, help="one-frame steps to time (default 30)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.video.is_file():
        print(f"Error: {args.video} not found; pass --video", file=sys.stderr)
        return 1
    figures = measure(args.video, args.seeks, args.steps)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{figures['video']} ({figures['size']}); long-GOP copy with a {LONG_GOP}-frame GOP; "
        f"load {figures['cpu_load_1min']} on {figures['cpu_count']} CPUs"
    )
    rows = [
        ("first frame after open", figures["first_frame_ms"], None, TARGETS_MS["first_frame"]),
        ("one-frame step", figures["step_ms"]["median"], figures["step_ms"]["max"], TARGETS_MS["step"]),
        (
            "step, back to back",
            figures["back_to_back_step_ms"]["median"],
            figures["back_to_back_step_ms"]["max"],
            TARGETS_MS["step"],
        ),
        (
            "random seek, long GOP",
            figures["random_seek_ms"]["median"],
            figures["random_seek_ms"]["max"],
            TARGETS_MS["random_seek"],
        ),
    ]
    for name, median, worst, target in rows:
        worst_text = f", max {worst:.1f} ms" if worst is not None else ""
        verdict = "ok" if median <= target else "OVER"  # the median: a loaded machine makes the worst case noise
        label = "median" if worst is not None else "once"
        print(f"  {name:<24} {median:8.1f} ms {label}{worst_text}  (target <= {target} ms: {verdict})")
    seeks, from_keyframe = figures["random_seek_ms"], figures["random_seek_from_keyframe_ms"]
    print(
        f"  {seeks['count'] - from_keyframe['count']} of {seeks['count']} seeks continued an open decoder; "
        f"{from_keyframe['count']} decoded from the keyframe"
        + (f" (median {from_keyframe['median']:.1f} ms)" if from_keyframe["count"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

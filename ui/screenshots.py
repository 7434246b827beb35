"""`python -m keydub.ui.screenshots --video V --audio A --out DIR [weight options]`: a scripted panel session.

It opens the clip with its dub offscreen, lets the faces be found, clicks the largest face, shows the regeneration
mask, paints an occluder, queues a render to a real `keydub worker`, grabs the queue while it renders, then
compares the result with the source, saving one PNG per view:

    clip_list.png, viewer_faces.png, mask_overlay.png, occluder_painting.png, queue_rendering.png, compare_split.png

With `--timeline T.otio --dub-track NAME --pick NAME=CLIP:X,Y@FRAME ... [--show CLIP]` it runs the Cast dock
instead: each `--pick` adds the character (once) and clicks its face on that clip's frame, each `--voice NAME=TRACK`
gives a character its dub track, then the `--show` clip is shown with its faces named, saving `cast_dock.png` (the
window) and `cast_viewer.png` (the viewer); each `--correct FACE=NAME` (a face track id of that clip, NAME a
character or `nobody`) is then set in the dock's shot table, saving `cast_correction.png` (the window).

For README.md and for review. Every wait is on the event loop (the window stays live throughout); a step that
cannot happen (no face, a render that fails) stops the script with one `Error:` line.
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from keydub.core.errors import KeydubError  # noqa: E402
from keydub.plugin.cli._render_options import add_option_flags, options_from_args  # noqa: E402
from keydub.plugin.panel.controller import PanelController  # noqa: E402
from keydub.ui.app import MainWindow, default_queue  # noqa: E402
from keydub.ui.palette import apply_palette  # noqa: E402


SHOTS = ("clip_list", "viewer_faces", "mask_overlay", "occluder_painting", "queue_rendering", "compare_split")
CAST_SHOTS = ("cast_dock", "cast_viewer", "cast_correction")


class ScriptError(KeydubError):
    """A step of the scripted session did not happen in time."""


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the event loop until `condition()` holds; `ScriptError` naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    loop = QtCore.QEventLoop()
    timer = QtCore.QTimer(interval=20)
    timer.timeout.connect(loop.quit)
    timer.start()
    while not condition():
        if time.monotonic() > deadline:
            raise ScriptError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        loop.exec()
    timer.stop()


def settle(seconds: float = 0.3) -> None:
    """Let queued repaints happen."""
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def save(widget: QtWidgets.QWidget, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise ScriptError(f"could not write {path}")
    return path


def occluder_masker_factory(kind: str):
    """The SAM2 masker for the occluder dock: the released weights, or tiny random ones (offline previews)."""
    if kind == "pretrained":
        return None

    def tiny():
        from keydub.core.occlusion import OcclusionMasker

        return OcclusionMasker.from_config("tiny", device="cpu", image_size=64)

    return tiny


def run_session(args: argparse.Namespace) -> list[Path]:
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    options = options_from_args(args)
    controller = PanelController(render_options=options, handles=0)
    window = MainWindow(controller, queue_factory=default_queue, occluder_masker=occluder_masker_factory(args.sam2))
    window.resize(1680, 1050)
    window.show()
    saved = []

    # 1. Open the clip and its dub; the faces are found on a thread.
    window.open_video(args.video, args.audio, args.work_dir, frame_range=(0, args.frames))
    wait_until(lambda: controller.current is not None, 60, "the clip to open")
    clip_id = controller.current_id
    wait_until(
        lambda: (
            clip_id in window.analyses
            and window.analyses[clip_id].end == controller.current.end_frame
            or window.is_error_shown
        ),
        600,
        "the faces to be found",
    )
    if window.is_error_shown:
        raise ScriptError(window.message_label.text())
    if window.occluder_panel is not None:  # the dock as an editor sees it once the clip has loaded
        wait_until(lambda: window.occluder_panel.editor is not None, 600, "the occluder model to load")
    settle()
    saved.append(save(window, out, "clip_list"))

    # 2. Click the largest face: its box turns green.
    frame = window.viewer.frame_index
    _, box = max(window.analyses[clip_id].boxes_at(frame), key=lambda item: item[1][2] - item[1][0])
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    window._on_viewer_face_click(*centre, frame)
    settle()
    saved.append(save(window.viewer, out, "viewer_faces"))

    # 3. The regeneration mask.
    window.mask_action.setChecked(True)
    settle()
    saved.append(save(window.viewer, out, "mask_overlay"))
    window.mask_action.setChecked(False)

    # 4. An occluder painted with the brush across the mouth, caught mid-stroke.
    panel = window.occluder_panel
    if panel is not None:
        wait_until(lambda: panel.editor is not None, 600, "the occluder model to load")
        from keydub.ui.occluders import show_mid_paint

        mouth_y = box[1] + 0.78 * (box[3] - box[1])
        width = box[2] - box[0]
        stroke = [(box[0] + width * (0.25 + 0.05 * step), mouth_y + (step % 2) * 6) for step in range(11)]
        side = 1.6 * width  # close on the face, as an editor paints
        window.viewer.view.zoom_to(centre[0] - side, centre[1] - side, centre[0] + side, centre[1] + side)
        show_mid_paint(panel, stroke)
        settle()
        saved.append(save(window, out, "occluder_painting"))
        window.viewer.view.fit()
        panel.active_tool.release(_release_event(stroke[-1], frame))
        wait_until(lambda: not panel.runner.is_busy, 600, "the brush stroke to be applied")
        if not args.keep_occluder:
            # Undo the stroke (Ctrl+Z): a render with occluders needs the SAM 2.1 weights in the worker too.
            panel.undo_stack.undo()
            wait_until(
                lambda: not panel.runner.is_busy and not controller.current.occluders, 600, "the stroke to be undone"
            )

    # 5. Render through the worker; grab the queue while it renders.
    window.clip_list.selectRow(0)
    window.render_action.trigger()
    queue = window.queue_panel
    if queue is None:
        raise ScriptError("the render queue did not start; is keydub.ui.queue installed?")
    wait_until(
        lambda: (
            any(0 < (row.fraction or 0) < 1 for row in queue.model.rows)
            or window.is_error_shown
            or controller.status(clip_id).state in ("done", "failed")
        ),
        1800,
        "the render to be under way",
    )
    settle()
    saved.append(save(window, out, "queue_rendering"))
    wait_until(lambda: controller.status(clip_id).state in ("done", "failed"), 3600, "the render to finish")
    status = controller.status(clip_id)
    if status.state != "done":
        raise ScriptError(f"the render failed: {status.message}")

    # 6. Compare, split in the middle.
    window._on_compare_click()
    window.compare.set_divider(0.5)
    wait_until(lambda: window.compare.is_showing(window.compare.frame_index), 120, "the compare frames")
    settle()
    saved.append(save(window.compare, out, "compare_split"))
    window.close()
    return saved


def run_cast_session(args: argparse.Namespace) -> list[Path]:
    """Name the characters of `--pick`, click their faces, then show the `--show` clip with its faces named."""
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    controller = PanelController(render_options=options_from_args(args), handles=0)
    window = MainWindow(controller)
    window.resize(1680, 1050)
    window.show()
    if window.occluder_panel is not None:  # the Cast dock alone on the right, at full height
        window.occluder_panel.hide()
    panel = window.cast_panel
    window.open_timeline(args.timeline, (args.dub_track,), args.work_dir)
    wait_until(lambda: controller.current is not None or window.is_error_shown, 120, "the timeline to open")

    def show(clip_name: str) -> str:
        session = next((s for s in controller.sessions if s.name == clip_name), None)
        if session is None:
            raise ScriptError(f"the timeline has no clip {clip_name!r} to show")
        controller.select(session.clip_id)
        wait_until(lambda: session.clip_id in window.analyses or window.is_error_shown, 600, "the faces to be found")
        if window.is_error_shown:
            raise ScriptError(window.message_label.text())
        return session.clip_id

    for pick in args.pick:
        name, clip_name, point, frame = _parse_pick(pick)
        show(clip_name)
        if name not in panel.editor.names:
            panel.editor.add_character(name)
        panel.select_character(name)
        window.viewer.seek(frame)
        wait_until(lambda frame=frame: window.viewer.shown_frame == frame, 60, f"frame {frame} of {clip_name}")
        panel.pick_button.setChecked(True)
        panel.pick_tool.press(_release_event(point, frame))
        wait_until(lambda: not panel.is_matching and panel.editor.matches is not None, 600, "the cast to be matched")
        if panel.status.styleSheet():
            raise ScriptError(panel.status.text())
    for voice in args.voice:
        name, _, track = voice.partition("=")
        panel.editor.set_dub_track(name, track)
    wait_until(lambda: not panel.is_matching, 600, "the cast to be matched")
    shown = show(args.show or controller.sessions[-1].name)
    settle(0.6)
    saved = [save(window, out, "cast_dock"), save(window.viewer, out, "cast_viewer")]
    if args.correct:
        for correction in args.correct:
            face, _, name = correction.partition("=")
            panel.editor.set_override(shown, int(face), None if name == "nobody" else name)
        settle(0.6)
        saved.append(save(window, out, "cast_correction"))
    window.close()
    return saved


def _parse_pick(text: str) -> tuple[str, str, tuple[float, float], int]:
    """`NAME=CLIP:X,Y@FRAME` -> `(name, clip, (x, y), frame)`."""
    try:
        name, rest = text.split("=", 1)
        clip, rest = rest.rsplit(":", 1)
        point, frame = rest.split("@")
        x, y = point.split(",")
        return name.strip(), clip, (float(x), float(y)), int(frame)
    except ValueError:
        raise ScriptError(f"--pick {text!r} is not NAME=CLIP:X,Y@FRAME, e.g. Anna=sh010:160,150@5") from None


def _release_event(point: tuple[float, float], frame: int):
    from keydub.ui.viewer import ViewerMouseEvent

    left = QtCore.Qt.MouseButton.LeftButton
    return ViewerMouseEvent(
        point[0], point[1], frame, left, QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keydub.ui.screenshots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--video", type=Path, help="the clip to open")
    parser.add_argument("--audio", type=Path, help="its dub audio")
    parser.add_argument("--timeline", type=Path, help="a dubbing timeline: run the Cast dock session on it")
    parser.add_argument("--dub-track", default="", help="the timeline's dub track")
    parser.add_argument(
        "--pick", action="append", default=[], help="NAME=CLIP:X,Y@FRAME: a character's face, in source pixels"
    )
    parser.add_argument("--voice", action="append", default=[], help="NAME=TRACK: a character's dub track")
    parser.add_argument("--show", help="the timeline clip shown last (default: its last clip)")
    parser.add_argument(
        "--correct", action="append", default=[], help="FACE=NAME: who face FACE of the shown clip is (or nobody)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--work-dir", type=Path, help="output folder of the session (default: a temporary one)")
    parser.add_argument("--frames", type=int, default=12, help="frames to analyse and render (default 12)")
    parser.add_argument(
        "--sam2",
        choices=("pretrained", "tiny"),
        default="pretrained",
        help="occluder model of the panel: the released SAM 2.1 weights, or tiny random ones",
    )
    parser.add_argument(
        "--keep-occluder",
        action="store_true",
        help="render with the painted occluder (the worker then loads SAM 2.1 too); default: the "
        "stroke is undone before the render",
    )
    add_option_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.timeline is None and (args.video is None or args.audio is None):
        parser.error("give --video and --audio, or --timeline with --dub-track and --pick")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    apply_palette(is_system=False)  # the panel's default, whatever this machine's settings say
    with tempfile.TemporaryDirectory() as scratch:
        args.work_dir = args.work_dir or Path(scratch) / "session"
        try:
            saved = run_cast_session(args) if args.timeline is not None else run_session(args)
        except KeydubError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1
        finally:
            app.closeAllWindows()
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

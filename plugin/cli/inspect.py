"""`keydub inspect VIDEO`: what Keydub sees in a clip (exact rate, frame count, timecode, colour, audio).

The report is built as a dict of sections (`keydub.plugin.inspection.inspect_clip`) and only then printed, as
text or with `--json`, so further sections slot in beside `media` without touching the printing.
"""

import argparse
from pathlib import Path
from typing import Any

from keydub.core.face_backends import LANDMARK_BACKENDS
from keydub.core.media import MediaInfo
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json
from keydub.plugin.inspection import inspect_clip


EXAMPLES = """examples:
  keydub inspect shot_010.mov
  keydub inspect shot_010.mov --json > shot_010.json
  keydub inspect shot_010.mov --faces --backend dlib
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `inspect` command."""
    parser = subparsers.add_parser(
        "inspect",
        help="show what Keydub reads from a clip: exact frame rate and count, timecode, colour, audio",
        description="Probe a picture clip and print its exact frame rate, frame count, start timecode, colour "
        "tags, rotation, audio streams and whether its frame rate is variable.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path, metavar="VIDEO", help="the clip to inspect")
    add_output_flags(parser, quiet=False)
    parser.add_argument(
        "--faces",
        action="store_true",
        help="also track the faces on every frame and list them (track ids for `keydub render --face-track`)",
    )
    parser.add_argument(
        "--backend",
        choices=tuple(LANDMARK_BACKENDS),
        default=next(iter(LANDMARK_BACKENDS)),
        help="landmark backend for --faces (default: face-alignment; dlib works offline without downloads)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report of `args.video`; errors propagate as `KeydubError` for `main` to print."""
    with ProgressBar() as bar:
        report = inspect_clip(args.video, faces_backend=args.backend if args.faces else None, progress=bar)
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    """Human-readable lines for a report from `inspect_clip`."""
    lines = _media_lines(MediaInfo.from_dict(report["media"]))
    if "faces" in report:
        lines += _face_lines(report["faces"])
    return "\n".join(lines)


def _face_lines(faces: dict[str, Any]) -> list[str]:
    lines = [
        f"Faces:       {faces['frames_with_face']} of {faces['frame_count']} frames have a face "
        f"({100 * faces['face_share']:.1f} %, {faces['backend']} landmarks)"
    ]
    for track in faces["tracks"]:
        width, height = track["mean_box_size"]
        lines.append(
            f"  track {track['track_id']}: frames {track['first_frame']}-{track['last_frame']}, detected on "
            f"{track['frames_present']}, mean box {width:.0f}x{height:.0f} px"
        )
    return lines


def _media_lines(info: MediaInfo) -> list[str]:
    rate = info.frame_rate
    rate_text = f"{float(rate):.3f} fps ({rate.numerator}/{rate.denominator})"
    lines = [
        f"File:        {info.path}",
        f"Container:   {info.container_format}",
        f"Video:       stream {info.video_stream}, {info.video_codec} {info.width}x{info.height} {info.pix_fmt} "
        f"({info.bit_depth}-bit)" + (f", pixel aspect {info.pixel_aspect}" if info.pixel_aspect != 1 else ""),
        f"Frame rate:  {rate_text}" + (", VARIABLE (conform before rendering)" if info.is_vfr else ", constant"),
        f"Frames:      {info.frame_count} ({float(info.duration):.3f} s)",
        f"Timecode:    {_timecode_text(info)}",
        "Colour:      "
        + ", ".join(
            f"{name} {value or 'untagged'}"
            for name, value in (
                ("primaries", info.color_primaries),
                ("transfer", info.color_transfer),
                ("matrix", info.color_matrix),
                ("range", info.color_range),
            )
        ),
        f"Rotation:    {info.rotation} degrees" + (" (frames are stored unrotated)" if info.rotation else ""),
    ]
    if not info.audio_streams:
        lines.append("Audio:       none")
    for audio in info.audio_streams:
        duration = f", {float(audio.duration):.3f} s" if audio.duration is not None else ""
        lines.append(
            f"Audio:       stream {audio.index}, {audio.codec} {audio.sample_rate} Hz {audio.layout} "
            f"({audio.channels} ch){duration}"
        )
    return lines


def _timecode_text(info: MediaInfo) -> str:
    if info.start_timecode is None:
        return "none (frames count from 00:00:00:00)"
    kind = "drop-frame" if info.is_drop_frame else "non-drop-frame"
    last = info.timecode_at(info.frame_count - 1)
    return f"{info.start_timecode} to {last} ({kind}; first frame number {info.start_frame})"

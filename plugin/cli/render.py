"""`keydub render`: regenerate the lower face of one clip so the lips follow a dub track."""

import argparse
import sys
from fractions import Fraction
from pathlib import Path

from keydub.core.render.options import RenderOptions
from keydub.plugin.cli._numbers import frame_count, seconds_offset
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json, report_stale_files_removed
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli._render_options import add_consent_flags, add_option_flags, options_from_args


EXAMPLES = """examples:
  keydub render interview.mov --audio dub_es.wav -o interview_es.mov
  keydub render shot.mov --audio dub.wav -o shot_dub.mov --in 01:00:10:00 --out 01:00:14:12 --handles 12
  keydub render two_shot.mov --audio dub.wav -o out.mov --face 1210,540@0 --identity auto --report qc.json
  keydub render mic.mov --audio dub.wav -o out.mov --occluder 880,1020@35 --occluder=-700,900@35
  keydub render shot.mov --audio dub.wav -o shot_dub.mkv --codec ffv1 --consent release-2291 --require-consent
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="lip-sync one clip to a dub track",
        description="Regenerate the actor's lower face so the lips follow the dub. The output keeps the source's "
        "frame count, rate, size, colour tags and timecode; only the blended mouth region changes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path, help="the source clip (never modified)")
    parser.add_argument("--audio", type=Path, required=True, help="the dub audio (any format FFmpeg reads)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the file to write")
    add_range_and_face_options(parser)
    parser.add_argument(
        "--audio-offset",
        type=seconds_offset,
        default=Fraction(0),
        metavar="SECONDS",
        help="delay of the dub against the picture in seconds, e.g. 0.04 or -1/25 (default 0: the "
        "dub's first sample is under the --in frame)",
    )
    parser.add_argument(
        "--occluder",
        action="append",
        default=[],
        metavar="[ID:][-]X,Y@FRAME",
        help="click on something in front of the mouth (hand, microphone) so it stays on top; "
        "repeatable; write --occluder=-X,Y@FRAME for a negative click; X0,Y0,X1,Y1 gives a box",
    )
    parser.add_argument(
        "--occluder-mask",
        action="append",
        default=[],
        metavar="[ID:]FILE@FRAME",
        help="a painted occluder mask (PNG at source resolution, white = occluder); repeatable",
    )
    parser.add_argument("--report", type=Path, metavar="FILE.json", help="write the QC report as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_consent_flags(parser, consent=True)
    add_output_flags(parser)
    add_option_flags(parser)
    parser.set_defaults(func=run, paths=render_paths)


def render_paths(args: argparse.Namespace) -> CommandPaths:
    inputs: dict[str, Path | None] = {"video": args.video, "--audio": args.audio}
    for index, text in enumerate(args.occluder_mask):
        # `[ID:]FILE@FRAME`: the file is what lies between an optional `ID:` and the last `@`.
        file = text.rsplit("@", 1)[0]
        head, colon, rest = file.partition(":")
        inputs[f"--occluder-mask #{index + 1}"] = Path(rest if colon and head.isdigit() else file)
    return CommandPaths(
        outputs={"-o": args.output, "--report": args.report},
        inputs=inputs,
        overwrite=args.overwrite,
        video_output=("-o", args.codec or RenderOptions.codec),
    )


def add_range_and_face_options(parser: argparse.ArgumentParser) -> None:
    """The options that pick frames and a face, shared with `keydub mask` so a preview matches its render."""
    parser.add_argument(
        "--in",
        dest="in_point",
        metavar="FRAME|TC",
        help="first frame: a frame number (0 = the clip's first) or a timecode",
    )
    parser.add_argument(
        "--out",
        dest="out_point",
        metavar="FRAME|TC",
        help="the frame after the last one (exclusive, as in OTIO): frame number or timecode",
    )
    parser.add_argument(
        "--handles",
        type=frame_count,
        default=0,
        metavar="N",
        help="extra frames before --in and after --out, clamped to the clip (default 0)",
    )
    parser.add_argument(
        "--face",
        metavar="X,Y[@FRAME]",
        help="click inside the face to dub, in source pixels, on FRAME (number or timecode; default "
        "the first frame of the range); default: the largest face of each shot",
    )
    parser.add_argument("--face-track", type=int, metavar="ID", help="the face track id shown by `keydub inspect`")


def run(args: argparse.Namespace) -> int:
    from keydub.core.engine import Engine
    from keydub.core.provenance import require_consent

    report_stale_files_removed(targets=[args.output, args.report])
    request = request_from_args(args)
    if args.require_consent:
        require_consent([(args.video.name, request.face_speakers())])
    with ProgressBar(disable=args.quiet) as bar:
        result = Engine().render(request, bar)
    if args.json:
        print_json(result.report)
    else:
        frames = result.report["frames"]
        print(
            f"wrote {result.output}: {result.frame_count} frames ({frames['timecode']['in']} - "
            f"{frames['timecode']['out']}), {frames['generated']} lip-synced, {len(result.passed_through)} "
            "passed through without a face"
        )
        print(credentials_summary(result.report["provenance"]))
        for note in result.report["notes"]:
            print(f"note: {note}", file=sys.stderr)
    return 0


def credentials_summary(provenance: dict) -> str:
    """The render's Content Credentials and usage record in one line (the report's `provenance`)."""
    if not provenance["signed"]:
        return f"no Content Credentials (--no-provenance); recorded in {provenance['usage_record']}"
    where = f"in {provenance['sidecar']}" if provenance["sidecar"] else "embedded"
    return (
        f"signed {provenance['manifest_id']} ({where}) by {provenance['signer']}; recorded in "
        f"{provenance['usage_record']}"
    )


def request_from_args(args: argparse.Namespace):
    """The `RenderRequest` of a `keydub render` command line, checked (device included) before any work."""
    from keydub.core.media import probe
    from keydub.core.occlusion import parse_occluder_args
    from keydub.core.render import RenderRequest
    from keydub.plugin.edit_points import dub_offset, edit_range, parse_face_click, source_range

    options = options_from_args(args)  # first: a bad option is refused before any work
    info = probe(args.video)
    start, end = source_range(info, args.in_point, args.out_point, args.handles)
    in_frame = edit_range(info, args.in_point, args.out_point)[0]
    return RenderRequest(
        video=args.video.absolute(),
        audio=args.audio.absolute(),
        output=args.output.absolute(),
        start_frame=start,
        end_frame=end,
        audio_offset=dub_offset(info, args.audio_offset, in_frame=in_frame, start=start),
        face=parse_face_click(args.face, info, start, args.face_track),
        occluders=tuple(p.to_dict() for p in parse_occluder_args(args.occluder, args.occluder_mask, info)),
        overwrite=args.overwrite,
        report=args.report.absolute() if args.report else None,
        options=options,
        consent=args.consent.strip(),
    )

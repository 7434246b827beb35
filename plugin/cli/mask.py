"""`keydub mask VIDEO -o preview.mov`: the source with the region a render would regenerate tinted red.

A thin shell over `Engine.analyse_clip` (the clip analysis a render uses, cached) and
`keydub.core.render.preview.write_mask_preview`. No model is loaded.
"""

import argparse
from pathlib import Path

from keydub.core.codecs import CODECS
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli._render_options import add_option_flags, options_from_args
from keydub.plugin.cli.render import add_range_and_face_options


EXAMPLES = """examples:
  keydub mask interview.mov -o interview_mask.mp4
  keydub mask two_shot.mov -o mask.mov --face 1210,540@0 --landmark-backend dlib --in 100 --out 250
  keydub mask shot.mov -o mask.mov --codec prores --show-crop
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `mask` command."""
    parser = subparsers.add_parser(
        "mask",
        help="preview the region a render would regenerate (tinted red), without running the model",
        description="Write the source clip with the region that `keydub render` would regenerate tinted red: the "
        "same face choice, crop windows and leakage-proof mask as a render, mapped back to source pixels.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path, help="the source clip (never modified)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the preview file to write")
    add_range_and_face_options(parser)
    add_option_flags(parser, ["landmark_backend"])
    parser.add_argument(
        "--crop-size",
        type=int,
        default=512,
        metavar="PIXELS",
        help="the model's crop size (default: 512, the official weights')",
    )
    parser.add_argument(
        "--codec",
        choices=tuple(CODECS),
        default="h264",
        help="preview codec (default: h264): " + "; ".join(f"{name} ({c.description})" for name, c in CODECS.items()),
    )
    parser.add_argument("--show-crop", action="store_true", help="also outline each frame's crop window")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_output_flags(parser)
    parser.set_defaults(func=run, paths=mask_paths)


def mask_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output},
        inputs={"video": args.video},
        overwrite=args.overwrite,
        video_output=("-o", args.codec),
    )


def run(args: argparse.Namespace) -> int:
    """Write the preview of `args.video`; errors propagate as `KeydubError` for `main` to print."""
    from keydub.core.engine import Engine
    from keydub.core.files import check_outputs
    from keydub.core.media import probe
    from keydub.core.render.preview import write_mask_preview
    from keydub.plugin.edit_points import parse_face_click, source_range

    info = probe(args.video)
    start, end = source_range(info, args.in_point, args.out_point, args.handles)
    face = parse_face_click(args.face, info, start, args.face_track)
    # The output is checked before the landmark pass, which may take a while on a long clip.
    check_outputs({"-o": args.output}, inputs={"video": args.video}, overwrite=args.overwrite)
    with ProgressBar(disable=args.quiet) as bar:
        analysis = Engine().analyse_clip(
            args.video,
            start,
            end,
            options_from_args(args).landmark_backend,
            face=face,
            crop_size=args.crop_size,
            progress=bar,
        )
        result = write_mask_preview(
            analysis, args.output, codec=args.codec, show_crop=args.show_crop, overwrite=args.overwrite, progress=bar
        )
    if args.json:
        print_json(result)
    else:
        print(
            f"wrote {result['output']}: {result['frames']} frames ({result['timecode']['in']} - "
            f"{result['timecode']['out']}), {result['with_face']} with the face tinted, "
            f"{result['frames'] - result['with_face']} without a face"
        )
    return 0

"""`keydub convert-weights`: the official KeySync checkpoints -> safetensors folders Keydub loads."""

import argparse
from pathlib import Path

from keydub.core.errors import InvalidParameterError
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json
from keydub.plugin.cli._preflight import CommandPaths


EXAMPLES = """examples:
  keydub convert-weights --keyframe keyframe_dub.pt --interpolation interpolation_dub.pt -o ~/models/keysync
  keydub convert-weights --interpolation pretrained_models/checkpoints/interpolation_dub.pt -o ~/models/keysync

Then point the weights config at the result (~/.config/keydub/weights.toml):
  [weights]
  keyframe = "~/models/keysync/keyframe"
  interpolation = "~/models/keysync/interpolation"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-weights",
        help="convert the official KeySync checkpoints to Keydub's safetensors layout",
        description="Convert keyframe_dub.pt / interpolation_dub.pt (toninio19/keysync) into DIR/keyframe and\n"
        "DIR/interpolation. Only tensors are read from the files. Without this step Keydub converts the\n"
        "downloaded checkpoints into its cache on first use.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keyframe", type=Path, metavar="PT", help="the official keyframe_dub.pt")
    parser.add_argument("--interpolation", type=Path, metavar="PT", help="the official interpolation_dub.pt")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder that receives keyframe/ and interpolation/ (created if needed; existing "
        "model folders are never replaced)",
    )
    parser.add_argument(
        "--attention-head-dim",
        type=int,
        default=64,
        metavar="N",
        help="channels per attention head of the U-Net (default: 64, the official value)",
    )
    add_output_flags(parser, quiet=False, result="the converted folders")
    parser.set_defaults(func=run, paths=convert_paths)


def convert_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output},
        inputs={"--keyframe": args.keyframe, "--interpolation": args.interpolation},
        folders=("-o",),
    )


def run(args: argparse.Namespace) -> int:
    from keydub.core.model.convert import convert_keysync_checkpoint

    sources = {
        kind: path
        for kind, path in (("keyframe", args.keyframe), ("interpolation", args.interpolation))
        if path is not None
    }
    if not sources:
        raise InvalidParameterError("give --keyframe and/or --interpolation with the official checkpoint files")
    output = args.output.expanduser().absolute()
    folders = {}
    with ProgressBar(disable=args.json) as progress:
        for kind, path in sources.items():
            folders[kind] = str(
                convert_keysync_checkpoint(
                    path.expanduser().absolute(),
                    kind,
                    output,
                    attention_head_dim=args.attention_head_dim,
                    progress=progress,
                )
            )
    if args.json:
        print_json(folders)
    else:
        for kind, folder in folders.items():
            print(f"{kind}: {folder}")
    return 0

"""`keydub panel`: open the Keydub panel (the desktop app) on a clip and its dub, a timeline, or Resolve's timeline."""

import argparse
from pathlib import Path

from keydub.core.errors import InvalidParameterError, KeydubError


EXAMPLES = """examples:
  keydub panel
  keydub panel interview.mov --audio dub_es.wav
  keydub panel episode101.otio --dub-track "DX es-419" --out-dir renders/
  keydub panel --resolve --dub-track "DX es-419"                 # the current Resolve timeline
  keydub panel --resolve --timeline "EP101 v3" --dub-track "DX es-419"

Everything chosen in the panel (faces, occluders, ranges, settings) is kept in the output folder beside the
jobs: opening the same clip or timeline with the same --out-dir again restores it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "panel",
        help="open the Keydub panel (pick faces, paint occluders, render, compare)",
        description="The Keydub panel: a clip list, a viewer with editor keys, face picking, occluder tools, the\n"
        "render queue (a `keydub worker` process) and compare with sound.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_panel_arguments(parser)
    parser.add_argument(
        "--resolve",
        action="store_true",
        help="open DaVinci Resolve's current timeline (or --timeline NAME) instead of a file",
    )
    parser.add_argument("--timeline", metavar="NAME", help="with --resolve: the Resolve timeline to open")
    parser.set_defaults(func=run)


def add_panel_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments `keydub panel` and `keydub-app` share."""
    parser.add_argument("source", nargs="?", type=Path, help="a video to dub, or a .otio dubbing timeline")
    parser.add_argument("--audio", type=Path, metavar="DUB", help="the video's dub audio")
    parser.add_argument(
        "--dub-track",
        action="append",
        default=[],
        metavar="NAME",
        help="the timeline's audio track holding the dub; repeat to sum several",
    )
    parser.add_argument(
        "--out-dir", type=Path, help="folder for renders, jobs and panel sessions (default: <source>_keydub beside it)"
    )


def run(args: argparse.Namespace) -> int:
    if args.timeline and not args.resolve:
        raise InvalidParameterError("--timeline names a Resolve timeline; add --resolve, or give a .otio file")
    if args.resolve:
        if args.source is not None:
            raise InvalidParameterError("--resolve opens Resolve's timeline; leave out the file argument")
        if not args.dub_track:
            raise InvalidParameterError("--resolve needs --dub-track NAME: the audio track with the dub")
        args.source, args.out_dir = resolve_snapshot(args.timeline, args.out_dir)
    try:
        from keydub.ui.app import run_app
    except ImportError as error:
        raise KeydubError(f"the panel needs PySide6 ({error}); install it with: pip install 'keydub[ui]'") from error
    return run_app(args)


def resolve_snapshot(timeline: str | None, out_dir: Path | None) -> tuple[Path, Path]:
    """Resolve's timeline written as OTIO into the output folder: `(timeline file, output folder)`."""
    from keydub.plugin.resolve.bridge import default_out_dir, snapshot
    from keydub.plugin.timeline.otio_file import write_timeline

    snapshotted = snapshot(timeline)
    out_dir = Path(out_dir).absolute() if out_dir else default_out_dir("Resolve", snapshotted.name)
    path = out_dir / ".keydub" / "panel" / "resolve_timeline.otio"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_timeline(snapshotted, path, overwrite=True), out_dir

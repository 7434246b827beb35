"""`keydub panel`: open the Keydub panel (the desktop app) on a clip and its dub, a timeline, or Resolve's timeline."""

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from keydub.core.errors import InvalidParameterError, KeydubError
from keydub.core.files import make_folder, write_json_atomically
from keydub.plugin.cli._preflight import CommandPaths


if TYPE_CHECKING:
    from keydub.plugin.panel.resolve_link import ResolveTarget


EXAMPLES = """examples:
  keydub panel
  keydub panel interview.mov --audio dub_es.wav
  keydub panel episode101.otio --dub-track "DX es-419" --out-dir renders/
  keydub panel --resolve                                          # the current Resolve timeline; pick the dub
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
    parser.add_argument(
        "--export",
        type=Path,
        metavar="FILE.otio",
        help="with --resolve: open this OpenTimelineIO export of the timeline instead of reading it through external "
        "scripting (the Workspace > Scripts > Keydub menu entry passes it, with --project and --timeline)",
    )
    parser.add_argument("--project", metavar="NAME", help="with --export: the Resolve project the timeline is in")
    parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="FILE",
        help='write {"state": "ready"} there once the window is up, or the reason it could not start (for launchers)',
    )
    parser.set_defaults(func=run, paths=panel_paths)


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


def panel_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"--out-dir": args.out_dir, "--ready-file": args.ready_file},
        inputs={"source": args.source, "--audio": args.audio, "--export": args.export},
        folders=("--out-dir",),
    )


def run(args: argparse.Namespace) -> int:
    handshake = ReadyHandshake(args.ready_file)
    try:
        if args.resolve:
            args.source, args.out_dir, args.resolve_target = open_resolve(args)
        elif args.timeline or args.export or args.project:
            raise InvalidParameterError(
                "--timeline, --export and --project name a Resolve timeline; add --resolve, or give a .otio file"
            )
        try:
            from keydub.ui.app import run_app
        except ImportError as error:
            raise KeydubError(f"the panel needs PySide6 ({error}); install it: pip install 'keydub[ui]'") from error
        return run_app(args, on_ready=handshake.ready)
    except KeydubError as error:
        handshake.fail(str(error))
        raise


class ReadyHandshake:
    """What a launcher waits for: `{"state": "ready", "pid": N}` once the window is up, or `{"state": "failed",
    "error": "..."}`, written atomically to `path` (nothing when `path` is `None`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _write(self, state: dict) -> None:
        if self.path is not None:
            write_json_atomically(self.path, {**state, "pid": os.getpid()})

    def ready(self) -> None:
        self._write({"state": "ready"})

    def fail(self, message: str) -> None:
        self._write({"state": "failed", "error": message})


def open_resolve(args: argparse.Namespace) -> tuple[Path, Path, "ResolveTarget"]:
    """The Resolve timeline of `keydub panel --resolve` as a file in its output folder: `(timeline file, output
    folder, target)`. The folder is `keydub resolve render`'s for the same project and timeline, so both share one
    job store."""
    from keydub.plugin.panel.resolve_link import ResolveTarget
    from keydub.plugin.resolve.bridge import default_out_dir
    from keydub.plugin.timeline.otio_file import read_timeline, write_timeline

    if args.source is not None:
        raise InvalidParameterError("--resolve opens Resolve's timeline; leave out the file argument")
    if args.export is not None:
        if not (args.project and args.timeline):
            raise InvalidParameterError("--export needs --project NAME and --timeline NAME: where it comes from")
        timeline, project = read_timeline(args.export.absolute()), args.project
        timeline.name = args.timeline
    else:
        from keydub.plugin.resolve.bridge import session, snapshot

        resolve, project_object, _ = session()
        timeline, project = snapshot(args.timeline, resolve=resolve), project_object.GetName()
    out_dir = Path(args.out_dir).absolute() if args.out_dir else default_out_dir(project, timeline.name)
    folder = make_folder(out_dir / ".keydub" / "panel", "choose another output folder with --out-dir")
    path = write_timeline(timeline, folder / "resolve_timeline.otio", overwrite=True)
    return path, out_dir, ResolveTarget(project=project, timeline=timeline.name, out_dir=out_dir)

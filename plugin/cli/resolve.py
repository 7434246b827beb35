"""`keydub resolve`: the DaVinci Resolve bridge from the command line (status, snapshot, render, apply, scripts)."""

import argparse
import sys
from pathlib import Path

from keydub.plugin.cli._numbers import frame_count
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli._render_options import add_consent_flags, add_option_flags, options_from_args
from keydub.plugin.cli.timeline import add_cast_argument, add_executor_arguments, add_track_arguments, cast_from_args
from keydub.plugin.resolve import STRATEGIES, apply, probe, render_and_apply, snapshot
from keydub.plugin.resolve.install import install_launcher
from keydub.plugin.store import JobState
from keydub.plugin.timeline.executors import executor_entry
from keydub.plugin.timeline.plan import DEFAULT_HANDLES, PlanOptions


EXAMPLES = """examples:
  keydub resolve status
  keydub resolve snapshot -o episode101.otio
  keydub resolve render --dub-track "DX es-419"
  keydub resolve render --dub-track "DX es-419" --timeline "Episode 101" --as takes --out-dir /renders/ep101
  keydub resolve render --dub-track "DX es-419" --cast cast.toml
  keydub resolve apply /farm/ep101/episode101.keydub.otio --as duplicate
  keydub resolve install-scripts --dry-run

status, snapshot, render and apply need DaVinci Resolve Studio 19.0.2 or newer with Preferences > System >
General > External scripting using: Local. Without it, use the Workspace > Scripts > Keydub menu entries
(after install-scripts), or the OTIO round trip: File > Export > Timeline (.otio), `keydub timeline`, then
File > Import > Timeline.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resolve",
        help="render the open DaVinci Resolve timeline and put the results back on it",
        description="Talk to a running DaVinci Resolve Studio: read its current timeline, render the dialogue\n"
        "clips (the same resumable batch as `keydub timeline`), and write the renders back as a new\n"
        "video track, as takes, or on a copy of the timeline, each with a QC marker. Original clips\n"
        "are never changed.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="resolve_command", metavar="COMMAND", required=True)

    status = commands.add_parser(
        "status",
        help="product, edition, version, project and timeline of the running Resolve, or why it cannot be reached",
    )
    add_output_flags(status, quiet=False, result="the status")
    status.set_defaults(func=run_status)

    snap = commands.add_parser("snapshot", help="write the current (or a named) timeline as a Resolve-shaped .otio")
    snap.add_argument("--timeline", metavar="NAME", help="the timeline (default: the current one)")
    snap.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.otio", help="the .otio to write")
    snap.add_argument("--overwrite", action="store_true", help="replace an existing file")
    snap.set_defaults(func=run_snapshot, paths=snapshot_paths)

    render = commands.add_parser(
        "render",
        help="render the timeline's dialogue clips and put the renders back",
        description="Snapshot the timeline, render what is not rendered yet (resumable, "
        "only what changed), then apply the renders.",
    )
    add_track_arguments(render)
    add_cast_argument(render)
    render.add_argument("--timeline", metavar="NAME", help="the timeline (default: the current one)")
    _add_strategy(render)
    render.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="folder for the renders and the job store (default: ~/Keydub/<project>/<timeline>)",
    )
    render.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE.otio",
        help="also write the result timeline (for QC or another machine)",
    )
    render.add_argument(
        "--handles",
        type=frame_count,
        default=DEFAULT_HANDLES,
        metavar="FRAMES",
        help=f"extra frames rendered before and after each clip (default: {DEFAULT_HANDLES})",
    )
    render.add_argument("--only", nargs="+", default=[], metavar="CLIP", help="render only these clips")
    render.add_argument("--force", action="store_true", help="render the clips again even when already done")
    render.add_argument("--overwrite", action="store_true", help="replace an existing result timeline (-o)")
    add_output_flags(render, quiet=False)
    add_executor_arguments(render)
    add_consent_flags(render)
    add_option_flags(render)
    render.set_defaults(func=run_render, paths=render_paths)

    put = commands.add_parser(
        "apply", help="put the renders of a result .otio (e.g. from a render farm) onto the open timeline"
    )
    put.add_argument(
        "results",
        type=Path,
        metavar="RESULT.otio",
        help="a result timeline written by `keydub timeline` or `keydub resolve render -o`",
    )
    put.add_argument("--timeline", metavar="NAME", help="the Resolve timeline (default: the one named in the file)")
    _add_strategy(put)
    add_output_flags(put, quiet=False)
    put.set_defaults(func=run_apply)

    install = commands.add_parser(
        "install-scripts", help="copy the Keydub launcher into Resolve's Workspace > Scripts menu for this user"
    )
    install.add_argument("--dry-run", action="store_true", help="print where it would go and write nothing")
    install.add_argument(
        "--scripts-dir",
        type=Path,
        metavar="DIR",
        help="Resolve's Fusion/Scripts folder (default: this user's, for this OS)",
    )
    install.set_defaults(func=run_install)

    pending = commands.add_parser(
        "placements",
        help="print, as JSON, the renders waiting for Workspace > Scripts > Keydub - Import renders",
        description='What the "Keydub - Import renders" menu entry places: the renders the panel saved for a '
        "timeline when it could not reach Resolve, with their record frames and the write-back strategy.",
    )
    pending.add_argument("--project", required=True, metavar="NAME", help="the Resolve project")
    pending.add_argument("--timeline", required=True, metavar="NAME", help="the Resolve timeline")
    pending.add_argument(
        "--file",
        type=Path,
        metavar="RESULT.otio",
        help="a result timeline to read instead of the one saved in the output folder",
    )
    pending.set_defaults(func=run_placements, paths=placements_paths)


def _add_strategy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="strategy",
        choices=STRATEGIES,
        default="track",
        help="track: a new video track (default); takes: a take on each original clip, selected; "
        "duplicate: a copy of the timeline with the new track",
    )


def run_status(args: argparse.Namespace) -> int:
    status = probe()
    if args.json:
        print_json(status.to_dict())
    else:
        print(status.summary())
    return 0 if status.is_usable else 1


def run_snapshot(args: argparse.Namespace) -> int:
    from keydub.plugin.timeline.otio_file import write_timeline

    timeline = snapshot(args.timeline)
    write_timeline(timeline, args.output.absolute(), overwrite=args.overwrite)
    print(f"Wrote {args.output.absolute()} (timeline {timeline.name!r}, {len(timeline.tracks)} tracks)")
    return 0


def snapshot_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(outputs={"-o": args.output}, overwrite=args.overwrite)


def render_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output, "--out-dir": args.out_dir},
        inputs={"--cast": args.cast},
        folders=("--out-dir",),
        overwrite=args.overwrite,
        is_device_local=executor_entry(args.executor).runs_locally,
    )


def placements_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(outputs={}, inputs={"--file": args.file})


def run_render(args: argparse.Namespace) -> int:
    from keydub.plugin.cli.timeline import format_summary

    options = PlanOptions(
        picture_tracks=tuple(args.video_track),
        dub_tracks=tuple(args.dub_track),
        dub_language=args.dub_lang,
        handles=args.handles,
        only=tuple(args.only),
        render_options=options_from_args(args),
        require_consent=args.require_consent,
        cast=cast_from_args(args),
    )
    out_dir = args.out_dir.absolute() if args.out_dir is not None else None
    entry = executor_entry(args.executor)
    executor = entry.build(args)
    with ProgressBar(disable=args.json) as progress:
        result = render_and_apply(
            options,
            out_dir,
            timeline=args.timeline,
            strategy=args.strategy,
            output_path=args.output,
            # --overwrite is about the result timeline; every render goes to a new, content-named file.
            overwrite=args.overwrite,
            force=args.force,
            executor=executor,
            progress=progress,
        )
    if args.json:
        print_json(entry.report(result.to_dict(), executor))
    else:
        print(format_summary(result.run))
        print(result.applied.summary() if result.applied is not None else "Nothing rendered, nothing applied.")
        for warning in result.applied.warnings if result.applied is not None else ():
            print(f"Warning: {warning}", file=sys.stderr)
    return 1 if result.run.count(JobState.FAILED) else 0


def run_apply(args: argparse.Namespace) -> int:
    report = apply(args.results, args.strategy, timeline=args.timeline)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.summary())
        for warning in report.warnings:
            print(f"Warning: {warning}", file=sys.stderr)
    return 0


def run_install(args: argparse.Namespace) -> int:
    result = install_launcher(scripts_folder=args.scripts_dir, dry_run=args.dry_run)
    verb = "Would copy" if args.dry_run else "Copied"
    for target in result.targets:
        print(f"{verb} the Keydub launcher to {target}")
    print(f"It starts: {' '.join(result.command)}")
    if not args.dry_run:
        print("Restart Resolve, then open Workspace > Scripts > Keydub.")
    return 0


def run_placements(args: argparse.Namespace) -> int:
    from keydub.plugin.resolve.handoff import pending_import

    print_json(pending_import(args.project, args.timeline, args.file))
    return 0

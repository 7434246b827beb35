"""`keydub timeline`: batch re-render of an editor's dubbing timeline into a new timeline with a Keydub track."""

import argparse
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from keydub.core.errors import TimelineError
from keydub.plugin.cli._numbers import finite_number, frame_count, sample_rate
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json, report_stale_files_removed
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli._render_options import add_consent_flags, add_option_flags, options_from_args
from keydub.plugin.cluster.command_line import path_mapping_type
from keydub.plugin.cluster.estimate import DEFAULT_THROUGHPUT_S_PER_S, estimate_cost, format_duration
from keydub.plugin.cluster.path_map import PathMap
from keydub.plugin.jobs import AudioPiece
from keydub.plugin.qc_marker import cast_note, unsure_lines
from keydub.plugin.store import JobState
from keydub.plugin.timeline.batch import ClipOutcome, OutputFolder, TimelineRun, render_timeline
from keydub.plugin.timeline.executors import EXECUTORS, executor_entry
from keydub.plugin.timeline.formats import FORMATS
from keydub.plugin.timeline.plan import DEFAULT_HANDLES, MODEL_SAMPLE_RATE, PlanOptions
from keydub.plugin.timeline.timecode import exact_rate, format_rate


if TYPE_CHECKING:
    from keydub.plugin.cast.cast_file import Cast

# A render faster than a millisecond of GPU per second of output is a typo.
_throughput = finite_number(0.001, 1000)


EXAMPLES = """examples:
  keydub timeline episode101.otio --dub-track "DX es-419" --out-dir renders/ -o episode101_es-419.otio
  keydub timeline premiere_export.xml --dub-track A3 --relink "D:/Media=/mnt/media" -o episode101_es-419.xml
  keydub timeline library.fcpxml --sequence "Episode 101" --dub-lang es-419 --dry-run
  keydub timeline avid_export.aaf --dub-track A2 --video-track V1
  keydub timeline episode101.otio --dub-lang es-419 --dry-run
  keydub timeline episode101.otio --dub-track "DX es-419" --only sh010 sh020 --force --codec h264
  keydub timeline episode101.otio --dub-track "DX es-419" --video-track "Video 2" --handles 24 --json
  keydub timeline episode101.otio --dub-track "DX es-419" --worker
  keydub timeline episode101.otio --dub-lang es-419 --executor ray --address auto --path-map /Volumes/SAN=/mnt/san
  keydub timeline episode101.otio --dub-track "DX es-419" --dry-run --throughput 0.8
  keydub timeline episode101.otio --dub-track "DX es-419" --cast cast.toml --out-dir renders/

Timelines are read from OpenTimelineIO (.otio), FCP 7 XML (.xml), FCPXML (.fcpxml), CMX 3600 EDL (.edl)
and AAF (.aaf); all but .otio need pip install "keydub[formats]". Tracks are named by their name or by
their position (V1, A2, ...). Per-clip settings (enabled, face, occluders, audio override, params) are read
from each clip's metadata["keydub"]; a re-run renders only clips whose settings, media or dub audio changed.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "timeline",
        help="re-render every dialogue clip of an editor's dubbing timeline",
        description="Render every picture clip of an editor's timeline with the dub dialogue under it, and\n"
        "write a new timeline with the renders on a new video track above the picture. The input\n"
        "timeline is never changed; clips already rendered with the same settings are not rendered\n"
        "again, and a killed run resumes where it stopped.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "timeline",
        type=Path,
        help=f"the editor's exported timeline: {', '.join(f'{fmt.name} ({fmt.suffix})' for fmt in FORMATS)}",
    )
    parser.add_argument(
        "--sequence",
        metavar="NAME",
        help="the timeline to take from a file that holds several (an FCPXML library, an AAF with several sequences)",
    )
    parser.add_argument(
        "--edl-rate",
        type=_edl_rate,
        metavar="FPS",
        help="frame rate of an EDL's timecodes, which the file does not state (default: 24; e.g. 25, 30000/1001)",
    )
    parser.add_argument(
        "--out-dir", type=Path, help="folder for the renders and the job store (default: <timeline>_keydub beside it)"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="the new timeline, in the format its extension names: "
        f"{', '.join(fmt.suffix for fmt in FORMATS if fmt.can_write)} (default: <timeline>.keydub.<ext> beside "
        "it, in the input's format where Keydub writes it, else .otio)",
    )
    parser.add_argument(
        "--relink",
        action="append",
        default=[],
        type=path_mapping_type("--relink"),
        metavar="FROM=TO",
        help="the media folder FROM, as the timeline names it (a Windows D:\\Media too), is TO on this machine; "
        "repeat for several folders (the same rules as the farm's --path-map)",
    )
    add_track_arguments(parser)
    add_cast_argument(parser)
    parser.add_argument(
        "--handles",
        type=frame_count,
        default=DEFAULT_HANDLES,
        metavar="FRAMES",
        help=f"extra frames rendered before and after each clip, clamped to the media (default: {DEFAULT_HANDLES})",
    )
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="CLIP", help="render only these clips (clip names or Keydub clip ids)"
    )
    parser.add_argument("--force", action="store_true", help="render the clips again even when already done")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (clips, dub audio, skips, what is already done) and write nothing",
    )
    parser.add_argument(
        "--audio-rate",
        type=sample_rate,
        default=MODEL_SAMPLE_RATE,
        metavar="HZ",
        help=f"sample rate of the assembled dub audio (default: {MODEL_SAMPLE_RATE})",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output timeline (-o)")
    add_output_flags(parser, quiet=False)
    add_executor_arguments(parser)
    parser.add_argument(
        "--throughput",
        type=_throughput,
        default=float(DEFAULT_THROUGHPUT_S_PER_S),
        metavar="S_PER_S",
        help="seconds of GPU per second of output, for the --dry-run estimate (default: "
        f"{float(DEFAULT_THROUGHPUT_S_PER_S):.2f}, the FLOP budget's floor on one H100/H200; not "
        "a measurement)",
    )
    add_consent_flags(parser)
    add_option_flags(parser)
    parser.set_defaults(func=run, paths=timeline_paths)


def add_track_arguments(parser: argparse.ArgumentParser) -> None:
    """`--dub-track`, `--dub-lang` and `--video-track`: the tracks of a timeline a command works on."""
    parser.add_argument(
        "--dub-track",
        action="append",
        default=[],
        metavar="NAME",
        help="audio track holding the dub dialogue, by name or position (A3); repeat to sum several tracks",
    )
    parser.add_argument(
        "--dub-lang",
        metavar="LANG",
        help="pick the dub track(s) by language (metadata keydub.lang, or a word of the track name)",
    )
    parser.add_argument(
        "--video-track",
        action="append",
        default=[],
        metavar="NAME",
        help="video track holding the picture, by name or position (V2); repeat for several (default: every "
        "enabled one)",
    )


def add_cast_argument(parser: argparse.ArgumentParser) -> None:
    """`--cast FILE`: lip-sync each shot's characters, each to its own dub track or the mixed dub."""
    parser.add_argument(
        "--cast",
        type=Path,
        metavar="CAST.toml",
        help="sync only the characters of this cast file in each shot (write one with `keydub cast suggest`): "
        "each to its own dub track, or to the dub (--dub-track) where it speaks in the original; other faces "
        "are left untouched (see docs/guides/cast.md)",
    )


def cast_from_args(args: argparse.Namespace) -> "Cast | None":
    """The cast `--cast` names, read and checked; `None` without the flag."""
    from keydub.plugin.cast.cast_file import read_cast

    return read_cast(args.cast) if args.cast is not None else None


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """`--executor NAME` (`--worker` for `--executor worker`) and every executor's own options, as each command
    that renders a batch takes them."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--executor",
        choices=tuple(EXECUTORS),
        default=next(iter(EXECUTORS)),
        help="who renders the queued clips: "
        + "; ".join(f"{name}: {executor_entry(name).help}" for name in EXECUTORS)
        + f" (default: {next(iter(EXECUTORS))})",
    )
    where.add_argument(
        "--worker",
        dest="executor",
        action="store_const",
        const="worker",
        help="render in a `keydub worker` process on the output folder (same as --executor worker)",
    )
    for name in EXECUTORS:
        executor_entry(name).add_arguments(parser)


def timeline_paths(args: argparse.Namespace) -> CommandPaths:
    # A dry run writes nothing, so an existing -o is no reason to refuse it.
    return CommandPaths(
        outputs={"-o": args.output, "--out-dir": args.out_dir},
        inputs={"timeline": args.timeline, "--cast": args.cast},
        folders=("--out-dir",),
        overwrite=args.overwrite or args.dry_run,
        is_device_local=executor_entry(args.executor).runs_locally,
    )


def run(args: argparse.Namespace) -> int:
    options = PlanOptions(
        picture_tracks=tuple(args.video_track),
        dub_tracks=tuple(args.dub_track),
        dub_language=args.dub_lang,
        handles=args.handles,
        only=tuple(args.only),
        sample_rate=args.audio_rate,
        render_options=options_from_args(args),
        require_consent=args.require_consent,
        relink=PathMap(tuple(args.relink)),
        cast=cast_from_args(args),
    )
    timeline = args.timeline.absolute()
    out_dir = args.out_dir if args.out_dir is not None else timeline.with_name(f"{timeline.stem}_keydub")
    if not args.dry_run:
        report_stale_files_removed(targets=[args.output], folders=[out_dir, OutputFolder(out_dir.absolute()).staging])
    entry = executor_entry(args.executor)
    # A dry run renders nothing, so it needs no executor (a farm: no cluster, nor Ray installed).
    executor = None if args.dry_run else entry.build(args)
    with ProgressBar(disable=args.json) as progress:
        result = render_timeline(
            timeline,
            out_dir,
            args.output,
            options,
            executor=executor,
            force=args.force,
            dry_run=args.dry_run,
            # --overwrite is about the output timeline; every render goes to a new, content-named file.
            overwrite=args.overwrite,
            progress=progress,
            sequence=args.sequence,
            edl_rate=args.edl_rate,
        )
    if args.json:
        print_json(result.to_dict() if executor is None else entry.report(result.to_dict(), executor))
    else:
        print(format_summary(result, throughput=args.throughput))
    return 1 if result.count(JobState.FAILED) else 0


def _edl_rate(text: str) -> Fraction:
    try:
        return exact_rate(float(Fraction(text)))
    except (ValueError, ZeroDivisionError, TimelineError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a standard frame rate; give e.g. 24, 25, 30 or 30000/1001"
        ) from error


def format_summary(result: TimelineRun, throughput: float = float(DEFAULT_THROUGHPUT_S_PER_S)) -> str:
    """The human-readable result: a header, one row per clip (its dub audio too for a dry run), a total line; a
    dry run adds the frames to render and their GPU time at `throughput` (seconds of GPU per output second)."""
    plan = result.plan
    verb = "would go on" if result.is_dry_run else "is on"
    lines = [
        f"Timeline {plan.timeline_name!r} at {format_rate(plan.rate)} fps, dub {plan.dub_label}; "
        f"renders {verb} track {result.track_name!r}",
        "",
    ]
    rows = [("CLIP", "TRACK", "RECORD", "FRAMES", "STATE", "DETAIL")]
    jobs = {clip.clip_id: clip.job for clip in plan.clips}
    pieces: dict[int, list[str]] = {}
    for outcome in result.outcomes:
        rows.append(
            (
                outcome.name,
                outcome.track,
                outcome.record_timecode,
                str(outcome.frames or ""),
                _state_label(outcome),
                _detail(outcome),
            )
        )
        job = jobs[outcome.clip_id]
        pieces[len(rows) - 1] = cast_lines(outcome.qc)
        if result.is_dry_run and job is not None:
            pieces[len(rows) - 1] += [_piece_line("audio", piece) for piece in job.audio_pieces]
            pieces[len(rows) - 1] += [
                _piece_line(f"{speaker.character}'s stem", piece)
                for speaker in job.speakers
                for piece in speaker.audio_pieces
            ]
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5])
        lines.extend(f"    {piece}" for piece in pieces.get(index, []))
    counts = (
        [f"{result.rendered_count} rendered"]
        if not result.is_dry_run
        else [f"{result.count(JobState.PENDING)} to render"]
    )
    counts += [
        f"{_count_up_to_date(result)} up to date",
        f"{result.count(JobState.SKIPPED)} skipped",
        f"{result.count(JobState.FAILED)} failed",
    ]
    if result.count(JobState.CANCELLED):  # taken out of the queue (the panel, `cancel JOB`) while the batch ran
        counts.append(f"{result.count(JobState.CANCELLED)} cancelled")
    if result.is_dry_run:
        lines += ["", *estimate_lines(result, throughput)]
    lines += ["", ", ".join(counts) + "."]
    if result.output_timeline is not None:
        lines.append(f"Wrote {result.output_timeline}")
    return "\n".join(lines)


def _piece_line(what: str, piece: AudioPiece) -> str:
    return (
        f"{what} {piece.label}: {float(piece.duration):.3f} s from {float(piece.file_start):.3f} s of "
        f"{piece.path.name}, at +{float(piece.offset):.3f} s"
    )


def cast_lines(qc: dict) -> list[str]:
    """A clip's cast lines under its row: who is synced, with the match distances, who is left out, and the
    stretches of speech no face was sure to speak."""
    synced = [cast_note(qc["speakers"]), *qc.get("cast_notes", [])] if qc.get("speakers") else []
    return synced + unsure_lines(qc.get("unsure_turns", []))


def estimate_lines(run: TimelineRun, throughput: float) -> list[str]:
    """The dry run's cost lines: frames and output time still to render, and the GPU time they take."""
    jobs = {clip.clip_id: clip.job for clip in run.plan.clips}
    estimate = estimate_cost(
        (
            (jobs[outcome.clip_id].frame_count, jobs[outcome.clip_id].frame_rate)
            for outcome in run.outcomes
            if outcome.state is JobState.PENDING
        ),
        throughput,
    )
    default = (
        " (the FLOP budget's floor on one H100/H200, not a measurement: pass yours with --throughput)"
        if estimate.throughput == DEFAULT_THROUGHPUT_S_PER_S
        else ""
    )
    return [
        f"To render: {estimate.frames} frames, {format_duration(estimate.output_seconds)} of output.",
        f"Estimated GPU time: {format_duration(estimate.gpu_seconds)} at {float(estimate.throughput):.2f} s "
        f"of GPU per output second{default}; divide by the number of GPUs for a farm's wall clock.",
    ]


def _count_up_to_date(result: TimelineRun) -> int:
    return sum(outcome.state is JobState.DONE and not outcome.was_rendered for outcome in result.outcomes)


def _state_label(outcome: ClipOutcome) -> str:
    if outcome.state is JobState.DONE:
        return "rendered" if outcome.was_rendered else "done"
    return "to render" if outcome.state is JobState.PENDING else outcome.state.value


def _detail(outcome: ClipOutcome) -> str:
    if outcome.state is JobState.DONE and outcome.output is not None:
        return outcome.output.name if outcome.was_rendered else f"{outcome.output.name} ({outcome.message})"
    return outcome.message or ""

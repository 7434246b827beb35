"""`keydub eval`: measure lip leakage and lip sync of Keydub's renders.

- `keydub eval leak --video CLIP -o DIR`: dub the clip with silence and report LipLeak (the share of frames whose
  mouth is open) with its MAR curve as a PNG and the numbers as JSON.
- `keydub eval protocol --videos DIR --audios DIR --syncnet syncnet_v2.model -o DIR`: the leakage protocol
  (silent, matched and mismatched audio; `first` and `auto` identity frames) with SyncNet LSE-C / LSE-D, LSD and
  LipLeak, written as a Markdown and a JSON table.
"""

import argparse
from pathlib import Path
from typing import Any

from keydub.core.codecs import CODECS
from keydub.core.render.options import RenderOptions
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli._render_options import add_option_flags, options_from_args


EXAMPLES_LEAK = """examples:
  keydub eval leak --video shot_010.mov -o qc/shot_010
  keydub eval leak --video shot_010.mov -o qc/shot_010 --identity auto --landmark-backend dlib --json
  keydub eval leak --video shot_010.mov -o qc/shot_010 --threshold 0.3 --weights ./keysync-local

The clip is dubbed with digital silence of its own length: every frame whose mouth opens (MAR above the
threshold) is expression leaking from the source picture. Writes <DIR>/videos/<clip>.SI.<identity>.mov,
<DIR>/<clip>.mar.png and <DIR>/<clip>.lipleak.json.
"""

EXAMPLES_PROTOCOL = """examples:
  keydub eval protocol --videos set/videos --audios set/audios --syncnet syncnet_v2.model -o report/
  keydub eval protocol --videos set/videos --audios set/videos --syncnet syncnet_v2.safetensors -o report/ --json
  keydub eval protocol --videos set/videos --audios set/audios --syncnet syncnet_v2.model -o report/ \\
      --references first --setups SI XM --device cuda

Each video is paired with the audio file of the same name (pass the videos folder as --audios to use their own
sound). The mismatched setup dubs video i (sorted by name) with the audio of video i+1. Generated videos are kept
under <DIR>/videos/ and reused by a later run into the same folder. Writes <DIR>/report.md and <DIR>/report.json.

SyncNet weights: syncnet_v2.model from the joonson/syncnet_python release (a state dict, read without running
code) or a .safetensors conversion of it; a file holding a pickled model is refused with the command that
converts it.
"""


def leak_outputs(video: Path, folder: Path) -> dict[str, Path]:
    """The files `keydub eval leak` writes for `video` into `folder` besides the render, by what they are."""
    return {"-o (plot)": folder / f"{video.stem}.mar.png", "-o (numbers)": folder / f"{video.stem}.lipleak.json"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure lip leakage (LipLeak) and lip sync (SyncNet LSE) of renders",
        description="Evaluation of Keydub's renders: leakage of the source's mouth and lip sync.",
    )
    commands = parser.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND", required=True)

    leak = commands.add_parser(
        "leak",
        help="LipLeak of one clip: render it with silent audio and measure how often the mouth opens",
        description="Render a clip with silent dub audio and report LipLeak, the share of frames whose mouth is\n"
        "open (mouth aspect ratio above the threshold), with the MAR curve as a PNG.",
        epilog=EXAMPLES_LEAK,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    leak.add_argument("--video", type=Path, required=True, help="the talking clip to test")
    leak.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the render, plot and JSON")
    _add_measure_options(leak)
    add_option_flags(leak)
    leak.set_defaults(func=run_leak, paths=leak_paths)

    protocol = commands.add_parser(
        "protocol",
        help="the leakage protocol: SI, AM and XM renders of a set, scored with SyncNet",
        description="Render every video of a set with silent (SI), its own (AM) and another video's (XM) audio,\n"
        "for the 'first' and 'auto' identity frames, and report LipLeak, LSE-C/LSE-D, their\n"
        "silent-input versions LSE-C_S/LSE-D_S and LSD per identity strategy and per video.",
        epilog=EXAMPLES_PROTOCOL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    protocol.add_argument("--videos", type=Path, required=True, help="folder of talking videos")
    protocol.add_argument(
        "--audios", type=Path, required=True, help="folder of their own audio, one file per video with the same name"
    )
    protocol.add_argument(
        "--syncnet",
        type=Path,
        metavar="WEIGHTS",
        help="SyncNet weights: syncnet_v2.model or its .safetensors conversion (default: the "
        "syncnet component of `keydub weights`)",
    )
    protocol.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for renders and reports")
    protocol.add_argument(
        "--references",
        nargs="+",
        default=["first", "auto"],
        choices=("first", "auto"),
        help="identity frame strategies to compare (default: first auto)",
    )
    protocol.add_argument(
        "--setups",
        nargs="+",
        default=["SI", "AM", "XM"],
        choices=("SI", "AM", "XM"),
        help="generation setups to run (default: SI AM XM)",
    )
    _add_measure_options(protocol)
    add_option_flags(protocol)
    protocol.set_defaults(func=run_protocol_command, paths=protocol_paths)


def leak_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output_dir, **leak_outputs(args.video, args.output_dir)},
        inputs={"--video": args.video},
        folders=("-o",),
        overwrite=args.overwrite,
    )


def protocol_paths(args: argparse.Namespace) -> CommandPaths:
    from keydub.core.evaluation.protocol import report_outputs

    return CommandPaths(
        outputs={"-o": args.output_dir, **report_outputs(args.output_dir)},
        inputs={"--videos": args.videos, "--audios": args.audios, "--syncnet": args.syncnet},
        folders=("-o",),
        overwrite=args.overwrite,
    )


def _add_measure_options(parser: argparse.ArgumentParser) -> None:
    from keydub.core.metrics.mar import LIPLEAK_THRESHOLD

    parser.add_argument(
        "--threshold",
        type=float,
        default=LIPLEAK_THRESHOLD,
        metavar="MAR",
        help=f"mouth aspect ratio above which a mouth is open (default: {LIPLEAK_THRESHOLD}, KeySync's)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the renders and reports of an earlier run")
    add_output_flags(parser, quiet=False)


def run_leak(args: argparse.Namespace) -> int:
    from keydub.core.engine import Engine
    from keydub.core.evaluation.evaluate import face_landmark_source
    from keydub.core.evaluation.protocol import check_generation_outputs, engine_renderer, plan_leak, silent_input_leak
    from keydub.core.files import write_json_atomically
    from keydub.core.media import probe
    from keydub.core.metrics.mar import check_threshold
    from keydub.core.metrics.plot import draw_mar_plot

    options = options_from_args(args)
    folder = args.output_dir
    stem = args.video.stem
    # Both were checked before the command started (`_preflight`): new, or replaced with --overwrite.
    plot_path, json_path = leak_outputs(args.video, folder).values()
    reference = str(options.identity)
    # Check the threshold, the render's paths and the clip before the landmarks and the model load.
    check_threshold(args.threshold)
    check_generation_outputs(plan_leak(args.video, folder, reference=reference, suffix=_suffix(options)), folder)
    probe(args.video)
    engine = Engine()  # one landmark backend for the render and the measurement
    with ProgressBar(disable=args.json) as progress:
        generation, measurement = silent_input_leak(
            args.video,
            folder,
            landmarks=face_landmark_source(engine.landmark_backend(options.landmark_backend)),
            renderer=engine_renderer(engine, options),
            reference=reference,
            threshold=args.threshold,
            suffix=_suffix(options),
            progress=progress,
        )
    numbers = measurement.to_dict()
    result: dict[str, Any] = {
        "video": str(args.video.absolute()),
        "identity": reference,
        "rendered": str(generation.output),
        "plot": str(plot_path),
        "lipleak": numbers.pop("open_share"),
        **numbers,
    }
    title = f"{stem}: LipLeak {measurement.open_share:.3f} (silent dub, identity {reference})"
    draw_mar_plot(measurement.mar, plot_path, frame_rate=measurement.frame_rate, threshold=args.threshold, title=title)
    write_json_atomically(json_path, result)
    if args.json:
        print_json(result)
    else:
        measured = measurement.frame_count - measurement.missing_frames
        print(
            f"LipLeak {measurement.open_share:.3f}: {measurement.open_frames} of {measured} frames with a face "
            f"have an open mouth (MAR > {args.threshold}); {measurement.missing_frames} frames without a face"
        )
        print(f"render: {generation.output}\nplot:   {plot_path}\nnumbers: {json_path}")
    return 0


def run_protocol_command(args: argparse.Namespace) -> int:
    from keydub.core.devices import resolve_device
    from keydub.core.engine import Engine
    from keydub.core.evaluation.evaluate import face_landmark_source
    from keydub.core.evaluation.protocol import (
        check_generation_outputs,
        engine_renderer,
        pair_inputs,
        plan_generations,
        run_protocol,
        write_protocol_report,
    )
    from keydub.core.metrics.mar import check_threshold
    from keydub.core.metrics.syncnet import SyncNetScorer, load_syncnet
    from keydub.core.weights import resolve_weights

    options = options_from_args(args)
    folder = args.output_dir
    # Everything that can be wrong with the inputs and the renders' paths is found before SyncNet loads.
    check_threshold(args.threshold)
    items = pair_inputs(args.videos, args.audios)
    plan = plan_generations(items, folder, setups=args.setups, references=args.references, suffix=_suffix(options))
    check_generation_outputs(plan, folder)
    syncnet = args.syncnet or resolve_weights("syncnet")
    scorer = SyncNetScorer(load_syncnet(syncnet, device=resolve_device(options.device)))
    settings = {
        "videos": str(args.videos.absolute()),
        "audios": str(args.audios.absolute()),
        "syncnet": str(Path(syncnet).absolute()),
        "render": {k: str(v) for k, v in options.to_dict().items()},
    }
    engine = Engine()
    with ProgressBar(disable=args.json) as progress:
        report = run_protocol(
            items,
            folder,
            scorer=scorer,
            landmarks=face_landmark_source(engine.landmark_backend(options.landmark_backend)),
            renderer=engine_renderer(engine, options),
            setups=args.setups,
            references=args.references,
            threshold=args.threshold,
            suffix=_suffix(options),
            settings=settings,
            progress=progress,
        )
    markdown_path, json_path = write_protocol_report(report, folder, overwrite=args.overwrite)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.to_markdown())
        print(f"report: {markdown_path}\n        {json_path}")
    return 0


def _suffix(options: RenderOptions) -> str:
    return CODECS[options.codec].container

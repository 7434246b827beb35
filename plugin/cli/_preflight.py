"""What the command line alone decides, checked before any command opens a clip or loads a model.

`check_command_line(args)` runs first for every command (`keydub.plugin.cli.main`): `--device` names a device this
machine has, every path the command will
write obeys the rules of `keydub.core.files.check_outputs` (never an input, never an existing file without
`--overwrite`, never a folder where a file is wanted, names that fit, folders that can be written, no two outputs
the same), and a video output's extension fits its codec. A refusal here costs milliseconds, where the same
refusal from the writer came after the landmarks and the model load. `keydub eval`'s renders and silent audio
under `-o` are checked by the command itself, by the same rules, once it has paired the set and still before any
model loads (`keydub.core.evaluation.protocol.check_generation_outputs`).
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keydub.core.errors import InvalidParameterError
from keydub.core.files import check_outputs
from keydub.core.render.options import RenderOptions
from keydub.plugin.cli._farm import RAY_EXECUTOR
from keydub.plugin.cli.eval import leak_outputs


@dataclass(frozen=True)
class CommandPaths:
    """The paths a parsed command line names, by option.

    Args:
        outputs (`dict[str, Path | None]`): what the command writes.
        inputs (`dict[str, Path | None]`): what it reads (files or folders); never written.
        folders (`tuple[str, ...]`): the options of `outputs` that are folders to write into.
        overwrite (`bool`): whether `--overwrite` was given.
        video_output (`tuple[str, str] | None`): the option of a video output and its codec, when there is one.
    """

    outputs: dict[str, Path | None]
    inputs: dict[str, Path | None] = field(default_factory=dict)
    folders: tuple[str, ...] = ()
    overwrite: bool = False
    video_output: tuple[str, str] | None = None


def check_command_line(args: argparse.Namespace) -> None:
    """Refuse, before any work, the outputs of `args` that could damage a file or could not be written.

    Raises:
        `DeviceNotAvailableError`: `--device` names a device this machine does not have (`resolve_device`).
        `InvalidParameterError`, `OutputExistsError`, `OutputNotWritableError`: see `check_outputs`; also a video
            output whose extension its codec cannot be written to.
    """
    device = getattr(args, "device", None)
    # A farm's devices are the render nodes', not this machine's: each node checks its own.
    if isinstance(device, str) and getattr(args, "executor", None) != RAY_EXECUTOR:
        from keydub.core.devices import resolve_device

        resolve_device(device)
    paths = command_paths(args)
    if paths is None:
        return
    checked = check_outputs(paths.outputs, inputs=paths.inputs, overwrite=paths.overwrite, folders=paths.folders)
    if paths.video_output is not None:
        option, codec = paths.video_output
        check_video_suffix(option, checked[option], codec)


def command_paths(args: argparse.Namespace) -> CommandPaths | None:
    """The paths the parsed command line `args` reads and writes (`None` for a command that writes no file)."""
    describe = _COMMANDS.get(_command_name(args))
    return None if describe is None else describe(args)


def check_video_suffix(option: str, path: Path, codec: str) -> None:
    """Refuse a video output whose extension `codec` cannot be written to (`.mp4` for ffv1, `.txt`, none)."""
    from keydub.core.media.writer import codec_suffixes

    suffixes = codec_suffixes(codec)
    if path.suffix.lower() not in suffixes:
        found = f"the extension {path.suffix!r}" if path.suffix else "no extension"
        raise InvalidParameterError(
            f"{option} {path.name} has {found}, but {codec} is written to {' or '.join(suffixes)} files; name the "
            f"output e.g. {path.stem}{suffixes[0]} or choose another --codec"
        )


def _command_name(args: argparse.Namespace) -> str:
    action = next((value for name in _SUBCOMMAND_DESTS if isinstance(value := getattr(args, name, None), str)), None)
    return f"{args.command} {action}" if isinstance(action, str) else str(args.command)


# Where each command with sub-commands keeps the sub-command's name.
_SUBCOMMAND_DESTS = ("eval_command", "resolve_command", "action")


def _overwrite(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "overwrite", False))


def _render_paths(args: argparse.Namespace) -> CommandPaths:
    inputs: dict[str, Path | None] = {"video": args.video, "--audio": args.audio}
    for index, text in enumerate(args.occluder_mask):
        # `[ID:]FILE@FRAME`: the file is what lies between an optional `ID:` and the last `@`.
        file = text.rsplit("@", 1)[0]
        inputs[f"--occluder-mask #{index + 1}"] = Path(file.split(":", 1)[1] if _has_object_id(file) else file)
    codec = args.codec or RenderOptions.codec
    return CommandPaths(
        outputs={"-o": args.output, "--report": args.report},
        inputs=inputs,
        overwrite=_overwrite(args),
        video_output=("-o", codec),
    )


def _has_object_id(text: str) -> bool:
    head, colon, _ = text.partition(":")
    return bool(colon) and head.isdigit()


def _mask_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output},
        inputs={"video": args.video},
        overwrite=_overwrite(args),
        video_output=("-o", args.codec),
    )


def _timeline_paths(args: argparse.Namespace) -> CommandPaths:
    # A dry run writes nothing, so an existing -o is no reason to refuse it.
    return CommandPaths(
        outputs={"-o": args.output, "--out-dir": args.out_dir},
        inputs={"timeline": args.timeline},
        folders=("--out-dir",),
        overwrite=_overwrite(args) or args.dry_run,
    )


def _convert_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output},
        inputs={"--keyframe": args.keyframe, "--interpolation": args.interpolation},
        folders=("-o",),
    )


def _eval_leak_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output_dir, **leak_outputs(args.video, args.output_dir)},
        inputs={"--video": args.video},
        folders=("-o",),
        overwrite=_overwrite(args),
    )


def _eval_protocol_paths(args: argparse.Namespace) -> CommandPaths:
    from keydub.core.evaluation.protocol import report_outputs

    return CommandPaths(
        outputs={"-o": args.output_dir, **report_outputs(args.output_dir)},
        inputs={"--videos": args.videos, "--audios": args.audios, "--syncnet": args.syncnet},
        folders=("-o",),
        overwrite=_overwrite(args),
    )


def _panel_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"--out-dir": args.out_dir},
        inputs={"source": args.source, "--audio": args.audio},
        folders=("--out-dir",),
    )


def _resolve_snapshot_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(outputs={"-o": args.output}, overwrite=_overwrite(args))


def _resolve_render_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output, "--out-dir": args.out_dir}, folders=("--out-dir",), overwrite=_overwrite(args)
    )


_COMMANDS: dict[str, Callable[[argparse.Namespace], CommandPaths]] = {
    "render": _render_paths,
    "mask": _mask_paths,
    "timeline": _timeline_paths,
    "convert-weights": _convert_paths,
    "eval leak": _eval_leak_paths,
    "eval protocol": _eval_protocol_paths,
    "panel": _panel_paths,
    "resolve snapshot": _resolve_snapshot_paths,
    "resolve render": _resolve_render_paths,
}

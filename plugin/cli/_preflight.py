"""What the command line alone decides, checked before any command opens a clip or loads a model.

`check_command_line(args)` runs first for every command (`keydub.plugin.cli.main`): `--device` names a device this
machine has (unless the command renders elsewhere), every path the command will write obeys the rules of
`keydub.core.files.check_outputs` (never an input, never an existing file without `--overwrite`, never a folder
where a file is wanted, names that fit, folders that can be written, no two outputs the same), and a video output's
extension fits its codec. A refusal here costs milliseconds, where the same refusal from the writer came after the
landmarks and the model load. Each command declares its own paths: `parser.set_defaults(paths=describe)`, where
`describe(args)` gives the command's `CommandPaths`. `keydub eval`'s renders and silent audio under `-o` are checked
by the command itself, by the same rules, once it has paired the set and still before any model loads
(`keydub.core.evaluation.protocol.check_generation_outputs`).
"""

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from keydub.core.codecs import codec_suffixes
from keydub.core.errors import InvalidParameterError
from keydub.core.files import check_outputs


@dataclass(frozen=True)
class CommandPaths:
    """The paths a parsed command line names, by option.

    Args:
        outputs (`dict[str, Path | None]`): what the command writes.
        inputs (`dict[str, Path | None]`): what it reads (files or folders); never written.
        folders (`tuple[str, ...]`): the options of `outputs` that are folders to write into.
        overwrite (`bool`): whether `--overwrite` was given.
        video_output (`tuple[str, str] | None`): the option of a video output and its codec, when there is one.
        is_device_local (`bool`, defaults to `True`): `--device` is one of this machine's (a farm's are its nodes').
    """

    outputs: dict[str, Path | None]
    inputs: dict[str, Path | None] = field(default_factory=dict)
    folders: tuple[str, ...] = ()
    overwrite: bool = False
    video_output: tuple[str, str] | None = None
    is_device_local: bool = True


def check_command_line(args: argparse.Namespace) -> None:
    """Refuse, before any work, the outputs of `args` that could damage a file or could not be written.

    Raises:
        `DeviceNotAvailableError`: `--device` names a device this machine does not have (`resolve_device`).
        `InvalidParameterError`, `OutputExistsError`, `OutputNotWritableError`: see `check_outputs`; also a video
            output whose extension its codec cannot be written to.
    """
    paths = command_paths(args)
    device = getattr(args, "device", None)
    if isinstance(device, str) and (paths is None or paths.is_device_local):
        from keydub.core.devices import resolve_device

        resolve_device(device)
    if paths is None:
        return
    checked = check_outputs(paths.outputs, inputs=paths.inputs, overwrite=paths.overwrite, folders=paths.folders)
    if paths.video_output is not None:
        option, codec = paths.video_output
        check_video_suffix(option, checked[option], codec)


def command_paths(args: argparse.Namespace) -> CommandPaths | None:
    """The paths the parsed command line `args` reads and writes (`None` for a command that writes no file)."""
    describe = getattr(args, "paths", None)
    return None if describe is None else describe(args)


def check_video_suffix(option: str, path: Path, codec: str) -> None:
    """Refuse a video output whose extension `codec` cannot be written to (`.mp4` for ffv1, `.txt`, none)."""
    suffixes = codec_suffixes(codec)
    if path.suffix.lower() not in suffixes:
        found = f"the extension {path.suffix!r}" if path.suffix else "no extension"
        raise InvalidParameterError(
            f"{option} {path.name} has {found}, but {codec} is written to {' or '.join(suffixes)} files; name the "
            f"output e.g. {path.stem}{suffixes[0]} or choose another --codec"
        )

"""The render options of every command that renders, derived flag by flag from `RenderOptions`' fields.

`add_option_flags(parser)` adds one flag per field (`steps` -> `--steps`; a switch on by default is the flag that
turns it off: `provenance` -> `--no-provenance`), with its help, choices, limits and default taken from the field's
`OptionSpec`; `options_from_args(args)` gives the `RenderOptions` of a parsed command line, each flag not given at
its default. Per-clip inputs (video, audio, output, frame range, face, occluders) are each command's own;
`add_consent_flags` adds the consent flags of the commands that render.
"""

import argparse
import dataclasses
from collections.abc import Iterable

from keydub.core.render.options import RenderOptions, option_from_text, option_specs, option_type
from keydub.plugin.cli._numbers import argparse_type


def option_flag(name: str) -> str:
    """The command-line flag of render option `name`: `audio_guidance` -> `--audio-guidance`; a switch that is on by
    default is its way off: `provenance` -> `--no-provenance`."""
    is_on_by_default = option_type(name) is bool and RenderOptions.__dataclass_fields__[name].default is True
    return "--" + ("no-" if is_on_by_default else "") + name.replace("_", "-")


def add_option_flags(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """Add the render options (every one, or those of `names`) to `parser` as the "render options" group.

    Every flag defaults to `None` on the namespace, meaning "the field's default", so the defaults live in
    `RenderOptions` only.
    """
    group = parser.add_argument_group("render options")
    specs = option_specs()
    for name in specs if names is None else names:
        spec, default = specs[name], RenderOptions.__dataclass_fields__[name].default
        if option_type(name) is bool:
            group.add_argument(
                option_flag(name),
                dest=name,
                action="store_const",
                const=not default,
                help=spec.help if not default else f"do not {spec.help} (default: on)",
            )
            continue
        is_closed_list = bool(spec.choices) and not spec.is_open and option_type(name) is str
        group.add_argument(
            option_flag(name),
            # A closed list is argparse's own choice ("invalid choice: ... (choose from ...)"); the rest is parsed
            # as the panel parses it.
            type=None if is_closed_list else argparse_type(lambda text, name=name: option_from_text(name, text), name),
            choices=spec.choices if is_closed_list else None,
            metavar=spec.metavar,
            help=f"{spec.help} (default: {default if default is not None else 'none'})",
        )


def options_from_args(args: argparse.Namespace) -> RenderOptions:
    """The `RenderOptions` of a parsed command line (flags not added or not given keep their defaults).

    Raises:
        `InvalidParameterError`: a value argparse accepted but Keydub cannot use. (`--device` is checked against
            this machine before any command runs, by `keydub.plugin.cli._preflight`.)
    """
    given = {
        item.name: value
        for item in dataclasses.fields(RenderOptions)
        if (value := getattr(args, item.name, None)) is not None
    }
    return RenderOptions.from_dict(given, where="command line")


def add_consent_flags(parser: argparse.ArgumentParser, *, consent: bool = False) -> None:
    """`--require-consent` (every command that renders) and, for a command that renders one face, `--consent`."""
    if consent:
        parser.add_argument(
            "--consent",
            default="",
            metavar="TEXT",
            help="a consent reference for the person whose face is regenerated (a free-text id, e.g. a release "
            "form number), kept in the output folder's usage record",
        )
    parser.add_argument(
        "--require-consent",
        action="store_true",
        help="refuse, before any render, every shot with a face that has no consent reference (a character's "
        "consent in the cast, or --consent)",
    )

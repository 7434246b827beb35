"""The panel's settings fields checked exactly as the command line checks the same options.

Each field's text goes through the `keydub render` / `keydub timeline` argument parser (the same option types,
ranges and choices), so a value the command line refuses is refused in the settings with the same message.
"""

import argparse
from collections.abc import Mapping
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.plugin.cli._numbers import frame_count
from keydub.plugin.cli._render_options import add_render_options, render_options_from_args
from keydub.plugin.timeline.plan import DEFAULT_HANDLES


# Settings field -> command-line option; every field is optional (empty: the command line's default).
FIELD_OPTIONS = {
    "weights": "--weights",
    "vae": "--vae",
    "hubert": "--hubert",
    "wavlm": "--wavlm",
    "device": "--device",
    "dtype": "--dtype",
    "steps": "--steps",
    "audio_guidance": "--audio-guidance",
    "ref_guidance": "--ref-guidance",
    "seed": "--seed",
    "identity": "--identity",
    "codec": "--codec",
    "landmark_backend": "--landmark-backend",
    "handles": "--handles",
}


class _RaisingParser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidParameterError(message.replace("argument ", ""))


def _parser() -> argparse.ArgumentParser:
    parser = _RaisingParser(prog="settings", add_help=False)
    add_render_options(parser)
    parser.add_argument("--handles", type=frame_count, default=DEFAULT_HANDLES)
    return parser


def options_from_fields(fields: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """`(render options, handles)` from the settings' texts.

    Args:
        fields (`Mapping[str, str]`): field name (see `FIELD_OPTIONS`) -> text; empty texts take the defaults.

    Raises:
        `InvalidParameterError`: an unknown field or a value the command line would refuse (the message names the
            option and the allowed values).
    """
    unknown = sorted(set(fields) - set(FIELD_OPTIONS))
    if unknown:
        raise InvalidParameterError(f"unknown setting(s) {', '.join(unknown)}")
    argv = []
    for name, text in fields.items():
        if str(text).strip():
            argv.append(f"{FIELD_OPTIONS[name]}={str(text).strip()}")
    args = _parser().parse_args(argv)
    options = render_options_from_args(args)
    options.pop("overwrite")  # every panel render goes to a new, content-named file
    return options, args.handles


def fields_from_options(options: Mapping[str, Any], handles: int) -> dict[str, str]:
    """The settings' texts for render options and handles (the inverse of `options_from_fields`)."""
    fields = {
        name: "" if options.get(name) is None else str(options[name]) for name in FIELD_OPTIONS if name != "handles"
    }
    fields["handles"] = str(handles)
    return fields

"""`keydub` entry point: builds the argument parser from the command modules and turns errors into one line."""

import argparse
import importlib
import logging
import os
import sys

from keydub.core import __version__
from keydub.core.errors import KeydubError


# One module per command in this package; each exposes `register(subparsers)`, which adds its parser and sets
# `func(args) -> int` as the parser default.
COMMAND_MODULES: tuple[str, ...] = (
    "render",
    "inspect",
    "convert_weights",
    "weights",
    "timeline",
    "mask",
    "eval",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keydub",
        description="Visual dubbing for editors: regenerate the lower face so the lips follow a dub track.",
    )
    parser.add_argument("--version", action="version", version=f"keydub {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"keydub.plugin.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeydubError as error:
        if os.environ.get("KEYDUB_DEBUG"):
            raise
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted: no partial output was left behind.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

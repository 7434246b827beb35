"""`keydub` entry point: builds the argument parser from the command modules and turns errors into one line.

Whatever goes wrong reaches the user as one `Error:` line on stderr, never a traceback: a `KeydubError` with its
own message; a command-line mistake with argparse's; anything else that escaped every check with the command, the
exception and where to see the traceback (`KEYDUB_DEBUG=1` re-raises instead). SIGTERM stops a command the way
Ctrl-C does: every writer removes its partial file and the exit status is 143 (130 for Ctrl-C).
"""

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from keydub.core import __version__
from keydub.core.errors import KeydubError
from keydub.plugin.cli._preflight import check_command_line


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
    "worker",
    "resolve",
    "panel",
    "cast",
    "provenance",
)
DEBUG_VARIABLE = "KEYDUB_DEBUG"
# Exit statuses: a user error, a command-line mistake (argparse's), Ctrl-C and SIGTERM (128 + signal number).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so it unwinds every `with` block exactly as Ctrl-C does."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser with its mistakes reported as one `Error:` line (the usage stays in `--help`)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"Error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        return EXIT_USAGE
    command = " ".join(filter(None, ("keydub", args.command, *_actions(args))))
    try:
        with _sigterm_as_interrupt():
            check_command_line(args)
            return args.func(args)
    except Terminated:
        print("Terminated: no partial output was left behind.", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("Interrupted: no partial output was left behind.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeydubError as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"Error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # the last line of defence: whatever escaped every check is still one line
        if os.environ.get(DEBUG_VARIABLE):
            raise
        if isinstance(error, OSError) and error.filename:
            # A place a library reads or writes (its cache, its config, a temporary folder): name it and the fix.
            print(
                f"Error: {command}: cannot use {error.filename} ({error.strerror or error}); {_place_fix(error)} "
                f"(set {DEBUG_VARIABLE}=1 for the traceback)",
                file=sys.stderr,
            )
            return EXIT_ERROR
        print(
            f"Error: {command} failed unexpectedly: {describe_unexpected(error)}; no partial output was left "
            f"behind. This is a bug in Keydub: set {DEBUG_VARIABLE}=1 for the traceback",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _place_fix(error: OSError) -> str:
    """What to do about a folder or file that could not be used, by the reason it could not."""
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            "make it writable for this user, or point Keydub elsewhere: KEYDUB_CACHE_DIR for its cache, HF_HOME "
            "for the model downloads, TMPDIR for scratch files"
        )
    if error.errno == errno.ENOSPC:
        return "free some space on that disk or point the output elsewhere"
    return "check that the path exists and is the kind of file or folder expected"


def describe_unexpected(error: BaseException) -> str:
    """An unexpected exception in one line: its type, its message's first line and the file it names, if any."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    filename = getattr(error, "filename", None)
    if filename and str(filename) not in message:
        message = f"{message} ({filename})" if message else str(filename)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _actions(args: argparse.Namespace) -> Iterator[str]:
    """The sub-command words after the command (`keydub weights download`, `keydub eval leak`)."""
    for name in ("action", "eval_command", "resolve_command"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            yield value


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` for the block (only the main thread can install a handler)."""
    if sys.platform == "win32" or not _is_main_thread():
        yield
        return

    def terminate(number: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())

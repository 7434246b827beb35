"""`docs/reference/cli.md`, written from the real `keydub` argument parsers, so the page cannot drift from `--help`.

    python -m keydub.plugin.cli.reference docs/reference/cli.md            # write the page
    python -m keydub.plugin.cli.reference --check docs/reference/cli.md    # exit 1 when the page is stale

The page has one section per command (sub-commands such as `keydub resolve render` included): its description,
a synopsis, one table per argument group, and the command's examples. It is built from each action's option
strings, metavar, choices and help, never from argparse's terminal-width formatting, so the same parsers give the
same page on any terminal and Python version.
"""

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from keydub.core.files import write_text_atomically
from keydub.plugin.cli.main import build_parser


HEADER = """\
# Command-line reference

Every `keydub` command and option, generated from the parsers themselves by
`python -m keydub.plugin.cli.reference docs/reference/cli.md` (a test fails when this page is stale).
`keydub COMMAND --help` prints the same.
"""
# Variables that move the files `--help` names (the weights config, the cache) on this machine.
_MACHINE_VARIABLES = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "KEYDUB_WEIGHTS_CONFIG", "KEYDUB_CACHE_DIR")


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The Markdown page for `parser` (default: `keydub`'s) and all its sub-commands."""
    if parser is None:
        with mock.patch.dict(os.environ):
            for name in _MACHINE_VARIABLES:
                os.environ.pop(name, None)
            parser = build_parser()
    commands = list(_commands(parser))
    sections = [HEADER, _contents(commands[1:])]
    sections += [_command_section(command) for command, _ in commands]
    page = "\n".join(sections).rstrip("\n") + "\n"
    # The paths `--help` names in the home folder (the weights config) are shown as any user's.
    return page.replace(f"{Path.home()}{os.sep}", f"~{os.sep}")


def _commands(parser: argparse.ArgumentParser, summary: str = "") -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """`(parser, the help its parent lists for it)` for `parser` and every parser below it, depth first, in the
    order they were registered."""
    yield parser, summary
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, command in action.choices.items():
                if command.prog.endswith(f" {name}"):  # an alias maps to the same parser under another name
                    yield from _commands(command, helps.get(name, ""))


def _contents(commands: list[tuple[argparse.ArgumentParser, str]]) -> str:
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| [`{command.prog}`](#{_anchor(command.prog)}) | {_cell(summary)} |" for command, summary in commands]
    return "\n".join(lines) + "\n"


def _command_section(parser: argparse.ArgumentParser) -> str:
    lines = [f"## `{parser.prog}`", ""]
    if parser.description:
        lines += [_prose(parser.description), ""]
    lines += ["```", _synopsis(parser), "```", ""]
    for group in parser._action_groups:
        actions = [action for action in group._group_actions if _is_documented(action)]
        if not actions:
            continue
        lines += [f"**{group.title.capitalize()}**", "", "| argument | meaning |", "|---|---|"]
        lines += [f"| `{_invocation(action)}` | {_cell(_help(parser, action))} |" for action in actions]
        lines.append("")
    if parser.epilog:
        lines += ["```", parser.epilog.strip("\n"), "```", ""]
    return "\n".join(lines)


def _is_documented(action: argparse.Action) -> bool:
    return action.help is not argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)


def _synopsis(parser: argparse.ArgumentParser) -> str:
    words = [parser.prog]
    for action in parser._actions:
        if not _is_documented(action):
            continue
        if not action.option_strings:
            words.append(_metavar(action) if action.nargs not in ("?", "*") else f"[{_metavar(action)}]")
        elif action.required:
            words.append(_invocation(action, short=True))
    if any(action.option_strings and not action.required for action in parser._actions if _is_documented(action)):
        words.append("[options]")
    return " ".join(words)


def _invocation(action: argparse.Action, short: bool = False) -> str:
    """`-o, --output FILE`, `--keep-source-audio`, `VIDEO` (the long option only when `short`); a `|` is escaped
    for a table cell."""
    if not action.option_strings:
        return _metavar(action)
    names = action.option_strings[-1:] if short else action.option_strings
    text = ", ".join(names) if action.nargs == 0 else ", ".join(names) + " " + _metavar(action)
    return text.replace("|", "\\|")


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, tuple):
        return " ".join(action.metavar)
    if action.metavar is not None:
        return action.metavar
    if action.choices is not None:
        return "{" + ",".join(str(choice) for choice in action.choices) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The option's help with `%(default)s` and friends filled in, as `--help` shows it."""
    if isinstance(action, argparse._SubParsersAction):
        return "one of: " + ", ".join(f"`{name}`" for name in action.choices)
    values = {name: value for name, value in vars(action).items() if value is not argparse.SUPPRESS}
    values["prog"] = parser.prog
    if values.get("choices") is not None:
        values["choices"] = ", ".join(str(choice) for choice in values["choices"])
    text = (action.help or "") % values
    return f"{text} (required)" if action.required and action.option_strings else text


def _prose(text: str) -> str:
    """A description as Markdown: argparse's hard line breaks within a paragraph dropped, `<name>` kept as text."""
    paragraphs = [" ".join(block.split()) for block in text.strip().split("\n\n")]
    return _escape("\n\n".join(paragraphs))


def _cell(text: str) -> str:
    """Text for a table cell: one line, `|` and `<name>` kept as text."""
    return _escape(" ".join(text.split())).replace("|", "\\|")


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, spaces to dashes, punctuation other than `-` and `_` dropped."""
    return "".join(char for char in heading.lower().replace(" ", "-") if char.isalnum() or char in "-_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keydub.plugin.cli.reference", description=__doc__.split("\n")[0])
    parser.add_argument("page", type=Path, help="the Markdown file to write, or to compare with --check")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the page is not current")
    args = parser.parse_args(argv)
    page = cli_reference()
    if args.check:
        is_current = args.page.is_file() and args.page.read_text(encoding="utf-8") == page
        if not is_current:
            print(f"{args.page} is stale; regenerate it with: python -m keydub.plugin.cli.reference {args.page}")
        return 0 if is_current else 1
    write_text_atomically(args.page, page)
    return 0


if __name__ == "__main__":
    sys.exit(main())

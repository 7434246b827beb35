"""`docs/reference/cli.md` is written from the real `keydub` parsers and the committed page is current."""

import argparse
import difflib
from pathlib import Path

from test_docs_links import heading_anchor

from keydub.plugin.cli import reference
from keydub.plugin.cli.reference import cli_reference


CLI_PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"


def test_the_committed_cli_reference_is_the_current_parsers_own():
    generated = cli_reference()
    committed = CLI_PAGE.read_text(encoding="utf-8")
    diff = difflib.unified_diff(committed.splitlines(), generated.splitlines(), "committed", "generated", lineterm="")
    difference = "\n".join(list(diff)[:40])
    assert committed == generated, (
        f"docs/reference/cli.md is stale; regenerate it with: python -m keydub.plugin.cli.reference "
        f"docs/reference/cli.md\n{difference}"
    )


def test_the_reference_has_a_section_per_command_with_its_groups_choices_defaults_and_examples():
    parser = argparse.ArgumentParser(prog="tool", description="A tool.")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    make = commands.add_parser(
        "make",
        help="make a thing",
        description="Make a thing from\na source.\n\nTwice if asked.",
        epilog="examples:\n  tool make a.txt --size 3\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    make.add_argument("source", help="the source (never changed)")
    make.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write <source>_made")
    make.add_argument("--size", type=int, default=2, help="how big (default: %(default)s)")
    sizes = make.add_argument_group("look")
    sizes.add_argument("--style", choices=("plain", "bold"), default="plain", help="one of %(choices)s")
    sizes.add_argument("--at", metavar="FRAME|TC", help="where")
    sizes.add_argument("--secret", help=argparse.SUPPRESS)

    assert cli_reference(parser) == (
        reference.HEADER
        + """
| command | what it does |
|---|---|
| [`tool make`](#tool-make) | make a thing |

## `tool`

A tool.

```
tool COMMAND [options]
```

**Positional arguments**

| argument | meaning |
|---|---|
| `COMMAND` | one of: `make` |

**Options**

| argument | meaning |
|---|---|
| `-v, --verbose` | say more |

## `tool make`

Make a thing from a source.

Twice if asked.

```
tool make source --output FILE [options]
```

**Positional arguments**

| argument | meaning |
|---|---|
| `source` | the source (never changed) |

**Options**

| argument | meaning |
|---|---|
| `-o, --output FILE` | where to write &lt;source&gt;_made (required) |
| `--size SIZE` | how big (default: 2) |

**Look**

| argument | meaning |
|---|---|
| `--style {plain,bold}` | one of plain, bold |
| `--at FRAME\\|TC` | where |

```
examples:
  tool make a.txt --size 3
```
"""
    )
    assert heading_anchor("`tool make`") == "tool-make"


def test_the_check_command_says_when_the_page_is_stale(tmp_path, capsys):
    page = tmp_path / "cli.md"
    page.write_text(CLI_PAGE.read_text(encoding="utf-8") + "an edit by hand\n", encoding="utf-8")
    assert reference.main([str(page), "--check"]) == 1
    assert "is stale; regenerate it with: python -m keydub.plugin.cli.reference" in capsys.readouterr().out
    assert reference.main([str(page)]) == 0
    assert reference.main([str(page), "--check"]) == 0
    assert page.read_text(encoding="utf-8") == CLI_PAGE.read_text(encoding="utf-8")

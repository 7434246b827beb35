"""Class 10 of the bad-input issue: a last line of defence.

Any exception that escapes every check still reaches the user as one `Error:` line naming the command (and the file
an OS error names) with "set KEYDUB_DEBUG=1 for the traceback"; no traceback without KEYDUB_DEBUG, for every
command. Argument mistakes are one `Error:` line too.
"""

import argparse
from pathlib import Path

import pytest
from bad_input import assert_refused, run_cli, snapshot
from test_bad_input_path_property import COMMANDS, SAMPLES, _workspace

import keydub.plugin.cli.main as cli


FAILURES = {
    "os error": (lambda: OSError(5, "Input/output error"), "OSError: [Errno 5] Input/output error"),
    "value error": (
        lambda: ValueError("cannot reshape array of size 0\nsecond line"),
        "ValueError: cannot reshape array of size 0",
    ),
    "memory": (lambda: MemoryError(), "MemoryError"),
    "recursion": (lambda: RecursionError("maximum recursion depth exceeded"), "RecursionError"),
}


def _failing_parser(error: BaseException):
    """The real parser with every command's function replaced by one that raises `error`."""
    build = cli.build_parser

    def build_failing() -> argparse.ArgumentParser:
        parser = build()
        for _, leaf in _leaves(parser):
            leaf.set_defaults(func=lambda args: (_ for _ in ()).throw(error))
        return parser

    return build_failing


def _leaves(parser):
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        yield (), parser
        return
    for name, child in subparsers[0].choices.items():
        for words, leaf in _leaves(child):
            yield (name, *words), leaf


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_an_escaping_exception_is_one_line_naming_the_command(tmp_path, capsys, monkeypatch, words, failure):
    make, needle = FAILURES[failure]
    monkeypatch.delenv("KEYDUB_DEBUG", raising=False)
    monkeypatch.setattr(cli, "build_parser", _failing_parser(make()))
    workspace = _workspace(tmp_path)
    argv = SAMPLES[words](workspace) if words in SAMPLES else list(words)
    before = snapshot(workspace)
    outcome = run_cli(argv, capsys)
    assert_refused(
        outcome,
        workspace,
        before,
        f"keydub {' '.join(words)} failed unexpectedly",
        needle,
        "set KEYDUB_DEBUG=1 for the traceback",
    )


@pytest.mark.parametrize(
    ("error", "needles"),
    [
        (
            PermissionError(13, "Permission denied", "/home/editor/.cache/huggingface/hub"),
            ["keydub inspect: cannot use /home/editor/.cache/huggingface/hub (Permission denied)", "HF_HOME"],
        ),
        (
            OSError(30, "Read-only file system", "/home/editor/.cache/keydub"),
            ["cannot use /home/editor/.cache/keydub (Read-only file system)", "KEYDUB_CACHE_DIR"],
        ),
        (OSError(28, "No space left on device", "/scratch/x"), ["free some space"]),
    ],
)
def test_a_place_that_cannot_be_used_is_named_with_the_fix(tmp_path, capsys, monkeypatch, error, needles):
    monkeypatch.setattr(cli, "build_parser", _failing_parser(error))
    before = snapshot(tmp_path)
    outcome = run_cli(["inspect", tmp_path / "clip.mkv"], capsys)
    assert_refused(outcome, tmp_path, before, *needles, "set KEYDUB_DEBUG=1 for the traceback")


def test_keydub_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYDUB_DEBUG", "1")
    monkeypatch.setattr(cli, "build_parser", _failing_parser(ValueError("the real cause")))
    with pytest.raises(ValueError, match="the real cause"):
        cli.main(["inspect", str(tmp_path / "clip.mkv")])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["render"], "the following arguments are required"),
        (["render", "a.mov", "--audio", "b.wav", "-o", "c.mov", "--codec", "dnxhd"], "invalid choice: 'dnxhd'"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
        (["timeline", "x.otio", "--handles", "ten"], "expected a whole number, not 'ten'"),
    ],
)
def test_argument_mistakes_are_one_error_line(tmp_path, capsys, argv, needle):
    before = snapshot(tmp_path)
    outcome = run_cli(argv, capsys)
    assert_refused(outcome, tmp_path, before, needle, "--help", code=2)
    assert "usage:" not in outcome.stderr


def test_a_keydub_error_with_several_lines_is_still_one_line(tmp_path, capsys):
    (tmp_path / "t.otio").write_text("[" * 600 + "]" * 600)
    outcome = run_cli(["timeline", Path(tmp_path / "t.otio"), "--dub-track", "DX", "--dry-run"], capsys)
    assert outcome.code == 1 and len(outcome.stderr.strip().splitlines()) == 1

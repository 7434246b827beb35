"""Properties: for every command and every path-valued option it writes, pointing that option at any of the
command's inputs is refused, with or without --overwrite, and changes no byte anywhere; and every file a command
writes (those it names itself inside an output folder included, such as `keydub eval`'s plot and reports) is
refused when it already exists and --overwrite is not given.

The commands and their path options are discovered from the real argument parser, and the files each writes from
the preflight's description of its command line, so a command or output added later is covered (or makes this
test fail until it gets a sample command line below).
"""

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

import opentimelineio as otio
import pytest
from bad_input import assert_refused, run_cli, snapshot, write_wav
from media_fixtures import make_test_clip

from keydub.plugin.cli._preflight import command_paths
from keydub.plugin.cli.main import build_parser


Sample = Callable[[Path], list[str]]

# One valid command line per command, every path option given: existing paths are inputs, "new_*" paths outputs.
SAMPLES: dict[tuple[str, ...], Sample] = {
    ("render",): lambda w: [
        "render",
        w / "clip.mkv",
        "--audio",
        w / "dub.wav",
        "-o",
        w / "new.mov",
        "--report",
        w / "new.json",
        "--cast",
        w / "cast.toml",
        "--active-speaker",
        "--original-audio",
        w / "dub.wav",
    ],
    ("inspect",): lambda w: ["inspect", w / "clip.mkv"],
    ("mask",): lambda w: ["mask", w / "clip.mkv", "-o", w / "new_mask.mp4"],
    ("timeline",): lambda w: [
        "timeline",
        w / "episode.otio",
        "--dub-track",
        "DX",
        "--out-dir",
        w / "new_renders",
        "-o",
        w / "new.otio",
        "--cast",
        w / "cast.toml",
    ],
    ("convert-weights",): lambda w: [
        "convert-weights",
        "--keyframe",
        w / "keyframe_dub.pt",
        "--interpolation",
        w / "interpolation_dub.pt",
        "-o",
        w / "new_weights",
    ],
    ("eval", "leak"): lambda w: ["eval", "leak", "--video", w / "clip.mkv", "-o", w / "new_eval"],
    ("eval", "protocol"): lambda w: [
        "eval",
        "protocol",
        "--videos",
        w / "videos",
        "--audios",
        w / "audios",
        "--syncnet",
        w / "syncnet_v2.model",
        "-o",
        w / "new_protocol",
    ],
    ("panel",): lambda w: [
        "panel",
        w / "clip.mkv",
        "--audio",
        w / "dub.wav",
        "--out-dir",
        w / "new_panel",
        "--export",
        w / "episode.otio",
        "--ready-file",
        w / "new_ready.json",
    ],
    ("worker",): lambda w: ["worker", "--store", w / "videos", "--once"],
    ("resolve", "snapshot"): lambda w: ["resolve", "snapshot", "-o", w / "new_snapshot.otio"],
    ("resolve", "render"): lambda w: [
        "resolve",
        "render",
        "--dub-track",
        "DX",
        "--out-dir",
        w / "new_resolve",
        "-o",
        w / "new_resolve.otio",
        "--cast",
        w / "cast.toml",
    ],
    ("resolve", "apply"): lambda w: ["resolve", "apply", w / "episode.otio"],
    ("resolve", "placements"): lambda w: [
        "resolve",
        "placements",
        "--project",
        "Dubbing",
        "--timeline",
        "episode",
        "--file",
        w / "episode.otio",
    ],
    ("cast", "suggest"): lambda w: [
        "cast",
        "suggest",
        w / "episode.otio",
        "-o",
        w / "new_cast.toml",
        "--contact-sheet",
        w / "new_faces.png",
    ],
    ("cast", "show"): lambda w: ["cast", "show", w / "cast.toml", w / "episode.otio"],
    ("cast", "speakers"): lambda w: ["cast", "speakers", w / "clip.mkv", "--original-audio", w / "dub.wav"],
    ("resolve", "install-scripts"): lambda w: [
        "resolve",
        "install-scripts",
        "--dry-run",
        "--scripts-dir",
        w / "new_scripts",
    ],
    ("provenance", "setup"): lambda w: ["provenance", "setup", "--cert", w / "chain.pem", "--key", w / "signer.key"],
    ("provenance", "show"): lambda w: ["provenance", "show", w / "clip.mkv", "--trust-anchors", w / "ca.pem"],
    ("provenance", "verify"): lambda w: ["provenance", "verify", w / "clip.mkv", "--trust-anchors", w / "ca.pem"],
}


def _leaf_parsers(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        yield words, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from _leaf_parsers(child, (*words, name))


def _path_options(parser: argparse.ArgumentParser) -> list[str]:
    """The option strings (or positional names) of every argument parsed as a `Path`."""
    return [
        action.option_strings[0] if action.option_strings else action.dest
        for action in parser._actions
        if action.type is Path
    ]


def _has_overwrite(parser: argparse.ArgumentParser) -> bool:
    return any("--overwrite" in action.option_strings for action in parser._actions)


COMMANDS = {words: parser for words, parser in _leaf_parsers(build_parser())}


def _workspace(folder: Path) -> Path:
    make_test_clip(folder / "clip.mkv", frame_count=4, audio_rate=16000)
    write_wav(folder / "dub.wav")
    otio.adapters.write_to_file(otio.schema.Timeline(name="episode"), str(folder / "episode.otio"))
    (folder / "keyframe_dub.pt").write_bytes(b"stand-in keyframe checkpoint")
    (folder / "interpolation_dub.pt").write_bytes(b"stand-in interpolation checkpoint")
    (folder / "syncnet_v2.model").write_bytes(b"stand-in SyncNet")
    (folder / "cast.toml").write_text("version = 1\n")
    for name in ("videos", "audios"):
        (folder / name).mkdir()
    make_test_clip(folder / "videos" / "talk.mkv", frame_count=4)
    write_wav(folder / "audios" / "talk.wav")
    return folder


def test_every_command_with_path_options_has_a_sample_naming_all_of_them(tmp_path):
    for words, parser in COMMANDS.items():
        options = _path_options(parser)
        if not options:
            continue
        assert words in SAMPLES, f"keydub {' '.join(words)} has path options {options}; add a sample command line"
        argv = [str(arg) for arg in SAMPLES[words](tmp_path)]
        for option in options:
            assert option in argv or not option.startswith("-"), (words, option)


def _cases() -> Iterator[tuple[tuple[str, ...], int, bool]]:
    for words in SAMPLES:
        if words in COMMANDS:
            for overwrite in (False, True):
                if overwrite and not _has_overwrite(COMMANDS[words]):
                    continue
                yield words, overwrite


@pytest.mark.parametrize(
    ("words", "overwrite"),
    list(_cases()),
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else f"overwrite={value}",
)
def test_no_output_option_can_point_at_an_input(tmp_path, capsys, words, overwrite):
    workspace = _workspace(tmp_path)
    argv = [str(arg) for arg in SAMPLES[words](workspace)]
    # Which argv positions hold outputs (paths not there yet) and which inputs (paths that exist).
    outputs = [index for index, arg in enumerate(argv) if Path(arg).name.startswith("new")]
    inputs = [arg for arg in argv if arg.startswith(str(workspace)) and Path(arg).exists()]
    before = snapshot(workspace)
    tried = 0
    for position in outputs:
        for source in inputs:
            attempt = [*argv[:position], source, *argv[position + 1 :], *(["--overwrite"] if overwrite else [])]
            outcome = run_cli(attempt, capsys)
            assert_refused(outcome, workspace, before, argv[position - 1])
            tried += 1
    assert tried == len(outputs) * len(inputs)


def _written_files(words: tuple[str, ...], workspace: Path) -> dict[str, Path]:
    """The files (not folders) the sample command line of `words` writes, by what names them."""
    args = build_parser().parse_args([str(arg) for arg in SAMPLES[words](workspace)])
    paths = command_paths(args)
    if paths is None:
        return {}
    return {option: path for option, path in paths.outputs.items() if path is not None and option not in paths.folders}


@pytest.mark.parametrize("words", [words for words in SAMPLES if words in COMMANDS], ids=" ".join)
def test_no_file_a_command_writes_replaces_an_existing_one_without_overwrite(tmp_path, capsys, words):
    workspace = _workspace(tmp_path)
    outputs = _written_files(words, workspace)
    if words[0] == "eval":  # its plot and reports are named by the command, inside -o
        assert any(option.startswith("-o (") for option in outputs), outputs
    argv = [str(arg) for arg in SAMPLES[words](workspace)]
    for option, path in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"an earlier output")
        before = snapshot(workspace)
        outcome = run_cli(argv, capsys)
        assert_refused(outcome, workspace, before, option, f"{path} already exists; choose another name")
        path.unlink()

"""`keydub timeline` from an argv list: dry-run plan, JSON result, exit codes, errors as one line, shared options."""

import argparse
import json

import pytest
from otio_fixtures import copy_renderer, write_dubbing_timeline, write_three_clip_timeline
from queue_fixtures import in_process, subprocess_environment

from keydub.core.errors import NoFaceFoundError
from keydub.core.render.options import RenderOptions
from keydub.plugin.cli._render_options import add_option_flags, options_from_args
from keydub.plugin.cli.main import main
from keydub.plugin.timeline.executors import EXECUTORS, ExecutorEntry, WorkerExecutor


@pytest.fixture
def stand_in_engine(monkeypatch):
    """The batch's default executor renders with the copy stand-in instead of the engine."""
    monkeypatch.setitem(EXECUTORS, "in-process", lambda: in_process(copy_renderer))


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    fixture = write_dubbing_timeline(tmp_path)
    code = main(["timeline", str(fixture.path), "--dub-track", "DX es-419", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(
        "Timeline 'episode101' at 24000/1001 fps, dub DX es-419; renders would go on track 'Keydub DX es-419 v1'"
    )
    lines = out.splitlines()
    sh020 = lines.index(next(line for line in lines if line.startswith("sh020 ")))
    assert "01:00:01:06  48" in lines[sh020] and lines[sh020].endswith("would render (not rendered yet)")
    assert lines[sh020 + 1] == "    audio DX es-419: es_line1: 0.918 s from 1.001 s of es_line1.wav, at +0.000 s"
    assert lines[sh020 + 2] == "    audio DX es-419: es_line2: 0.667 s from 0.000 s of es_line2.wav, at +1.084 s"
    assert any(line.startswith("sh030_off ") and line.endswith("disabled in the timeline") for line in lines)
    assert lines[-1] == "3 to render, 0 up to date, 4 skipped, 0 failed."
    assert not (tmp_path / "episode_keydub").exists() and not (tmp_path / "episode.keydub.otio").exists()


def test_a_full_run_prints_json_and_a_rerun_renders_nothing(tmp_path, capsys, stand_in_engine):
    fixture = write_three_clip_timeline(tmp_path)
    argv = ["timeline", str(fixture.path), "--dub-track", "DX es-419", "--codec", "ffv1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rendered"] == 3 and result["counts"]["done"] == 3
    assert result["track"] == "Keydub DX es-419 v1"
    assert result["output_timeline"] == str(tmp_path / "three.keydub.otio")
    assert [clip["source_frames"] for clip in result["clips"]] == [[8, 52], [18, 58], [28, 70]]
    assert all((tmp_path / "three_keydub" / clip["output"].rsplit("/", 1)[1]).is_file() for clip in result["clips"])

    assert main(argv) == 1  # the output timeline exists now
    assert capsys.readouterr().err.strip() == (
        f"Error: {tmp_path / 'three.keydub.otio'} already exists; choose another path with -o or pass --overwrite"
    )
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["rendered"] == 0


def test_a_failed_clip_makes_the_exit_code_1_and_shows_in_the_summary(tmp_path, capsys, monkeypatch):
    def no_face_in_sh020(request, progress=None):
        if request.output.name.startswith("sh020_"):
            raise NoFaceFoundError("no face found in the first frame; pick one with metadata keydub.face")
        return copy_renderer(request, progress)

    monkeypatch.setitem(EXECUTORS, "in-process", lambda: in_process(no_face_in_sh020))
    fixture = write_three_clip_timeline(tmp_path)
    code = main(
        [
            "timeline",
            str(fixture.path),
            "--dub-track",
            "DX es-419",
            "--codec",
            "ffv1",
            "-o",
            str(tmp_path / "es.otio"),
            "--out-dir",
            str(tmp_path / "renders"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert any(
        line.startswith("sh020 ")
        and "failed" in line
        and line.endswith("no face found in the first frame; pick one with metadata keydub.face")
        for line in out.splitlines()
    )
    assert out.splitlines()[-2:] == ["2 rendered, 0 up to date, 0 skipped, 1 failed.", f"Wrote {tmp_path / 'es.otio'}"]


def test_user_errors_are_one_line_on_stderr(tmp_path, capsys):
    fixture = write_dubbing_timeline(tmp_path)
    assert main(["timeline", str(fixture.path), "--dub-track", "DX it-IT"]) == 1
    assert capsys.readouterr().err == (
        "Error: the timeline has no audio track named 'DX it-IT'; audio tracks: 'Audio 1', 'DX es-419', 'DX fr-FR'\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["timeline", str(fixture.path), "--dub-lang", "es-419", "--steps", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "Error: keydub timeline: argument --steps: 0 is out of range: allowed 10 to "
        "1000 (see keydub timeline --help)\n"
    )
    assert main(["timeline", str(fixture.path), "--dub-lang", "es-419", "--only", "sh999", "--dry-run"]) == 1
    assert capsys.readouterr().err.startswith("Error: no picture clip is named 'sh999'; clips: ")


def test_worker_renders_the_batch_in_a_worker_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(
        EXECUTORS, "worker", lambda: WorkerExecutor(engine="queue_fixtures:copy_engine", env=subprocess_environment())
    )
    fixture = write_three_clip_timeline(tmp_path)
    argv = ["timeline", str(fixture.path), "--dub-track", "DX es-419", "--codec", "ffv1", "--worker", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rendered"] == 3 and result["counts"]["done"] == 3
    assert all((tmp_path / "three_keydub" / clip["output"].rsplit("/", 1)[1]).is_file() for clip in result["clips"])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_option_flags(parser)
    return parser.parse_args(argv)


def test_shared_render_options_default_to_the_render_options_defaults():
    assert options_from_args(_parse([])) == RenderOptions()


def test_shared_render_options_carry_given_values_into_a_request():
    options = options_from_args(
        _parse(
            [
                "--steps",
                "12",
                "--seed",
                "9",
                "--codec",
                "h264",
                "--identity",
                "5",
                "--keep-source-audio",
                "--device",
                "cpu",
                "--weights",
                "/w",
            ]
        )
    )
    assert (
        options.steps,
        options.seed,
        options.codec,
        options.identity,
        options.keep_source_audio,
        options.device,
        options.weights,
    ) == (12, 9, "h264", 5, True, "cpu", "/w")
    for bad in (["--seed", "-1"], ["--identity", "middle"]):
        with pytest.raises(SystemExit):
            _parse(bad)


def test_a_new_executor_is_one_entry_with_its_own_options(tmp_path, capsys, monkeypatch):
    """`--executor` offers every entry of `EXECUTORS`, each adds its own options, and its build gets them."""
    built = []

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--lanes", type=int, default=1)

    def build(args: argparse.Namespace):
        built.append(args.lanes)
        return in_process(copy_renderer)

    monkeypatch.setitem(EXECUTORS, "lanes", ExecutorEntry("lanes", build=build, add_arguments=add_arguments))
    fixture = write_three_clip_timeline(tmp_path)
    argv = ["timeline", str(fixture.path), "--dub-track", "DX es-419", "--codec", "ffv1", "--json"]

    assert main([*argv, "--executor", "lanes", "--lanes", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["rendered"] == 3 and built == [3]
    # Called, an entry builds with its options' defaults (as a command without them, `keydub resolve render`).
    EXECUTORS["lanes"]()
    assert built == [3, 1]

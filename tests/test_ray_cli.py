"""The farm's command line: the dry run's cost estimate, and the options that describe the cluster."""

from fractions import Fraction

import pytest
from otio_fixtures import RATE, write_three_clip_timeline

from keydub.core.errors import InvalidParameterError
from keydub.plugin.cli.main import build_parser, main
from keydub.plugin.cluster.estimate import DEFAULT_THROUGHPUT_S_PER_S, estimate_cost, format_duration
from keydub.plugin.timeline.executors import EXECUTORS


def test_the_estimate_sums_each_job_at_its_own_rate_exactly():
    estimate = estimate_cost([(48, Fraction(24000, 1001)), (50, Fraction(25))], throughput=0.8)

    assert estimate.frames == 98
    assert estimate.output_seconds == Fraction(48 * 1001, 24000) + 2
    assert estimate.gpu_seconds == estimate.output_seconds * Fraction(4, 5), "0.8 as typed, not as a binary float"
    assert estimate_cost([(25, Fraction(25))]).gpu_seconds == DEFAULT_THROUGHPUT_S_PER_S == Fraction(182, 100)
    with pytest.raises(InvalidParameterError, match="--throughput 0.0 must be a positive number"):
        estimate_cost([], throughput=0.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(Fraction(21, 5), "4.2 s"), (Fraction(185), "3 min 05 s"), (Fraction(3725), "1 h 02 min 05 s")],
)
def test_durations_read_as_people_write_them(seconds, text):
    assert format_duration(seconds) == text


def test_a_dry_run_prints_the_frames_to_render_and_their_gpu_time(tmp_path, capsys):
    fixture = write_three_clip_timeline(tmp_path)

    assert (
        main(
            [
                "timeline",
                str(fixture.path),
                "--dub-track",
                "DX es-419",
                "--dry-run",
                "--executor",
                "ray",
                "--throughput",
                "2.5",
            ]
        )
        == 0
    )

    lines = capsys.readouterr().out.splitlines()
    # 20 + 16 + 18 frames and 12 frames of handles each side (clamped by nothing here): 126 frames at 23.976.
    frames = 20 + 16 + 18 + 3 * 2 * 12
    seconds = Fraction(frames) / RATE
    assert lines[-4:-1] == [
        f"To render: {frames} frames, {float(seconds):.1f} s of output.",
        f"Estimated GPU time: {float(seconds * Fraction(5, 2)):.1f} s at 2.50 s of GPU per output second; divide by "
        "the number of GPUs for a farm's wall clock.",
        "",
    ]
    assert not (tmp_path / "three_keydub").exists(), "a dry run needs no cluster and writes nothing"


def test_the_default_throughput_says_it_is_a_target_not_a_measurement(tmp_path, capsys):
    fixture = write_three_clip_timeline(tmp_path)

    assert main(["timeline", str(fixture.path), "--dub-track", "DX es-419", "--dry-run"]) == 0

    estimate = capsys.readouterr().out.splitlines()[-3]
    assert estimate.startswith(
        "Estimated GPU time: 9.6 s at 1.82 s of GPU per output second (the FLOP budget's "
        "floor on one H100/H200, not a measurement: pass yours with --throughput)"
    )


def test_a_farm_device_is_the_nodes_not_this_machines(tmp_path, capsys):
    fixture = write_three_clip_timeline(tmp_path)
    command = ["timeline", str(fixture.path), "--dub-track", "DX es-419", "--dry-run", "--device", "cuda:0"]

    assert main([*command, "--executor", "ray"]) == 0  # the nodes have the GPUs this machine lacks
    assert main(command) == 1
    assert "cuda:0" in capsys.readouterr().err


def test_the_farm_options_describe_the_executor():
    pytest.importorskip("ray")
    args = build_parser().parse_args(
        [
            "timeline",
            "ep101.otio",
            "--executor",
            "ray",
            "--address",
            "10.0.0.5:6379",
            "--gpus-per-job",
            "0.5",
            "--path-map",
            "/Volumes/SAN=/mnt/san",
            "--path-map",
            r"Z:\show=/mnt/show",
        ]
    )

    executor = EXECUTORS["ray"].build(args)

    assert (executor.address, executor.gpus_per_job) == ("10.0.0.5:6379", 0.5)
    assert executor.path_map.to_node("/Volumes/SAN/ep101/sh010.mov") == "/mnt/san/ep101/sh010.mov"
    assert executor.path_map.to_editor("/mnt/show/renders/a.mov") == r"Z:\show\renders\a.mov"


def test_a_bad_path_map_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["timeline", str(tmp_path / "ep101.otio"), "--executor", "ray", "--path-map", "/Volumes/SAN"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(
            "Error: keydub timeline: argument --path-map: the path map '/Volumes/SAN' is not FROM=TO; "
            "give the folder as the timeline names it"
        )
        and err.count("\n") == 1
    )


def test_each_running_job_has_its_own_progress_line(capsys):
    from keydub.plugin.cluster.command_line import JobLines
    from keydub.plugin.cluster.executor import RunningJob

    lines = JobLines()
    lines(RunningJob("j1", "sh010", "gpu-07", 4242, ("0",)))
    lines(RunningJob("j2", "sh020", "gpu-08", 4343, ("1",), stage="interpolation", done=30, total=120, eta_s=95.0))
    lines(RunningJob("j1", "sh010", "gpu-07", 4242, ("0",), stage="keyframes", done=3, total=40))
    lines(RunningJob("j1", "sh010", "gpu-07", 4242, ("0",), stage="done", is_finished=True))

    drawn = capsys.readouterr().err
    assert "sh020 on gpu-08 GPU 1: interpolation  25%" in drawn and "30/120, ETA 1 min 35 s" in drawn
    assert "sh010 on gpu-07 GPU 0: keyframes   8%" in drawn
    assert list(lines._bars) == ["j2"], "a finished job's line goes"
    lines.close()


def test_the_json_report_names_the_node_of_each_clip_this_run_rendered():
    from types import SimpleNamespace

    from keydub.plugin.cluster.command_line import with_nodes

    farm = SimpleNamespace(nodes={"j1": {"node": "gpu-07", "address": "10.0.0.7", "pid": 1, "gpus": ["0"]}})
    report = {
        "clips": [
            {"job_id": "j1", "was_rendered": True},
            {"job_id": "j2", "was_rendered": False},
            {"job_id": None, "was_rendered": False},
        ]
    }

    assert with_nodes(report, farm)["clips"] == [
        {"job_id": "j1", "was_rendered": True, "node": "gpu-07", "gpus": ["0"]},
        {"job_id": "j2", "was_rendered": False},
        {"job_id": None, "was_rendered": False},
    ]

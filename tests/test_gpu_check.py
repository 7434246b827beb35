"""`benchmarks/gpu_check.py` as CI runs it: tiny models on the CPU, every figure present, GPU-only ones not run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TESTDATA


SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
PIPELINE_RUNS = (
    "pipeline_bf16_eager",
    "pipeline_fp16_eager",
    "pipeline_fp32_eager",
    "deviation_fp32_reference",
    "deviation_bf16",
    "deviation_fp16",
)
GPU_ONLY = (
    "memory_bf16",
    "memory_fp16",
    "memory_fp32",
    "pipeline_bf16_compiled",
    "pipeline_fp16_compiled",
    "pipeline_fp32_compiled",
)


@pytest.fixture(scope="module")
def tiny_check(tmp_path_factory) -> tuple[dict, dict, str]:
    output = tmp_path_factory.mktemp("gpu_check") / "check.json"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--budget", "900", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout), json.loads(output.read_text()), result.stderr


@pytest.mark.slow
def test_the_tiny_check_reports_every_figure(tiny_check):
    report, written, table = tiny_check
    assert written == report and report["size"] == "tiny"
    assert report["environment"]["versions"]["torch"] and report["environment"]["versions"]["diffusers"]
    measured = report["measurements"]
    budget = measured["flop_budget"]
    assert budget["status"] == "ok" and budget["workload"]["frame_evaluations"] == 10164
    assert 1.8 < budget["min_seconds_per_output_second"]["h200_bf16_matmul_790_tflops"] < 1.85
    for name in PIPELINE_RUNS:
        run = measured[name]
        assert run["status"] == "ok", run
        # 14 frames, 11 steps: one keyframe call and one window call per step, as the plan says.
        assert run["unet_calls"] == run["unet_calls_planned"] == 22
        assert run["seconds_per_output_second"] > 0 and run["seconds_per_unet_call"] > 0
        assert run["non_finite_values"] == 0
        assert set(run["stage_share"]) == {"unet", "vae_encode", "vae_decode", "audio"}
        assert 0 < sum(run["stage_share"].values()) <= 1.0
    for precision in ("bf16", "fp16"):
        delta = measured[f"deviation_{precision}"]["against_fp32"]
        assert 0 < delta["mean_abs_delta"] <= delta["max_abs_delta"] < 64
    for name in GPU_ONLY:
        assert measured[name]["status"] == "not run" and measured[name]["reason"]
    sweep = measured["unet_batch_sizes"]
    assert [row["sequences"] for row in sweep["calls"]] == [3, 6] and sweep["channels_last"]["seconds_per_call"] > 0
    assert measured["vae_decode_precision"]["bf16"]["against_fp32"]["max_abs_delta"] >= 0
    render = measured["render_clip_bf16"]
    if (TESTDATA / "talking_1080x1920_25fps.mp4").is_file():
        assert render["status"] == "ok", render
        assert render["frames"] == 5 and render["seconds_per_output_second"] > 0
        assert {"generate", "encode", "decode", "paste back", "landmarks"} <= set(render["stage_share"])
    else:
        assert render["status"] == "not run"
    # The readable table names every measurement, GPU-only ones as not run.
    for name in measured:
        assert name in table
    assert "memory_bf16                  not run: needs a CUDA GPU" in table

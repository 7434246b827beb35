"""The FLOP budget (meta device, full size) and the pipeline's U-Net work against what the plan requires."""

import pytest
import torch
from test_pipeline import SHORT_SIGMAS, run, tiny_pipeline

from keydub.core.model.flops import (
    H200_BF16_MATMUL_ACHIEVED,
    flop_budget,
    on_meta,
    required_frame_evaluations,
    unet_call_flops,
    unet_workload,
)
from keydub.core.model.planner import plan_dubbing
from keydub.core.model.unet import KeySyncUNet


def flops_from_layer_shapes(unet: KeySyncUNet, num_sequences: int, latent_size: int) -> int:
    """Count matrix-product FLOPs from each layer's weight and output shapes, independently of FlopCounterMode:
    2 x outputs x inputs-per-output for every convolution and linear layer, 4 x Lq x Lk x width for attention."""
    total = [0]

    def on_conv(module, args, output):
        total[0] += 2 * output.numel() * (module.in_channels // module.groups) * module.weight[0, 0].numel()

    def on_linear(module, args, output):
        total[0] += 2 * output.numel() * module.in_features

    def on_attention(module, args, kwargs, output):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        context = kwargs.get("encoder_hidden_states")
        keys = hidden.shape[1] if context is None else context.shape[1]
        total[0] += 4 * hidden.shape[0] * hidden.shape[1] * keys * module.inner_dim

    for module in unet.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Conv3d):
            module.register_forward_hook(on_conv)
        elif isinstance(module, torch.nn.Linear):
            module.register_forward_hook(on_linear)
        elif type(module).__name__ == "Attention":
            module.register_forward_hook(on_attention, with_kwargs=True)
    frames = unet.config.num_frames
    sample = torch.empty(num_sequences, frames, unet.config.in_channels, latent_size, latent_size, device="meta")
    with torch.no_grad():
        unet(sample, 1.0, torch.empty(num_sequences, frames, unet.config.cross_attention_dim, device="meta"))
    return total[0]


def test_unet_call_flops_match_the_count_from_layer_shapes_at_full_size():
    counted = unet_call_flops(3, in_channels=8)
    assert counted == flops_from_layer_shapes(on_meta(lambda: KeySyncUNet(in_channels=8)), 3, 64)
    # 1.315 TFLOP per frame at 64x64 latents; a call is linear in the number of sequences.
    assert counted == pytest.approx(55.237e12, rel=1e-4)
    assert unet_call_flops(6, in_channels=8) == 2 * counted


def test_plan_workload_of_ten_seconds():
    plan = plan_dubbing(250)
    assert (len(plan.batches), len(plan.windows)) == (2, 20)
    workload = unet_workload(plan, 11, 3)
    # Keyframes: 2 batches x 11 steps, one call of 3 branches each; windows: 12 + 8 windows x 3 branches per step.
    assert (workload.keyframe_calls, workload.interpolation_calls) == (22, 220)
    assert workload.frame_evaluations == required_frame_evaluations(plan, 11) == 22 * 14 * 3 * 11
    # 12 sequences per call: both keyframe batches in one round, so one keyframe call of 6 sequences per step and
    # the 20 windows' 60 sequences in 5 calls.
    batched = unet_workload(plan, 11, 12)
    assert (batched.keyframe_calls, batched.interpolation_calls) == (11, 11 * 5)
    assert batched.frame_evaluations == workload.frame_evaluations
    assert unet_workload(plan, 11, 12, batches_per_round=1).keyframe_calls == 22


def test_full_size_budget_of_a_250_frame_render():
    budget = flop_budget(250).to_dict()
    assert budget["workload"]["frame_evaluations"] == 10164
    assert budget["unet_pflop"] == pytest.approx(13.368, rel=1e-3)
    assert budget["vae_decode_tflop_per_frame"] == pytest.approx(3.043, rel=1e-3)
    assert budget["total_pflop"] == pytest.approx(14.41, rel=1e-3)
    # At the 790 TFLOP/s a large bf16 matrix product reaches on an H200, the render cannot go below 1.8 s per
    # output second, whatever the implementation.
    minimum = budget["min_seconds_per_output_second"]["h200_bf16_matmul_790_tflops"]
    assert minimum == pytest.approx(budget["total_pflop"] * 1e15 / H200_BF16_MATMUL_ACHIEVED / 10, rel=1e-9)
    assert 1.8 < minimum < 1.85


def count_unet_frames(pipe) -> dict[str, list[int]]:
    """Frames per U-Net call of each model, recorded while the pipeline runs."""
    calls = {"keyframe": [], "interpolation": []}
    for stage, frames in calls.items():
        unet = getattr(pipe, f"{stage}_unet")
        unet.register_forward_pre_hook(lambda module, args, frames=frames: frames.append(args[0].shape[:2].numel()))
    return calls


@pytest.mark.parametrize("unet_batch_size", [3, 7])
def test_the_pipeline_evaluates_no_more_frames_than_the_plan_requires(unet_batch_size):
    pipe = tiny_pipeline(unet_batch_size=unet_batch_size)
    calls = count_unet_frames(pipe)
    run(pipe, 60, output_type="latent")
    plan, steps = plan_dubbing(60), len(SHORT_SIGMAS) - 1
    workload = unet_workload(plan, steps, unet_batch_size)
    assert len(calls["keyframe"]) == workload.keyframe_calls
    assert len(calls["interpolation"]) == workload.interpolation_calls
    assert sum(calls["keyframe"]) + sum(calls["interpolation"]) == required_frame_evaluations(plan, steps)
    # 60 frames: 1 keyframe batch and 5 windows, 3 steps: 3 x 3 keyframe sequences, 3 x 15 window sequences.
    assert sum(calls["keyframe"]) == 9 * 14 and sum(calls["interpolation"]) == 45 * 14
    assert max(calls["interpolation"]) == 14 * unet_batch_size

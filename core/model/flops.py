"""The compute a KeySync render needs: U-Net calls and frame evaluations of a plan, and FLOPs at full size.

Two questions, answered without a GPU:

- How many U-Net evaluations does a clip need? `unet_workload(plan, euler_steps, unet_batch_size)` follows the
  pipeline's loop exactly (per round of keyframe batches one guided sampling of their 14 slots, then one of the
  windows they close; three guidance branches per step) and counts U-Net calls, 14-frame sequences and frame
  evaluations.
- How many floating-point operations is that? `flop_budget(...)` counts one U-Net call, one VAE encode and decode
  and the two speech encoders with `torch.utils.flop_counter.FlopCounterMode` on the meta device at the official
  sizes (nothing is allocated or computed), and scales them by the workload. A multiply-add counts as 2 FLOPs;
  only matrix products, convolutions and attention are counted (norms and activations are a few percent more).

The minimum time per output second at a peak rate is `flops / peak / clip_seconds`: a bound no implementation of
the same algorithm can beat on that hardware, since every FLOP counted is needed for the result.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction

import torch
from diffusers import AutoencoderKLTemporalDecoder
from torch.utils.flop_counter import FlopCounterMode
from transformers import HubertConfig, HubertModel, WavLMConfig, WavLMModel

from keydub.core.errors import InvalidParameterError
from keydub.core.model.planner import DubbingPlan, plan_dubbing, plan_rounds
from keydub.core.model.sampler import GUIDANCE_BRANCHES
from keydub.core.model.unet import KeySyncUNet
from keydub.core.model.vae import SVD_VAE_CONFIG


# Peak rates the budget is stated at, in FLOP/s. NVIDIA's H100 SXM and H200 datasheets give 989 TFLOP/s dense
# BF16/FP16 tensor-core throughput (1979 with 2:4 sparsity, which dense models cannot use); a large bf16 matrix
# product (8192 x 8192 x 8192) reaches about 790 TFLOP/s on an H200, the practical ceiling.
H200_BF16_DENSE_PEAK = 989e12
H200_BF16_MATMUL_ACHIEVED = 790e12
PEAK_RATES: dict[str, float] = {
    "h200_bf16_matmul_790_tflops": H200_BF16_MATMUL_ACHIEVED,
    "h200_bf16_dense_989_tflops": H200_BF16_DENSE_PEAK,
}
# The official crops are 512x512 (64x64 latents) and the model was trained at 25 fps.
FULL_FRAME_SIZE = 512
OUTPUT_FRAME_RATE = 25
SPEECH_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class UNetWorkload:
    """U-Net work of one clip, per stage and in total.

    Args:
        keyframe_calls, interpolation_calls (`int`): U-Net forward calls of each model.
        keyframe_sequences, interpolation_sequences (`int`): 14-frame sequences evaluated (three guidance
            branches per sampled sequence and step).
        window_length (`int`): frames per sequence (14).
    """

    keyframe_calls: int
    interpolation_calls: int
    keyframe_sequences: int
    interpolation_sequences: int
    window_length: int

    @property
    def calls(self) -> int:
        """Every U-Net call of the clip."""
        return self.keyframe_calls + self.interpolation_calls

    @property
    def frame_evaluations(self) -> int:
        """Frames the U-Nets evaluate, summed over calls (sequences x 14)."""
        return (self.keyframe_sequences + self.interpolation_sequences) * self.window_length


def unet_workload(
    plans: DubbingPlan | Sequence[DubbingPlan],
    euler_steps: int,
    unet_batch_size: int,
    batches_per_round: int | None = None,
) -> UNetWorkload:
    """The U-Net calls `KeySyncPipeline` makes for one clip's plan, or for several clips generated together.

    The keyframe batches are grouped into rounds (`plan_rounds`, `unet_batch_size // 3` batches per round unless
    `batches_per_round` says otherwise). Per round and Euler step: one guided evaluation of the round's keyframe
    sequences (3 per batch), then one of the windows its batches close (3 per window), each split into calls of at
    most `unet_batch_size` sequences. Nothing else runs a U-Net.

    Args:
        plans (`DubbingPlan` or `Sequence[DubbingPlan]`): the clips' plans (`plan_dubbing`).
        euler_steps (`int`): Euler steps per sampling, `len(sigmas) - 1` (11 for the official schedule).
        unet_batch_size (`int`): most sequences per U-Net call.
        batches_per_round (`int`, *optional*): keyframe batches per round, as `KeySyncPipeline` would pick.
    """
    if euler_steps < 1 or unet_batch_size < 1:
        raise InvalidParameterError(
            f"euler_steps and unet_batch_size must be positive, got {euler_steps} and {unet_batch_size}"
        )
    branches = len(GUIDANCE_BRANCHES)
    plans = [plans] if isinstance(plans, DubbingPlan) else list(plans)
    rounds = plan_rounds(plans, batches_per_round or max(1, unet_batch_size // branches))
    keyframe_rows = [branches * len(items) for items in rounds]
    window_rows = [branches * sum(len(item.batch.windows) for item in items) for items in rounds]
    return UNetWorkload(
        keyframe_calls=euler_steps * sum(math.ceil(rows / unet_batch_size) for rows in keyframe_rows),
        interpolation_calls=euler_steps * sum(math.ceil(rows / unet_batch_size) for rows in window_rows),
        keyframe_sequences=euler_steps * sum(keyframe_rows),
        interpolation_sequences=euler_steps * sum(window_rows),
        window_length=plans[0].window_length,
    )


def required_frame_evaluations(plan: DubbingPlan, euler_steps: int) -> int:
    """What the algorithm needs, counted from the plan alone: every keyframe batch (14 slots) and every
    interpolation window (14 frames), times the three guidance branches, times the steps."""
    sequences = len(plan.batches) + len(plan.windows)
    return sequences * plan.window_length * len(GUIDANCE_BRANCHES) * euler_steps


# ----------------------------------------------------------------------------------------------------------------
# FLOPs on the meta device
# ----------------------------------------------------------------------------------------------------------------
def on_meta(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Build a module with every parameter and buffer on the meta device (some diffusers modules create small
    tensors with legacy constructors that ignore the default device, hence the final move)."""
    with torch.device("meta"):
        module = build()
    return module.to("meta").eval()


def count_flops(function: Callable[[], object]) -> int:
    """FLOPs of one call of `function`, counted by `FlopCounterMode` (multiply-add = 2)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        function()
    return int(counter.get_total_flops())


def unet_call_flops(
    num_sequences: int = 3,
    *,
    in_channels: int = 8,
    latent_size: int = FULL_FRAME_SIZE // 8,
    config: dict | None = None,
) -> int:
    """FLOPs of one U-Net call on `num_sequences` 14-frame sequences (official size unless `config` is given)."""
    unet = on_meta(lambda: KeySyncUNet(**{"in_channels": in_channels, **(config or {})}))
    frames, context = unet.config.num_frames, unet.config.cross_attention_dim
    sample = torch.empty(num_sequences, frames, unet.config.in_channels, latent_size, latent_size, device="meta")
    audio = torch.empty(num_sequences, frames, context, device="meta")
    return count_flops(lambda: unet(sample, 1.0, audio))


def vae_flops_per_frame(frame_size: int = FULL_FRAME_SIZE, config: dict | None = None) -> tuple[int, int]:
    """FLOPs to encode one frame and to decode one latent frame (`num_frames=1`) with SVD's VAE."""
    vae = on_meta(lambda: AutoencoderKLTemporalDecoder(**(config or SVD_VAE_CONFIG)))
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    pixels = torch.empty(1, vae.config.in_channels, frame_size, frame_size, device="meta")
    latents = torch.empty(1, vae.config.latent_channels, frame_size // factor, frame_size // factor, device="meta")
    encode = count_flops(lambda: vae.encode(pixels).latent_dist.mode())
    decode = count_flops(lambda: vae.decode(latents, num_frames=1).sample)
    return encode, decode


def speech_encoder_flops(seconds: Fraction) -> int:
    """FLOPs of HuBERT Base and WavLM Base+ (their default configs) over `seconds` of 16 kHz audio, one pass each."""
    samples = torch.empty(1, round(seconds * SPEECH_SAMPLE_RATE), device="meta")
    total = 0
    for model_class, config_class in ((HubertModel, HubertConfig), (WavLMModel, WavLMConfig)):
        model = on_meta(lambda model_class=model_class, config_class=config_class: model_class(config_class()))
        total += count_flops(lambda model=model: model(samples))
    return total


@dataclass(frozen=True)
class FlopBudget:
    """FLOPs of a whole render and the least time they take at a peak rate.

    Args:
        num_frames (`int`): frames rendered.
        frame_rate (`Fraction`): their rate (seconds of output = `num_frames / frame_rate`).
        euler_steps (`int`): Euler steps per sampling.
        unet_batch_size (`int`): sequences per U-Net call.
        workload (`UNetWorkload`): U-Net calls and evaluations.
        keyframe_call_flops, interpolation_call_flops (`int`): one call of `unet_batch_size` sequences of each
            U-Net (8 and 9 input channels).
        vae_encode_flops, vae_decode_flops (`int`): per frame.
        audio_flops (`int`): both speech encoders over the clip.
    """

    num_frames: int
    frame_rate: Fraction
    euler_steps: int
    unet_batch_size: int
    workload: UNetWorkload
    keyframe_call_flops: int
    interpolation_call_flops: int
    vae_encode_flops: int
    vae_decode_flops: int
    audio_flops: int

    @property
    def unet_flops(self) -> float:
        frames_per_call = self.unet_batch_size * self.workload.window_length
        per_frame = (self.keyframe_call_flops / frames_per_call, self.interpolation_call_flops / frames_per_call)
        length = self.workload.window_length
        return length * (
            self.workload.keyframe_sequences * per_frame[0] + self.workload.interpolation_sequences * per_frame[1]
        )

    @property
    def vae_flops(self) -> float:
        # Every frame and the identity frame are encoded; every frame is decoded once.
        return (self.num_frames + 1) * self.vae_encode_flops + self.num_frames * self.vae_decode_flops

    @property
    def total_flops(self) -> float:
        return self.unet_flops + self.vae_flops + self.audio_flops

    @property
    def output_seconds(self) -> Fraction:
        return Fraction(self.num_frames) / self.frame_rate

    def seconds_per_output_second(self, peak_flops_per_second: float) -> float:
        """The least wall-clock time per second of output at `peak_flops_per_second` (100 % utilisation)."""
        return self.total_flops / peak_flops_per_second / float(self.output_seconds)

    def to_dict(self) -> dict:
        """Plain numbers for a JSON report, with the minimum time at each peak rate of `PEAK_RATES`."""
        workload = self.workload
        return {
            "num_frames": self.num_frames,
            "frame_rate": str(self.frame_rate),
            "euler_steps": self.euler_steps,
            "unet_batch_size": self.unet_batch_size,
            "workload": {**asdict(workload), "calls": workload.calls, "frame_evaluations": workload.frame_evaluations},
            "keyframe_call_tflop": self.keyframe_call_flops / 1e12,
            "interpolation_call_tflop": self.interpolation_call_flops / 1e12,
            "vae_encode_tflop_per_frame": self.vae_encode_flops / 1e12,
            "vae_decode_tflop_per_frame": self.vae_decode_flops / 1e12,
            "audio_tflop": self.audio_flops / 1e12,
            "unet_pflop": self.unet_flops / 1e15,
            "vae_pflop": self.vae_flops / 1e15,
            "total_pflop": self.total_flops / 1e15,
            "min_seconds_per_output_second": {
                name: self.seconds_per_output_second(peak) for name, peak in PEAK_RATES.items()
            },
        }


def flop_budget(
    num_frames: int = 250,
    *,
    euler_steps: int = 11,
    unet_batch_size: int = 3,
    frame_rate: Fraction = Fraction(OUTPUT_FRAME_RATE),
) -> FlopBudget:
    """Count the FLOPs of rendering `num_frames` 512x512 crops with the official models (meta device, about 3 s).

    Args:
        num_frames (`int`, defaults to 250): 10 s at 25 fps.
        euler_steps (`int`, defaults to 11): Euler steps per sampling (the official AYS schedule has 11).
        unet_batch_size (`int`, defaults to 3): sequences per U-Net call (FLOPs per frame do not depend on it).
        frame_rate (`Fraction`, defaults to 25): output frame rate.
    """
    plan = plan_dubbing(num_frames)
    encode, decode = vae_flops_per_frame()
    return FlopBudget(
        num_frames=num_frames,
        frame_rate=Fraction(frame_rate),
        euler_steps=euler_steps,
        unet_batch_size=unet_batch_size,
        workload=unet_workload(plan, euler_steps, unet_batch_size),
        keyframe_call_flops=unet_call_flops(unet_batch_size, in_channels=8),
        interpolation_call_flops=unet_call_flops(unet_batch_size, in_channels=9),
        vae_encode_flops=encode,
        vae_decode_flops=decode,
        audio_flops=speech_encoder_flops(Fraction(num_frames) / Fraction(frame_rate)),
    )

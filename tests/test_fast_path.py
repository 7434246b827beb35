"""The fast path changes nothing but speed: batched guidance, SDPA attention, batch-size policy, channels-last,
static-shape compilation, precision, threaded encoding, each checked against the plain result."""

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0
from media_fixtures import make_test_clip, read_index
from test_flops import count_unet_frames
from test_pipeline import SHORT_SIGMAS, joined, latent_masks, run, tiny_pipeline

from keydub.core.errors import InvalidParameterError
from keydub.core.media import VideoWriter, probe, read_frames
from keydub.core.model.pipeline import (
    CUDA_ATTENTION_BACKENDS,
    VAE_DECODE_BYTES_PER_FRAME,
    VAE_ENCODE_BYTES_PER_FRAME,
    auto_unet_batch_size,
    default_dtype,
    vae_frames_that_fit,
)
from keydub.core.model.sampling import SamplingConfig


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    """28 frames (1 keyframe batch, 3 windows) with the default settings, as latents and as decoded crops."""
    pipe = tiny_pipeline()
    return {"latent": joined(run(pipe, 28, output_type="latent")), "pt": joined(run(pipe, 28))}


def code_values(frames: torch.Tensor) -> torch.Tensor:
    """Decoded crops in [-1, 1] as 8-bit code values (how they are written), float for differences."""
    return ((frames.clamp(-1, 1) + 1) * 127.5).round()


def test_every_attention_is_pytorch_sdpa(monkeypatch):
    pipe = tiny_pipeline()
    for unet in (pipe.keyframe_unet, pipe.interpolation_unet):
        processors = unet.attn_processors
        # 4 spatio-temporal transformers, each with self- and cross-attention in its spatial and temporal block.
        assert len(processors) == 16 and all(isinstance(p, AttnProcessor2_0) for p in processors.values())
    calls, inside_unet = [], []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def counting_sdpa(*args, **kwargs):
        if inside_unet:
            calls.append(args[0].shape)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting_sdpa)
    for unet in (pipe.keyframe_unet, pipe.interpolation_unet):
        unet.register_forward_pre_hook(lambda module, args: inside_unet.append(True))
        unet.register_forward_hook(lambda module, args, output: inside_unet.clear())
    run(pipe, 14, output_type="latent", sampling=SamplingConfig(sigmas=(700.0, 0.0)))
    # One U-Net call per stage (14 frames, one step), each running its 16 attention layers through SDPA.
    assert len(calls) == 2 * 16
    # The math kernel is not among those allowed on CUDA.
    assert torch.nn.attention.SDPBackend.MATH not in CUDA_ATTENTION_BACKENDS


def test_all_guidance_branches_of_all_windows_in_one_call_per_step(reference):
    # 28 frames: 3 windows, so 9 sequences per interpolation step; 9 per call makes one call per step.
    pipe = tiny_pipeline(unet_batch_size=9)
    frames = count_unet_frames(pipe)
    latents = joined(run(pipe, 28, output_type="latent"))
    steps = len(SHORT_SIGMAS) - 1
    assert frames["keyframe"] == [3 * 14] * steps and frames["interpolation"] == [9 * 14] * steps
    torch.testing.assert_close(latents, reference["latent"], rtol=0, atol=2e-4)


def test_auto_batch_size_follows_memory_and_the_attention_grid():
    latent, bf16, fp32 = (64, 64), 2, 4
    assert auto_unet_batch_size(int(5.6e9), latent, bf16) == 4  # 12 GiB budget next to bf16 weights
    assert auto_unet_batch_size(int(5.6e9), latent, fp32) == 2
    assert auto_unet_batch_size(int(100e9), latent, bf16) == 15  # 15 x 64 x 64 temporal-attention batch < 65536
    assert auto_unet_batch_size(0, latent, bf16) == 1
    assert auto_unet_batch_size(int(100e9), (32, 32), bf16) == 63


def test_vae_chunks_are_bounded_by_memory():
    # 12 GiB next to 7.3 GB of weights leaves about 5.5 GB: 4 frames per decoder call at 512 px in fp32, 8 to encode.
    available, size = int(5.5e9), (512, 512)
    assert vae_frames_that_fit(14, available, VAE_DECODE_BYTES_PER_FRAME, size, 4) == 4
    assert vae_frames_that_fit(16, available, VAE_ENCODE_BYTES_PER_FRAME, size, 4) == 8
    assert vae_frames_that_fit(14, available, VAE_DECODE_BYTES_PER_FRAME, size, 2) == 8  # a bf16 VAE
    assert vae_frames_that_fit(14, int(100e9), VAE_DECODE_BYTES_PER_FRAME, size, 4) == 14  # never above the request
    assert vae_frames_that_fit(14, 0, VAE_DECODE_BYTES_PER_FRAME, size, 4) == 1
    # On a CPU the requested chunk sizes stand.
    pipe = tiny_pipeline()
    assert pipe.frames_per_vae_call(14, VAE_DECODE_BYTES_PER_FRAME) == 14


def test_auto_batch_size_on_a_cpu_is_the_official_three(reference):
    pipe = tiny_pipeline(unet_batch_size="auto")
    assert pipe.sequences_per_unet_call() == 3
    assert torch.equal(joined(run(pipe, 28, output_type="latent")), reference["latent"])
    with pytest.raises(InvalidParameterError, match="unet_batch_size must be a positive integer"):
        tiny_pipeline(unet_batch_size="big")


def test_channels_last_changes_only_rounding(reference):
    pipe = tiny_pipeline()
    pipe.enable_channels_last()
    assert pipe.keyframe_unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert pipe.vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    crops = joined(run(pipe, 28))
    assert (code_values(crops) - code_values(reference["pt"])).abs().max() <= 1


@pytest.mark.slow
def test_compiled_unets_trace_once_per_batch_shape():
    """Static shapes: one graph per U-Net for the single call shape, none per step (the noise level is a tensor,
    so the graph does not specialise on it), and the same result as eager."""
    pipe = tiny_pipeline()
    eager = run(pipe, 14, output_type="latent", sampling=SamplingConfig(sigmas=(700.0, 4.248, 0.0)))
    graphs = []

    def record_graph(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    pipe.enable_torch_compile(backend=record_graph)
    compiled = run(pipe, 14, output_type="latent", sampling=SamplingConfig(sigmas=(700.0, 4.248, 0.0)))
    assert len(graphs) == 2
    assert torch.equal(compiled[0][1], eager[0][1])


@pytest.mark.parametrize(
    ("dtype", "mean_limit", "max_limit"),
    # Measured on this configuration: bf16 mean 0.87, max 39; fp16 mean 0.11, max 4 (fp16 keeps 3 more bits).
    [(torch.bfloat16, 2.0, 64), (torch.float16, 0.5, 16)],
)
def test_half_precision_decoded_crops_stay_within_the_stated_deviation(reference, dtype, mean_limit, max_limit):
    """Tiny models on a CPU: half-precision U-Nets against fp32 on the same inputs and seed, in 8-bit code values
    of the decoded crops; the stated tolerance is the limits above."""
    pipe = tiny_pipeline().to(torch_dtype=dtype)
    delta = (code_values(joined(run(pipe, 28))) - code_values(reference["pt"])).abs()
    assert 0 < delta.mean() < mean_limit and delta.max() < max_limit
    # Outside the mask the clean latents are kept exactly; pixels there differ only where the decoder sees
    # generated latents nearby, so less than inside.
    inside = (torch.nn.functional.interpolate(latent_masks(28).float(), scale_factor=8) > 0).expand_as(delta)
    assert delta[~inside].mean() < delta[inside].mean()


def test_default_precision_is_bfloat16_on_cuda_only():
    assert default_dtype("cuda") == torch.bfloat16 and default_dtype("cuda:1") == torch.bfloat16
    assert default_dtype("cpu") == torch.float32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_attention_never_falls_back_to_math(reference):
    pipe = tiny_pipeline().to("cuda", torch.bfloat16)
    with torch.nn.attention.sdpa_kernel(list(CUDA_ATTENTION_BACKENDS)):
        latents = joined(run(pipe, 28, output_type="latent"))
    assert torch.isfinite(latents).all()


@pytest.mark.parametrize(("codec", "suffix"), [("prores", ".mov"), ("h264", ".mp4")])
def test_frame_threaded_encoding_keeps_every_frame_in_order(tmp_path: Path, codec: str, suffix: str):
    source = make_test_clip(tmp_path / "source.mov", codec="prores", frame_count=12)
    info = probe(source)
    outputs = {}
    for threads in (1, 3):
        target = tmp_path / f"t{threads}{suffix}"
        with VideoWriter(target, like=info, codec=codec, encoder_threads=threads) as writer:
            assert writer.encoder_threads == threads
            for frame in read_frames(source):
                writer.write(frame)
        outputs[threads] = list(read_frames(target))
    for frames in outputs.values():
        assert [read_index(frame) for frame in frames] == list(range(12))
    if codec == "prores":  # intra-only: the threads' work does not depend on each other
        assert all(np.array_equal(a, b) for a, b in zip(outputs[1], outputs[3], strict=True))
    with pytest.raises(InvalidParameterError, match="encoder_threads must be a positive thread count"):
        VideoWriter(tmp_path / "bad.mov", like=info, encoder_threads=0)

"""KeySyncUNet: shapes, both audio paths, parity with diffusers' forward, weights layout and save/load."""

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import UNetSpatioTemporalConditionModel
from diffusers.models.resnet import SpatioTemporalResBlock
from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel
from tiny_models import TINY_AUDIO_DIM, TINY_LATENT_SIZE, WINDOW_LENGTH, tiny_unet, tiny_unet_config

from keydub.core.errors import InvalidParameterError
from keydub.core.model.unet import RESNET_NORM_EPS, KeySyncUNet


def _inputs(in_channels: int = 8, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, WINDOW_LENGTH, in_channels, TINY_LATENT_SIZE, TINY_LATENT_SIZE, generator=generator)
    audio = torch.randn(batch, WINDOW_LENGTH, TINY_AUDIO_DIM, generator=generator)
    return sample, audio


def _diffusers_twin(unet: KeySyncUNet) -> UNetSpatioTemporalConditionModel:
    """The diffusers base model with the same weights and the same normalisation epsilons."""
    twin = UNetSpatioTemporalConditionModel(**tiny_unet_config(unet.config.in_channels)).eval()
    twin.load_state_dict(unet.state_dict())
    for (name, module), (twin_name, twin_module) in zip(unet.named_modules(), twin.named_modules(), strict=True):
        assert name == twin_name
        if isinstance(module, torch.nn.GroupNorm):
            twin_module.eps = module.eps
    return twin


def _diffusers_forward(twin, sample, c_noise, context, label_input):
    """diffusers' own forward with `context` as cross-attention and `label_input` fed to `add_embedding` (same for
    every frame of a window: the base class has one added embedding per window)."""
    handle = twin.add_embedding.register_forward_pre_hook(lambda module, args: (label_input,))
    try:
        dummy_ids = torch.zeros(sample.shape[0], 3)
        return twin(sample, c_noise, encoder_hidden_states=context, added_time_ids=dummy_ids).sample
    finally:
        handle.remove()


@pytest.mark.parametrize("in_channels", [8, 9])
def test_forward_shapes_and_noise_level_forms(in_channels):
    unet = tiny_unet(in_channels)
    sample, audio = _inputs(in_channels)
    with torch.no_grad():
        out = unet(sample, 0.3, audio)
        per_window = unet(sample, torch.tensor([0.3, 0.3]), audio)
        per_frame = unet(sample, torch.full((2, WINDOW_LENGTH), 0.3), audio)
        other_level = unet(sample, -1.2, audio)
    assert out.shape == (2, WINDOW_LENGTH, 4, TINY_LATENT_SIZE, TINY_LATENT_SIZE)
    assert torch.equal(out, per_window) and torch.equal(out, per_frame)
    assert not torch.allclose(out, other_level)


def test_zero_audio_equals_diffusers_unconditional_path():
    unet = tiny_unet(8)
    twin = _diffusers_twin(unet)
    sample, _ = _inputs()
    zeros = torch.zeros(2, WINDOW_LENGTH, TINY_AUDIO_DIM)
    with torch.no_grad():
        ours = unet(sample, 0.7, zeros)
        reference = _diffusers_forward(twin, sample, 0.7, zeros, torch.zeros(2, TINY_AUDIO_DIM))
    # Not bit-equal: diffusers embeds the noise level once per window, we once per frame (GEMMs of other sizes).
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-5)
    assert ours.abs().mean() > 0.1


def test_audio_constant_over_the_window_equals_diffusers_forward():
    unet = tiny_unet(9)
    twin = _diffusers_twin(unet)
    sample, audio = _inputs(9)
    audio = audio[:, :1].expand(-1, WINDOW_LENGTH, -1).contiguous()
    with torch.no_grad():
        ours = unet(sample, 0.2, audio)
        reference = _diffusers_forward(twin, sample, 0.2, audio, audio[:, 0])
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-5)
    assert ours.abs().mean() > 0.1


def test_each_frame_gets_its_own_audio_token_in_the_time_embedding():
    unet = tiny_unet(8)
    sample, audio = _inputs()
    seen = []
    handle = unet.add_embedding.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    with torch.no_grad():
        unet(sample, 0.1, audio)
    handle.remove()
    assert torch.equal(seen[0], audio.reshape(2 * WINDOW_LENGTH, TINY_AUDIO_DIM))


def _cross_attentions(unet):
    return [module for name, module in unet.named_modules() if name.endswith("attn2")]


def test_audio_reaches_the_output_through_cross_attention_alone():
    unet = tiny_unet(8)
    sample, audio = _inputs()
    other = torch.randn_like(audio)
    with torch.no_grad():
        base = unet(sample, 0.1, audio)
        # Pin add_embedding's input to the first audio: only the cross-attention sees `other`.
        handle = unet.add_embedding.register_forward_pre_hook(lambda module, args: (audio.flatten(0, 1),))
        changed = unet(sample, 0.1, other)
        handle.remove()
    assert (changed - base).abs().max() > 1e-3


def test_audio_reaches_the_output_through_the_time_embedding_alone():
    unet = tiny_unet(8)
    sample, audio = _inputs()
    other = torch.randn_like(audio)

    def pin_context(module, args, kwargs):
        # Spatial blocks see [B*T, T, D] (one copy per frame), temporal blocks [B*h*w, T, D] (one per pixel).
        copies = kwargs["encoder_hidden_states"].shape[0] // audio.shape[0]
        return args, {**kwargs, "encoder_hidden_states": audio.repeat_interleave(copies, dim=0)}

    with torch.no_grad():
        base = unet(sample, 0.1, audio)
        handles = [a.register_forward_pre_hook(pin_context, with_kwargs=True) for a in _cross_attentions(unet)]
        assert handles
        changed = unet(sample, 0.1, other)
        for handle in handles:
            handle.remove()
        unpinned = unet(sample, 0.1, other)
    assert (changed - base).abs().max() > 1e-3
    assert (unpinned - changed).abs().max() > 1e-3


def test_state_dict_keys_and_shapes_equal_diffusers():
    for in_channels in (8, 9):
        ours = KeySyncUNet(**tiny_unet_config(in_channels)).state_dict()
        base = UNetSpatioTemporalConditionModel(**tiny_unet_config(in_channels)).state_dict()
        assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in base.items()}


@pytest.mark.parametrize(("in_channels", "parameters"), [(8, 1_524_950_762), (9, 1_524_953_642)])
def test_full_size_defaults_are_the_official_model(in_channels, parameters):
    with init_empty_weights():
        unet = KeySyncUNet(in_channels=in_channels)
        base = UNetSpatioTemporalConditionModel(
            in_channels=in_channels, projection_class_embeddings_input_dim=1024, num_frames=14
        )
    # 1,524,953,642 parameters for 9 channels: the official interpolation VideoUNet (§8.2).
    assert sum(p.numel() for p in unet.parameters()) == parameters
    assert list(unet.state_dict()) == list(base.state_dict())
    assert unet.add_embedding.linear_1.weight.shape == (1280, 1024)
    heads = [block.attentions[0].transformer_blocks[0].attn1.heads for block in unet.down_blocks[:3]]
    assert heads == [5, 10, 20]  # 64 channels per head


def test_attention_runs_on_pytorch_sdpa():
    processors = KeySyncUNet(**tiny_unet_config(9)).attn_processors
    # 4 transformers (down, mid, 2 up) x spatial and temporal self- and cross-attention
    assert len(processors) == 16 and {type(p).__name__ for p in processors.values()} == {"AttnProcessor2_0"}


def test_resnet_norms_use_the_official_epsilon():
    unet = KeySyncUNet(**tiny_unet_config(8))
    norms = [
        norm
        for module in unet.modules()
        if isinstance(module, SpatioTemporalResBlock)
        for block in (module.spatial_res_block, module.temporal_res_block)
        for norm in (block.norm1, block.norm2)
    ]
    assert len(norms) == 4 * (2 + 1 + 2 + 3)  # resnets in down, mid and up blocks
    assert {norm.eps for norm in norms} == {RESNET_NORM_EPS}
    # Transformer input norms are 1e-6 in the official model too and stay so.
    assert {m.norm.eps for m in unet.modules() if isinstance(m, TransformerSpatioTemporalModel)} == {1e-6}


def test_save_and_load_round_trip(tmp_path):
    unet = tiny_unet(9, seed=3)
    unet.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = KeySyncUNet.from_pretrained(tmp_path).eval()
    assert loaded.config.in_channels == 9 and loaded.config.num_frames == WINDOW_LENGTH
    sample, audio = _inputs(9)
    with torch.no_grad():
        assert torch.equal(unet(sample, 0.5, audio), loaded(sample, 0.5, audio))
    assert {m.spatial_res_block.norm1.eps for m in loaded.modules() if isinstance(m, SpatioTemporalResBlock)} == {
        RESNET_NORM_EPS
    }


def test_bad_inputs_are_refused_with_the_expected_shape():
    unet = tiny_unet(8)
    sample, audio = _inputs()
    with pytest.raises(InvalidParameterError, match=r"audio must have shape \[2, 14, 32\]"):
        unet(sample, 0.1, audio[:, :13])
    with pytest.raises(InvalidParameterError, match="c_noise"):
        unet(sample, torch.zeros(3), audio)
    with pytest.raises(InvalidParameterError, match="multiples of 2"):
        unet(sample[..., :7, :7], 0.1, audio)
    with pytest.raises(InvalidParameterError, match="must equal"):
        KeySyncUNet(**{**tiny_unet_config(8), "projection_class_embeddings_input_dim": 16})

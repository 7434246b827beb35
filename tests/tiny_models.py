"""Tiny, seeded builds of every model component, shared by the test suite.

Each builder seeds torch before constructing, so two calls give identical weights. Sizes follow
`feasibility.md` §4/§9: two U-Net blocks of 32/64 channels, 32-d audio tokens, a 4-block VAE of 32 channels
(an /8 VAE like SVD's), 64x64 frames -> 8x8 latents, the real 14-frame windows.
"""

from pathlib import Path

import torch
from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
from safetensors.torch import save_file
from transformers import HubertConfig, HubertModel, WavLMConfig, WavLMModel

from keydub.core.audio.features import HubertFeatures, WavLMFeatures
from keydub.core.model.audio_projector import AudioProjector
from keydub.core.model.unet import KeySyncUNet


TINY_FRAME_SIZE = 64
TINY_LATENT_SIZE = TINY_FRAME_SIZE // 8
TINY_AUDIO_DIM = 32
WINDOW_LENGTH = 14


def tiny_unet_config(in_channels: int = 8) -> dict:
    """Config of a 1.3 M-parameter `KeySyncUNet` (8 input channels: keyframe model; 9: interpolation model)."""
    return {
        "sample_size": TINY_LATENT_SIZE,
        "in_channels": in_channels,
        "out_channels": 4,
        "down_block_types": ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        "up_block_types": ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        "block_out_channels": (32, 64),
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": TINY_AUDIO_DIM,
        "layers_per_block": 1,
        "cross_attention_dim": TINY_AUDIO_DIM,
        "num_attention_heads": (2, 4),
        "num_frames": WINDOW_LENGTH,
    }


def _perturb(module: torch.nn.Module, scale: float) -> torch.nn.Module:
    """Add seeded noise to every parameter: diffusers zero-initialises some output layers, and tests need every
    path (including the audio one) to carry signal."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * scale)
    return module


def tiny_unet(in_channels: int = 8, seed: int = 0) -> KeySyncUNet:
    """A seeded tiny `KeySyncUNet` in eval mode, with no zero-initialised layer left."""
    torch.manual_seed(seed)
    return _perturb(KeySyncUNet(**tiny_unet_config(in_channels)), 0.05).eval()


def tiny_vae(seed: int = 0) -> AutoencoderKLTemporalDecoder:
    """A seeded tiny SVD-style VAE (/8, 4 latent channels, 0.4 M parameters) in eval mode."""
    torch.manual_seed(seed)
    return AutoencoderKLTemporalDecoder(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        block_out_channels=(32, 32, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        sample_size=TINY_FRAME_SIZE,
        scaling_factor=0.18215,
    ).eval()


def tiny_learned_mask(seed: int = 0, latent_size: int = TINY_LATENT_SIZE) -> torch.Tensor:
    """A seeded interpolation `z_m` (`[4, 8, 8]` by default); the official one is learned, so non-zero here.
    Its size sets the frame size a pipeline accepts (`8 * latent_size`)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(4, latent_size, latent_size, generator=generator)


# Speech encoders and the official checkpoint layout -----------------------------------------------------------
TINY_SPEECH_DIM = 16

# Makes every encoder token depend on its own 400 samples only (no transformer layer, per-token norms,
# a 1-tap positional conv): what the framing and chunking tests need to see exact token boundaries.
LOCAL_SPEECH_ENCODER = {
    "num_hidden_layers": 0,
    "feat_extract_norm": "layer",
    "num_conv_pos_embeddings": 1,
    "num_conv_pos_embedding_groups": 1,
}


def _tiny_speech_config(overrides: dict) -> dict:
    """The real conv geometry (400-sample field, 320-sample hop) with 8 channels and a 16-d, 2-layer transformer."""
    return {
        "hidden_size": TINY_SPEECH_DIM,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "conv_dim": (8,) * 7,
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
        **overrides,
    }


def tiny_hubert(seed: int = 0, **overrides: object) -> HubertModel:
    """A seeded tiny `HubertModel` in eval mode (HuBERT Base's feature encoder shape, 16-d tokens)."""
    torch.manual_seed(seed)
    return HubertModel(HubertConfig(**_tiny_speech_config(overrides))).eval()


def tiny_wavlm(seed: int = 0, **overrides: object) -> WavLMModel:
    """A seeded tiny `WavLMModel` in eval mode (WavLM Base+'s feature encoder shape, 16-d tokens)."""
    torch.manual_seed(seed)
    config = {"num_buckets": 32, "max_bucket_distance": 64, **_tiny_speech_config(overrides)}
    return WavLMModel(WavLMConfig(**config)).eval()


# Official sgm names inside one VideoResBlock / SpatialVideoTransformer, for the diffusers module at the same place.
_SGM_RESNET = {
    "spatial_res_block.norm1": "in_layers.0",
    "spatial_res_block.conv1": "in_layers.2",
    "spatial_res_block.time_emb_proj": "emb_layers.1",
    "spatial_res_block.norm2": "out_layers.0",
    "spatial_res_block.conv2": "out_layers.3",
    "spatial_res_block.conv_shortcut": "skip_connection",
    "temporal_res_block.norm1": "time_stack.in_layers.0",
    "temporal_res_block.conv1": "time_stack.in_layers.2",
    "temporal_res_block.time_emb_proj": "time_stack.emb_layers.1",
    "temporal_res_block.norm2": "time_stack.out_layers.0",
    "temporal_res_block.conv2": "time_stack.out_layers.3",
}
_SGM_TRANSFORMER = {
    "temporal_transformer_blocks": "time_stack",
    "time_pos_embed.linear_1": "time_pos_embed.0",
    "time_pos_embed.linear_2": "time_pos_embed.2",
}


def official_unet_names(unet: UNetSpatioTemporalConditionModel) -> dict[str, str]:
    """diffusers name -> official sgm `VideoUNet` name of every U-Net tensor.

    Written independently of `keydub.core.model.convert`: it walks the modules in the order the official
    `VideoUNet.__init__` appends them (input blocks counted one by one, res block at slot 0, transformer at
    slot 1, resampler after them) instead of computing indices from rules. Works on meta-device models.
    """
    names: dict[str, str] = {}

    def put(module: torch.nn.Module, ours: str, theirs: str, inner: dict[str, str] | None = None) -> None:
        for name in module.state_dict():
            renamed = next(
                (new + name[len(old) :] for old, new in (inner or {}).items() if name.startswith(old + ".")), name
            )
            names[f"{ours}.{name}"] = f"{theirs}.{renamed}"

    put(unet.conv_in, "conv_in", "input_blocks.0.0")
    put(unet.time_embedding.linear_1, "time_embedding.linear_1", "time_embed.0")
    put(unet.time_embedding.linear_2, "time_embedding.linear_2", "time_embed.2")
    put(unet.add_embedding.linear_1, "add_embedding.linear_1", "label_emb.0.0")
    put(unet.add_embedding.linear_2, "add_embedding.linear_2", "label_emb.0.2")
    index = 1
    for b, block in enumerate(unet.down_blocks):
        for layer, resnet in enumerate(block.resnets):
            put(resnet, f"down_blocks.{b}.resnets.{layer}", f"input_blocks.{index}.0", _SGM_RESNET)
            if hasattr(block, "attentions"):
                put(
                    block.attentions[layer],
                    f"down_blocks.{b}.attentions.{layer}",
                    f"input_blocks.{index}.1",
                    _SGM_TRANSFORMER,
                )
            index += 1
        if block.downsamplers is not None:
            put(block.downsamplers[0].conv, f"down_blocks.{b}.downsamplers.0.conv", f"input_blocks.{index}.0.op")
            index += 1
    put(unet.mid_block.resnets[0], "mid_block.resnets.0", "middle_block.0", _SGM_RESNET)
    put(unet.mid_block.attentions[0], "mid_block.attentions.0", "middle_block.1", _SGM_TRANSFORMER)
    put(unet.mid_block.resnets[1], "mid_block.resnets.1", "middle_block.2", _SGM_RESNET)
    index = 0
    for b, block in enumerate(unet.up_blocks):
        for layer, resnet in enumerate(block.resnets):
            put(resnet, f"up_blocks.{b}.resnets.{layer}", f"output_blocks.{index}.0", _SGM_RESNET)
            slot = 1
            if hasattr(block, "attentions"):
                put(
                    block.attentions[layer],
                    f"up_blocks.{b}.attentions.{layer}",
                    f"output_blocks.{index}.1",
                    _SGM_TRANSFORMER,
                )
                slot = 2
            if layer == len(block.resnets) - 1 and block.upsamplers is not None:
                put(block.upsamplers[0].conv, f"up_blocks.{b}.upsamplers.0.conv", f"output_blocks.{index}.{slot}.conv")
            index += 1
    put(unet.conv_norm_out, "conv_norm_out", "out.0")
    put(unet.conv_out, "conv_out", "out.2")
    return names


def official_layout_state_dict(
    unet: UNetSpatioTemporalConditionModel,
    projector_weight: torch.Tensor,
    projector_bias: torch.Tensor,
    learned_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The state dict of an official KeySync `.pt` (`"module"` entry) holding these tensors.

    Every name carries the `_forward_module.` prefix; the U-Net sits under `model.diffusion_model.`, the audio
    projector under `conditioner.embedders.2.linear.`, the interpolation `z_m` at `model.learned_mask`. Like the
    real files it also holds tensors inference does not use (a conditioner autoencoder and sgm VAE decoder
    weights, here one small tensor each).
    """
    state = unet.state_dict()
    module = {
        f"_forward_module.model.diffusion_model.{theirs}": state[ours]
        for ours, theirs in official_unet_names(unet).items()
    }
    module["_forward_module.conditioner.embedders.2.linear.weight"] = projector_weight
    module["_forward_module.conditioner.embedders.2.linear.bias"] = projector_bias
    if learned_mask is not None:
        module["_forward_module.model.learned_mask"] = learned_mask
        module["_forward_module.conditioner.embedders.0.encoder.conv_in.weight"] = torch.ones(8, 3, 3, 3)
    module["_forward_module.first_stage_model.decoder.conv_in.weight"] = torch.ones(8, 4, 3, 3)
    return module


# The whole pipeline ------------------------------------------------------------------------------------------
def tiny_pipeline_components(frame_size: int = TINY_FRAME_SIZE, seed: int = 0) -> dict:
    """Every `KeySyncPipeline` component, tiny and seeded, for `frame_size` x `frame_size` crops.

    Returns keyword arguments for `KeySyncPipeline(**components)`.
    """
    torch.manual_seed(seed)
    projectors = [_perturb(AudioProjector(TINY_SPEECH_DIM, TINY_AUDIO_DIM), 0.05).eval() for _ in range(2)]
    return {
        "vae": tiny_vae(seed),
        "keyframe_unet": tiny_unet(8, seed),
        "interpolation_unet": tiny_unet(9, seed + 1),
        "keyframe_audio_projector": projectors[0],
        "interpolation_audio_projector": projectors[1],
        "keyframe_audio": HubertFeatures(tiny_hubert(seed)),
        "interpolation_audio": WavLMFeatures(tiny_wavlm(seed)),
        "learned_mask": tiny_learned_mask(seed, latent_size=frame_size // 8),
    }


def save_tiny_weights(folder: Path, frame_size: int = TINY_FRAME_SIZE) -> dict[str, Path]:
    """The tiny components saved as the loaders find them: converted KeySync folders, a VAE, two speech encoders."""
    components = tiny_pipeline_components(frame_size)
    for kind in ("keyframe", "interpolation"):
        components[f"{kind}_unet"].save_pretrained(folder / "keysync" / kind / "unet")
        components[f"{kind}_audio_projector"].save_pretrained(folder / "keysync" / kind / "audio_projector")
    save_file(
        {"learned_mask": components["learned_mask"]}, folder / "keysync" / "interpolation" / "learned_mask.safetensors"
    )
    components["vae"].save_pretrained(folder / "vae")
    components["keyframe_audio"].model.save_pretrained(folder / "hubert")
    components["interpolation_audio"].model.save_pretrained(folder / "wavlm")
    return {name: folder / name for name in ("keysync", "vae", "hubert", "wavlm")}


def tiny_weight_options(weights: dict[str, Path]) -> dict[str, str]:
    """The render options that load the weights `save_tiny_weights` saved: `weights`, `vae`, `hubert`, `wavlm`."""
    return {
        "weights": str(weights["keysync"]),
        "vae": str(weights["vae"]),
        "hubert": str(weights["hubert"]),
        "wavlm": str(weights["wavlm"]),
    }


def tiny_weight_flags(weights: dict[str, Path]) -> list[str]:
    """`tiny_weight_options` as command-line options: `--weights DIR --vae DIR --hubert DIR --wavlm DIR`."""
    return [text for option, value in tiny_weight_options(weights).items() for text in (f"--{option}", value)]

"""Tiny, seeded builds of every model component, shared by the test suite.

Each builder seeds torch before constructing, so two calls give identical weights. Sizes follow
`feasibility.md` §4/§9: two U-Net blocks of 32/64 channels, 32-d audio tokens, a 4-block VAE of 32 channels
(an /8 VAE like SVD's), 64x64 frames -> 8x8 latents, the real 14-frame windows.
"""

import torch
from diffusers import AutoencoderKLTemporalDecoder

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


def tiny_learned_mask(seed: int = 0) -> torch.Tensor:
    """A seeded interpolation `z_m` (`[4, 8, 8]`); the official one is learned, so non-zero here."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(4, TINY_LATENT_SIZE, TINY_LATENT_SIZE, generator=generator)

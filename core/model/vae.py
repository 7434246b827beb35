"""Encoding frames to and decoding latents from SVD's VAE (`AutoencoderKLTemporalDecoder`).

Conventions (`keysync-architecture.md` §1.1, §6.6):

- latents handled by the sampler are *scaled*: `z = vae_latent * scaling_factor` (0.18215);
- encoding uses the posterior's **mode**, not a sample. The official scripts draw `latent_dist.sample()` under a fixed
  seed; the mode is the sample's mean, keeps every frame's latent independent of batching and of the random stream,
  and differs from a sample by the posterior's tiny standard deviation;
- decoding runs SVD's temporal decoder on **one frame per video** (`num_frames=1`), as the official scripts do with
  `--decoding_t 1`; frames are still batched (`chunk_size`) because each is its own one-frame video, so batching
  changes speed and memory, not results.

Both functions take and return float32 pixels/latents and run the VAE in whatever dtype its weights are (keep the VAE
in float32 for the official behaviour: the official first stage never runs under autocast).
"""

import torch
from diffusers import AutoencoderKLTemporalDecoder


# The SVD VAE (`stabilityai/stable-video-diffusion-img2vid`, subfolder `vae`); the diffusers class defaults are a
# toy configuration, so the real one is spelled out here.
SVD_VAE_CONFIG: dict = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "force_upcast": True,
}
DEFAULT_ENCODE_CHUNK_SIZE = 16
DEFAULT_DECODE_CHUNK_SIZE = 14


def spatial_factor(vae: AutoencoderKLTemporalDecoder) -> int:
    """Pixels per latent along each axis (8 for SVD's VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


@torch.inference_mode()
def encode_frames(
    vae: AutoencoderKLTemporalDecoder, frames: torch.Tensor, *, chunk_size: int = DEFAULT_ENCODE_CHUNK_SIZE
) -> torch.Tensor:
    """Encode frames to scaled latents (posterior mode times `scaling_factor`).

    Args:
        vae (`AutoencoderKLTemporalDecoder`): the VAE.
        frames (`torch.Tensor`): `[n, 3, H, W]` in [-1, 1], any device and float dtype.
        chunk_size (`int`, defaults to 16): frames per encoder call.

    Returns:
        `torch.Tensor`: `[n, latent_channels, H / 8, W / 8]` float32 on the VAE's device.
    """
    latents = []
    for start in range(0, frames.shape[0], chunk_size):
        chunk = frames[start : start + chunk_size].to(device=vae.device, dtype=vae.dtype)
        latents.append(vae.encode(chunk).latent_dist.mode().float())
    return torch.cat(latents) * vae.config.scaling_factor


@torch.inference_mode()
def decode_latents(
    vae: AutoencoderKLTemporalDecoder, latents: torch.Tensor, *, chunk_size: int = DEFAULT_DECODE_CHUNK_SIZE
) -> torch.Tensor:
    """Decode scaled latents frame by frame (`num_frames=1`), `chunk_size` frames per decoder call.

    Args:
        vae (`AutoencoderKLTemporalDecoder`): the VAE.
        latents (`torch.Tensor`): `[n, latent_channels, h, w]` scaled latents.
        chunk_size (`int`, defaults to 14): frames per decoder call (memory knob; results do not depend on it).

    Returns:
        `torch.Tensor`: `[n, 3, 8h, 8w]` float32 pixels, nominally in [-1, 1] (not clamped).
    """
    frames = []
    for start in range(0, latents.shape[0], chunk_size):
        chunk = latents[start : start + chunk_size].to(device=vae.device, dtype=vae.dtype)
        frames.append(vae.decode(chunk / vae.config.scaling_factor, num_frames=1).sample.float())
    return torch.cat(frames)

"""KeySync's spatio-temporal U-Net: SVD's U-Net with per-frame audio in place of CLIP and the added time ids.

The network is diffusers' `UNetSpatioTemporalConditionModel` with the same modules and state-dict keys; only the
forward differs (`keysync-architecture.md` §2.4, §8.3):

- the cross-attention context of every frame is the window's `T` audio tokens (instead of one CLIP image token);
- the timestep embedding of frame `j` is `time_embedding(time_proj(c_noise)) + add_embedding(audio[j])`: the audio
  token replaces SVD's sinusoidal fps/motion/augmentation ids, so `add_time_proj` is unused.

Defaults are the official keyframe model (8 input channels: noisy latent + identity latent); the interpolation model
uses 9 (noisy latent + keyframe/learned-mask condition + 1-channel keyframe indicator).
"""

import torch
from diffusers import UNetSpatioTemporalConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.resnet import SpatioTemporalResBlock

from keydub.core.errors import InvalidParameterError


# Every ResBlock GroupNorm of the official VideoUNet uses torch's default eps 1e-5, while diffusers builds the
# resnets of its cross-attention down blocks and of all up blocks with 1e-6 (`keysync-architecture.md` §8.4b).
RESNET_NORM_EPS = 1e-5


class KeySyncUNet(UNetSpatioTemporalConditionModel):
    r"""SVD's spatio-temporal U-Net conditioned on per-frame audio tokens.

    Parameters are those of [`UNetSpatioTemporalConditionModel`]; the defaults are the official KeySync ones
    (SVD architecture, 64-channel attention heads, 1024-d audio tokens, 14-frame windows).

    Args:
        sample_size (`int`, *optional*): height and width of the latents (informational).
        in_channels (`int`, defaults to 8): 8 for the keyframe model, 9 for the interpolation model.
        out_channels (`int`, defaults to 4): latent channels predicted.
        down_block_types, up_block_types (`tuple[str, ...]`): SVD's block layout.
        block_out_channels (`tuple[int, ...]`, defaults to `(320, 640, 1280, 1280)`): channels per block.
        addition_time_embed_dim (`int`, defaults to 256): size of the unused `add_time_proj` (kept for SVD parity;
            it has no weights).
        projection_class_embeddings_input_dim (`int`, defaults to 1024): input of `add_embedding`, the audio token
            size.
        layers_per_block (`int`, defaults to 2): resnets per down block.
        cross_attention_dim (`int`, defaults to 1024): size of the cross-attention context, the audio token size.
        transformer_layers_per_block (`int`, defaults to 1): transformer depth.
        num_attention_heads (`tuple[int, ...]`, defaults to `(5, 10, 20, 20)`): heads per block; the official model
            has 64 channels per head (`num_head_channels: 64`), hence `block_out_channels / 64`.
        num_frames (`int`, defaults to 14): frames per window.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "DownBlockSpatioTemporal",
        ),
        up_block_types: tuple[str, ...] = (
            "UpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 1024,
        layers_per_block: int | tuple[int, ...] = 2,
        cross_attention_dim: int = 1024,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 14,
    ):
        if projection_class_embeddings_input_dim != cross_attention_dim:
            raise InvalidParameterError(
                "the audio token feeds both the cross-attention and add_embedding, so "
                f"projection_class_embeddings_input_dim ({projection_class_embeddings_input_dim}) must equal "
                f"cross_attention_dim ({cross_attention_dim})"
            )
        super().__init__(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
            layers_per_block=layers_per_block,
            cross_attention_dim=cross_attention_dim,
            transformer_layers_per_block=transformer_layers_per_block,
            num_attention_heads=num_attention_heads,
            num_frames=num_frames,
        )
        for module in self.modules():
            if isinstance(module, SpatioTemporalResBlock):
                for block in (module.spatial_res_block, module.temporal_res_block):
                    block.norm1.eps = RESNET_NORM_EPS
                    block.norm2.eps = RESNET_NORM_EPS

    @staticmethod
    def _frame_c_noise(
        c_noise: torch.Tensor | float, batch_size: int, num_frames: int, device: torch.device
    ) -> torch.Tensor:
        """`c_noise` as one value per frame, `[B*T]` float32 (the sinusoid is computed in float32)."""
        values = torch.as_tensor(c_noise, dtype=torch.float32, device=device)
        if values.numel() == 1:
            return values.reshape(1).expand(batch_size * num_frames)
        if values.shape == (batch_size,):
            return values.repeat_interleave(num_frames)
        if values.shape == (batch_size, num_frames):
            return values.reshape(-1)
        raise InvalidParameterError(
            f"c_noise must be a scalar, [batch] or [batch, frames] = [{batch_size}, {num_frames}], "
            f"got shape {tuple(values.shape)}"
        )

    def forward(self, sample: torch.Tensor, c_noise: torch.Tensor | float, audio: torch.Tensor) -> torch.Tensor:
        r"""Predict the network output `F` for a batch of windows.

        Args:
            sample (`torch.Tensor`): `[B, T, in_channels, h, w]`, the scaled noisy latents followed by the
                condition channels.
            c_noise (`torch.Tensor` or `float`): the noise-level input `0.25 * ln(sigma)`: a scalar, one value per
                window `[B]` or one per frame `[B, T]`.
            audio (`torch.Tensor`): `[B, T, cross_attention_dim]` projected audio tokens, one per frame (zeros for
                the unconditional guidance branches).

        Returns:
            `torch.Tensor`: `[B, T, out_channels, h, w]`.
        """
        batch_size, num_frames = sample.shape[:2]
        if audio.shape != (batch_size, num_frames, self.config.cross_attention_dim):
            raise InvalidParameterError(
                f"audio must have shape [{batch_size}, {num_frames}, {self.config.cross_attention_dim}] to match "
                f"the sample, got {tuple(audio.shape)}"
            )
        factor = 2**self.num_upsamplers
        if sample.shape[-1] % factor or sample.shape[-2] % factor:
            raise InvalidParameterError(
                f"latent height and width must be multiples of {factor}, got {tuple(sample.shape[-2:])}"
            )
        audio = audio.to(sample.dtype)

        # 1. Per-frame embedding: noise level + this frame's audio token (SVD's label_emb path).
        frame_noise = self._frame_c_noise(c_noise, batch_size, num_frames, sample.device)
        time_features = self.time_proj(frame_noise).to(sample.dtype)
        emb = self.time_embedding(time_features) + self.add_embedding(audio.flatten(0, 1))
        # 2. Every frame cross-attends to the T audio tokens of its window.
        context = audio.repeat_interleave(num_frames, dim=0)
        # Zeros: all frames are video frames (SVD's image-only mixing is off at inference).
        image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)

        # 3. The U-Net proper, on frames flattened into the batch.
        hidden = self.conv_in(sample.flatten(0, 1))
        skips = [hidden]
        for block in self.down_blocks:
            extra = {"encoder_hidden_states": context} if getattr(block, "has_cross_attention", False) else {}
            hidden, block_skips = block(
                hidden_states=hidden, temb=emb, image_only_indicator=image_only_indicator, **extra
            )
            skips.extend(block_skips)
        hidden = self.mid_block(
            hidden_states=hidden, temb=emb, encoder_hidden_states=context, image_only_indicator=image_only_indicator
        )
        for block in self.up_blocks:
            block_skips = tuple(skips[-len(block.resnets) :])
            del skips[-len(block.resnets) :]
            extra = {"encoder_hidden_states": context} if getattr(block, "has_cross_attention", False) else {}
            hidden = block(
                hidden_states=hidden,
                temb=emb,
                res_hidden_states_tuple=block_skips,
                image_only_indicator=image_only_indicator,
                **extra,
            )
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return hidden.reshape(batch_size, num_frames, *hidden.shape[1:])

"""The audio projector: one 1024-d conditioning token per video frame (keysync-architecture.md §2.3).

The official `WhisperAudioEmbedder` (`merge_method="mean"`) averages the two encoder tokens of each frame and
projects them with a Linear layer with bias; its weights are `conditioner.embedders.2.linear.*` in both official
checkpoints and become `linear.*` here.
"""

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from keydub.core.errors import InvalidParameterError


class AudioProjector(ModelMixin, ConfigMixin):
    """Mean of each frame's two audio tokens, then `Linear(in_features, out_features)`.

    Args:
        in_features (`int`, defaults to `768`): width of one HuBERT/WavLM token.
        out_features (`int`, defaults to `1024`): width of the U-Net's cross-attention context and of the input
            of its `add_embedding`.
    """

    @register_to_config
    def __init__(self, in_features: int = 768, out_features: int = 1024) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Project audio tokens.

        Args:
            tokens (`torch.Tensor`): `[B, T, 2, in_features]`, two tokens per frame.

        Returns:
            `torch.Tensor`: `[B, T, out_features]`.
        """
        if tokens.ndim != 4 or tokens.shape[-2:] != (2, self.config.in_features):
            raise InvalidParameterError(
                f"audio tokens must have shape [B, T, 2, {self.config.in_features}], got {list(tokens.shape)}"
            )
        return self.linear(tokens.mean(dim=-2))

"""Audio conditioning for KeySync: 16 kHz speech in, two HuBERT/WavLM tokens per video frame out.

Public API:
    HubertFeatures, WavLMFeatures: `extractor(waveform_16k, num_frames, frame_rate) -> [num_frames, 2, 768]`.
    load_speech: any file's audio as 16 kHz mono float32.
    plan_frame_tokens, FrameTokens: the frame -> token framing (also in `keydub.core.audio.framing`).
"""

from typing import TYPE_CHECKING

from keydub.core.audio.framing import MODEL_SAMPLE_RATE, FrameTokens, plan_frame_tokens
from keydub.core.audio.loading import load_speech


if TYPE_CHECKING:
    from keydub.core.audio.features import HubertFeatures, SpeechFeatures, WavLMFeatures

# The encoders (torch, transformers) load on first use, so the light paths (the sample rate, a dry run) stay light.
_LAZY = {"HubertFeatures", "SpeechFeatures", "WavLMFeatures"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from keydub.core.audio import features

        return getattr(features, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODEL_SAMPLE_RATE",
    "FrameTokens",
    "HubertFeatures",
    "SpeechFeatures",
    "WavLMFeatures",
    "load_speech",
    "plan_frame_tokens",
]

"""Audio conditioning for KeySync: 16 kHz speech in, two HuBERT/WavLM tokens per video frame out.

Public API:
    HubertFeatures, WavLMFeatures: `extractor(waveform_16k, num_frames, frame_rate) -> [num_frames, 2, 768]`.
    load_speech: any file's audio as 16 kHz mono float32.
    plan_frame_tokens, FrameTokens: the frame -> token framing (also in `keydub.core.audio.framing`).
"""

from keydub.core.audio.features import HubertFeatures, SpeechFeatures, WavLMFeatures
from keydub.core.audio.framing import SAMPLE_RATE, FrameTokens, plan_frame_tokens
from keydub.core.audio.loading import load_speech


__all__ = [
    "SAMPLE_RATE",
    "FrameTokens",
    "HubertFeatures",
    "SpeechFeatures",
    "WavLMFeatures",
    "load_speech",
    "plan_frame_tokens",
]

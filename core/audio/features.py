"""Per-frame HuBERT / WavLM features for the two KeySync stages (keysync-architecture.md §2).

The keyframe model was trained on HuBERT Base tokens, the interpolation model on WavLM Base+ tokens; both want
two 768-d tokens per video frame, `[num_frames, 2, 768]`. Each extractor wraps a transformers model and owns the
exact preprocessing of the official code:

- HuBERT: the waveform is standardised over the clip, `(x - mean) / sqrt(var + 1e-7)` with the unbiased variance,
  then zero-padded to whole 640-sample frames; frame `k` gets tokens `2k` and `2k + 1`.
- WavLM: the raw waveform is zero-padded to an even number of 640-sample frames; the official nearest-neighbour
  resize of its `2F - 1` tokens to `2F` gives frame `k` the tokens `2k - 1` and `2k` (frame 0 repeats token 0).

Frame rates other than 25 fps and the zero token past the end follow `keydub.core.audio.framing`.

Long audio is encoded in windows of `chunk_tokens` tokens, each with `overlap_tokens` tokens of context on either
side that are computed and thrown away. Windows start on the 320-sample token grid, so every kept token is the
one the whole-clip pass would produce at that index (no token is lost or repeated at a boundary, unlike the
official 20-s chunks). The Base models normalise their first convolution per channel over the whole input
(`feat_extract_norm="group"`); a window would see its own statistics, so they are measured over the whole clip
first and imposed on every window. What remains different from one pass over the whole clip is only the
transformer's view of audio further away than `overlap_tokens`, and memory stays bounded by the window size.
"""

import os
from fractions import Fraction
from typing import ClassVar

import numpy as np
import torch
from transformers import HubertModel, PreTrainedModel, WavLMModel

from keydub.core.audio.framing import (
    MODEL_SAMPLE_RATE,
    SAMPLES_PER_MODEL_FRAME,
    TOKEN_HOP,
    ZERO_TOKEN,
    FrameTokens,
    check_frame_rate,
    clip_samples,
    encoder_geometry,
    plan_frame_tokens,
)
from keydub.core.errors import AudioError, InvalidParameterError
from keydub.core.progress import ProgressCallback, Stage, Unit, report
from keydub.core.weights import resolve_weights


# Official HuBERT standardisation epsilon (scripts/util/get_audio_embeddings.py, `torch.sqrt(var + 1e-7)`).
STANDARDISE_EPS = 1e-7


class SpeechFeatures:
    """Turns a 16 kHz mono waveform into two encoder tokens per video frame.

    Subclasses name the transformers model class, the weights component and the official preprocessing;
    the framing and the chunked encoder run are shared.

    Args:
        model ([`~transformers.PreTrainedModel`]): a HuBERT/WavLM-style speech encoder whose convolutional feature
            encoder advances 320 samples per token (50 Hz at 16 kHz). Put on its device and dtype beforehand.
        chunk_tokens (`int`, defaults to `1000`): tokens kept from one encoder window (1000 tokens = 20 s).
        overlap_tokens (`int`, defaults to `250`): context tokens computed on each side of a window and discarded.
    """

    component: ClassVar[str]
    model_class: ClassVar[type[PreTrainedModel]]
    standardise: ClassVar[bool]
    first_token_offset: ClassVar[int]
    even_model_frames: ClassVar[bool]

    def __init__(self, model: PreTrainedModel, *, chunk_tokens: int = 1000, overlap_tokens: int = 250) -> None:
        if chunk_tokens < 1 or overlap_tokens < 0:
            raise InvalidParameterError(
                f"chunk_tokens must be >= 1 and overlap_tokens >= 0, got {chunk_tokens} and {overlap_tokens}"
            )
        receptive_field, hop = encoder_geometry(tuple(model.config.conv_kernel), tuple(model.config.conv_stride))
        if hop != TOKEN_HOP:
            raise InvalidParameterError(
                f"{type(model).__name__} advances {hop} samples per token but KeySync needs {TOKEN_HOP} "
                f"(50 Hz at {MODEL_SAMPLE_RATE} Hz); use a HuBERT/WavLM base-style encoder"
            )
        self.model = model.eval()
        self.receptive_field = receptive_field
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "cpu",
        torch_dtype: torch.dtype = torch.float32,
        chunk_tokens: int = 1000,
        overlap_tokens: int = 250,
    ) -> "SpeechFeatures":
        """Load the encoder through the weights resolver and wrap it.

        Args:
            path_or_id (`str` or `os.PathLike`, *optional*): a local model folder or a Hugging Face hub id; `None`
                uses the configured or default weights of this component (see `keydub.core.weights`).
            device (`str` or `torch.device`, defaults to `"cpu"`): where the encoder runs.
            torch_dtype (`torch.dtype`, defaults to `torch.float32`): encoder weights and output dtype.
            chunk_tokens (`int`, defaults to `1000`): see the class docstring.
            overlap_tokens (`int`, defaults to `250`): see the class docstring.
        """
        folder = resolve_weights(cls.component, path_or_id)
        # Cast after loading (the encoders are small): the dtype keyword of from_pretrained differs across
        # transformers versions.
        model = cls.model_class.from_pretrained(folder, weights_only=True).to(device=device, dtype=torch_dtype)
        return cls(model, chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.inference_mode()
    def __call__(
        self,
        waveform_16k: np.ndarray,
        num_frames: int,
        frame_rate: Fraction | int,
        progress: ProgressCallback | None = None,
    ) -> torch.Tensor:
        """Features of `num_frames` frames whose audio starts at the first sample of `waveform_16k`.

        Only the samples under the requested frames (rounded up to whole 640-sample blocks) are used, so the
        result does not depend on how much audio follows the clip. Audio up to one 25 fps frame (640 samples)
        shorter than the clip is zero-padded, as the official code pads to whole frames; anything shorter is an
        error.

        Args:
            waveform_16k (`np.ndarray`): mono float waveform at 16 kHz, shape `[samples]`.
            num_frames (`int`): number of source frames.
            frame_rate (`Fraction`): exact source frame rate, e.g. `Fraction(24000, 1001)`.
            progress (`ProgressCallback`, *optional*): receives `Progress("audio features", done, total)` per window.

        Returns:
            `torch.Tensor`: `[num_frames, 2, hidden_size]` on the encoder's device and dtype.
        """
        frame_rate = check_frame_rate(frame_rate)
        plan = plan_frame_tokens(
            num_frames,
            frame_rate,
            receptive_field=self.receptive_field,
            first_token_offset=self.first_token_offset,
            even_model_frames=self.even_model_frames,
        )
        samples = self.prepare_waveform(waveform_16k, plan)
        tokens = self.encode_tokens(samples, plan.num_tokens, progress)
        return self.gather_frame_tokens(tokens, plan)

    def prepare_waveform(self, waveform_16k: np.ndarray, plan: FrameTokens) -> torch.Tensor:
        """Check the waveform, apply the official normalisation and zero-pad it to `plan.num_samples`."""
        waveform = np.asarray(waveform_16k)
        if waveform.ndim != 1 or not np.issubdtype(waveform.dtype, np.floating):
            raise AudioError(
                f"audio features need a mono float waveform of shape [samples], got {waveform.dtype} "
                f"{waveform.shape}; load the audio with keydub.core.audio.load_speech"
            )
        needed = clip_samples(plan.num_frames, plan.frame_rate)
        if waveform.shape[0] + SAMPLES_PER_MODEL_FRAME <= needed:
            raise AudioError(
                f"the audio lasts {waveform.shape[0] / MODEL_SAMPLE_RATE:.2f} s but {plan.num_frames} frames at "
                f"{float(plan.frame_rate):.3f} fps last {needed / MODEL_SAMPLE_RATE:.2f} s; pass audio that covers "
                "the whole clip (pad the dub with silence or shorten the clip)"
            )
        used = waveform[: plan.num_samples]
        if not np.isfinite(used).all():
            raise AudioError("the audio contains NaN or infinite samples; re-export or re-decode it")
        # In place in one float32 buffer, as the official torch code computes it: no copy that grows with the
        # clip beyond the waveform the encoder needs anyway.
        padded = torch.zeros(plan.num_samples, dtype=torch.float32)
        clip = padded[: used.shape[0]]
        clip.copy_(torch.from_numpy(np.ascontiguousarray(used)))
        if self.standardise:
            variance, mean = torch.var_mean(clip, correction=1 if clip.numel() > 1 else 0)
            clip.sub_(mean).div_(torch.sqrt(variance + STANDARDISE_EPS))
        return padded.to(device=self.device, dtype=self.dtype)

    def encode_tokens(
        self, samples: torch.Tensor, num_tokens: int, progress: ProgressCallback | None = None
    ) -> torch.Tensor:
        """Run the encoder over `samples` in overlapping windows aligned to the token grid.

        Args:
            samples (`torch.Tensor`): the prepared waveform, `[num_samples]`.
            num_tokens (`int`): tokens the whole waveform yields.
            progress (`ProgressCallback`, *optional*): receives one step per window.

        Returns:
            `torch.Tensor`: `[num_tokens, hidden_size]`, token `j` seeing samples `[320 j, 320 j + 400)`.
        """
        starts = range(0, num_tokens, self.chunk_tokens)
        tokens = torch.empty(num_tokens, self.model.config.hidden_size, device=self.device, dtype=self.dtype)
        norm = self._whole_input_norm()
        hook = None
        if len(starts) > 1 and norm is not None:
            hook = norm.layer_norm.register_forward_hook(_with_statistics(*self._conv_statistics(norm.conv, samples)))
        try:
            for done, first in enumerate(starts):
                last = min(first + self.chunk_tokens, num_tokens)
                window_first = max(0, first - self.overlap_tokens)
                window_last = min(num_tokens, last + self.overlap_tokens)
                # The last window runs to the end: the samples after the last whole token still count in a
                # one-pass run (they enter the first conv layer's normalisation statistics).
                end = TOKEN_HOP * (window_last - 1) + self.receptive_field if window_last < num_tokens else None
                window = samples[TOKEN_HOP * window_first : end]
                hidden = self.model(window[None]).last_hidden_state[0]
                tokens[first:last] = hidden[first - window_first : last - window_first]
                report(progress, Stage.AUDIO_FEATURES, done + 1, len(starts), unit=Unit.ITEMS)
        finally:
            if hook is not None:
                hook.remove()
        return tokens

    def _whole_input_norm(self) -> torch.nn.Module | None:
        """The first conv layer when it normalises each channel over the whole input (wav2vec2-style "group")."""
        first = self.model.feature_extractor.conv_layers[0]
        norm = getattr(first, "layer_norm", None)
        if isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == norm.num_channels:
            return first
        return None

    def _conv_statistics(self, conv: torch.nn.Conv1d, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and (biased) variance of `conv` over the whole waveform, computed a window at a time."""
        kernel, stride = conv.kernel_size[0], conv.stride[0]
        outputs = (samples.shape[0] - kernel) // stride + 1
        step = self.chunk_tokens * TOKEN_HOP // stride  # conv outputs per window, about as many samples as a chunk
        total = torch.zeros(conv.out_channels, dtype=torch.float64, device=samples.device)
        squares = torch.zeros_like(total)
        for first in range(0, outputs, step):
            last = min(first + step, outputs)
            values = conv(samples[stride * first : stride * (last - 1) + kernel][None, None])[0].double()
            total += values.sum(dim=1)
            squares += values.square().sum(dim=1)
        mean = total / outputs
        return mean, squares / outputs - mean.square()

    @staticmethod
    def gather_frame_tokens(tokens: torch.Tensor, plan: FrameTokens) -> torch.Tensor:
        """Pick each frame's token pair from `tokens`, with zero vectors where the plan says `ZERO_TOKEN`."""
        with_zero = torch.cat([tokens, tokens.new_zeros(1, tokens.shape[1])])
        index = np.where(plan.token_index == ZERO_TOKEN, tokens.shape[0], plan.token_index)
        return with_zero[torch.from_numpy(index).to(tokens.device)]


def _with_statistics(mean: torch.Tensor, variance: torch.Tensor):
    """A forward hook that makes a per-channel GroupNorm use these statistics instead of its input's."""

    def normalise(module: torch.nn.GroupNorm, inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(variance + module.eps).to(output.dtype)[:, None]
        shifted = inputs[0] - mean.to(output.dtype)[:, None]
        return shifted * scale * module.weight[:, None] + module.bias[:, None]

    return normalise


class HubertFeatures(SpeechFeatures):
    """HuBERT Base tokens for the keyframe model: standardised waveform, frame `k` = tokens `2k`, `2k + 1`."""

    component = "hubert"
    model_class = HubertModel
    standardise = True
    first_token_offset = 0
    even_model_frames = False


class WavLMFeatures(SpeechFeatures):
    """WavLM Base+ tokens for the interpolation model: raw waveform, frame `k` = tokens `2k - 1`, `2k`."""

    component = "wavlm"
    model_class = WavLMModel
    standardise = False
    first_token_offset = -1
    even_model_frames = True

"""Which 50 Hz encoder tokens belong to which video frame: pure index arithmetic, no model.

KeySync was trained at 25 fps with two HuBERT/WavLM tokens per frame (keysync-architecture.md §2.2): the
waveform is padded to whole 640-sample frames and token `2k` (samples `[640k, 640k + 400)`) and token `2k + 1`
belong to frame `k`. The encoders always run at their native 50 Hz; for any other frame rate each source frame
takes the token pair that starts nearest to the frame's own start time, computed with integer arithmetic on the
exact rate, so frames never drift against the audio however long the clip is:

    first token of frame i = floor(i * 16000 / (rate * 320) + 1/2)

At 25 fps this is exactly `2i`, the official framing. A token whose receptive field runs past the end of the
audio the encoder was given is a zero vector, as the official code appends a zero token when HuBERT yields
`2F - 1` tokens for `F` frames.
"""

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from keydub.core.errors import InvalidParameterError


MODEL_SAMPLE_RATE = 16_000
"""Sample rate (Hz) of the waveform every audio encoder sees: HuBERT, WavLM and SyncNet's MFCC front-end."""

MODEL_FRAME_RATE = Fraction(25)
"""Frame rate KeySync was trained at (its audio framing is defined at this rate)."""

SAMPLES_PER_MODEL_FRAME = 640
"""Samples of 16 kHz audio in one 25 fps frame; official audio is padded to a multiple of this."""

TOKEN_HOP = 320
"""Samples between consecutive encoder tokens (50 Hz): the product of the conv feature encoder's strides."""

TOKENS_PER_FRAME = 2
"""Encoder tokens per video frame at 25 fps (and per source frame at any rate)."""

ZERO_TOKEN = -1
"""Index used in a `FrameTokens` table for a token past the end of the audio (a zero vector)."""


@dataclass(frozen=True)
class FrameTokens:
    """Where the audio encoder runs and which of its tokens each source frame gets.

    Args:
        num_frames (`int`): source frames.
        frame_rate (`Fraction`): source frame rate.
        num_samples (`int`): length of the waveform given to the encoder (whole 640-sample blocks).
        num_tokens (`int`): tokens the encoder produces for `num_samples`.
        token_index (`np.ndarray`): `[num_frames, 2]` int64 index into those tokens, `ZERO_TOKEN` for a zero vector.
    """

    num_frames: int
    frame_rate: Fraction
    num_samples: int
    num_tokens: int
    token_index: np.ndarray


def check_frame_rate(frame_rate: Fraction | int) -> Fraction:
    """Return `frame_rate` as a positive `Fraction`, refusing floats (23.976 is `Fraction(24000, 1001)`)."""
    if isinstance(frame_rate, bool) or not isinstance(frame_rate, (Fraction, int)):
        raise InvalidParameterError(
            f"frame rate must be an exact Fraction or int, got {frame_rate!r} ({type(frame_rate).__name__}); "
            "pass e.g. Fraction(24000, 1001) for 23.976 fps"
        )
    if frame_rate <= 0:
        raise InvalidParameterError(f"frame rate must be positive, got {frame_rate}")
    return Fraction(frame_rate)


def clip_samples(num_frames: int, frame_rate: Fraction) -> int:
    """Samples at 16 kHz spanned by `num_frames` frames at `frame_rate`, rounded up to a whole sample."""
    return math.ceil(Fraction(num_frames * MODEL_SAMPLE_RATE) / frame_rate)


def encoder_geometry(conv_kernel: tuple[int, ...], conv_stride: tuple[int, ...]) -> tuple[int, int]:
    """Receptive field and hop, in samples, of a wav2vec2-style convolutional feature encoder.

    Args:
        conv_kernel (`tuple[int, ...]`): kernel size of each conv layer (HuBERT/WavLM base: `(10, 3, 3, 3, 3, 2, 2)`).
        conv_stride (`tuple[int, ...]`): stride of each conv layer (HuBERT/WavLM base: `(5, 2, 2, 2, 2, 2, 2)`).

    Returns:
        `tuple[int, int]`: `(receptive_field, hop)`, `(400, 320)` for the base models.
    """
    receptive_field, hop = 1, 1
    for kernel, stride in zip(conv_kernel, conv_stride, strict=True):
        receptive_field += (kernel - 1) * hop
        hop *= stride
    return receptive_field, hop


def plan_frame_tokens(
    num_frames: int,
    frame_rate: Fraction,
    *,
    receptive_field: int,
    first_token_offset: int = 0,
    even_model_frames: bool = False,
) -> FrameTokens:
    """Plan the encoder input length and the token pair of every source frame.

    Args:
        num_frames (`int`): source frames to produce features for (at least 1).
        frame_rate (`Fraction`): exact source frame rate.
        receptive_field (`int`): samples seen by one encoder token (400 for HuBERT/WavLM base).
        first_token_offset (`int`, defaults to `0`): shift of the pair relative to the frame's nearest token.
            `-1` reproduces the official WavLM framing, whose nearest-neighbour resize of `2F - 1` tokens to `2F`
            gives frame `k` the tokens `2k - 1` and `2k` (frame 0 repeats token 0).
        even_model_frames (`bool`, defaults to `False`): pad the audio to an even number of 640-sample blocks,
            as the official WavLM path does before encoding.

    Returns:
        [`FrameTokens`]: the encoder input length, its token count and the `[num_frames, 2]` index table.
    """
    if num_frames < 1:
        raise InvalidParameterError(f"need at least one frame to compute audio features for, got {num_frames}")
    frame_rate = check_frame_rate(frame_rate)
    model_frames = math.ceil(num_frames * MODEL_FRAME_RATE / frame_rate)
    if even_model_frames:
        model_frames += model_frames % 2
    num_samples = model_frames * SAMPLES_PER_MODEL_FRAME
    num_tokens = (num_samples - receptive_field) // TOKEN_HOP + 1 if num_samples >= receptive_field else 0

    # floor(i * SR / (rate * hop) + 1/2) in integers: rate = p / q, so the ratio is i * SR * q / (hop * p).
    p, q = frame_rate.numerator, frame_rate.denominator
    frames = np.arange(num_frames, dtype=np.int64)
    first = (2 * frames * MODEL_SAMPLE_RATE * q + TOKEN_HOP * p) // (2 * TOKEN_HOP * p) + first_token_offset
    pairs = np.maximum(first[:, None] + np.arange(TOKENS_PER_FRAME, dtype=np.int64)[None, :], 0)
    pairs[pairs >= num_tokens] = ZERO_TOKEN
    return FrameTokens(num_frames, frame_rate, num_samples, num_tokens, pairs)

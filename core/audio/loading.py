"""Speech for the encoders: any file's audio as 16 kHz mono float32, through the media layer."""

import os
from fractions import Fraction

import numpy as np

from keydub.core.audio.framing import MODEL_SAMPLE_RATE
from keydub.core.media.audio import load_audio


def load_speech(
    path: str | os.PathLike[str],
    *,
    start: Fraction = Fraction(0),
    duration: Fraction | None = None,
    pad: bool = False,
) -> np.ndarray:
    """Load a window of a file's audio resampled to 16 kHz and mixed down to mono, ready for `HubertFeatures` /
    `WavLMFeatures`.

    Args:
        path (`str | os.PathLike`): any file with an audio stream (WAV, AIFF, MP3, MOV, MP4, ...).
        start (`Fraction`, defaults to 0): seconds on the file's clock of the first sample.
        duration (`Fraction`, *optional*): seconds to load, e.g. `Fraction(num_frames) / frame_rate` for a clip;
            `None` loads to the end.
        pad (`bool`, defaults to `False`): pad with silence up to `duration` when the audio ends earlier.

    Returns:
        `np.ndarray`: float32 `[samples]` at 16 kHz, the mean of the channels.
    """
    return load_audio(path, MODEL_SAMPLE_RATE, start, duration, pad=pad)
